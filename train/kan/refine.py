"""Exact geometric refinement: dyadic knot insertion and the prolongation of coefficients.

Halving every interval nests the coarse spline space in the fine one, so the
refined layer computes the same function (round-off aside), on the domain and,
with the polynomial end extension, everywhere.

Spline basis: Boehm's knot insertion (Boehm 1980, *Computer-Aided Design*
12(4)), one knot at a time, in its basis form::

    B_i = w_i B'_i + (1 - w_{i+1}) B'_{i+1},   w_j = clip((u - e_j) / (e_{j+r-1} - e_j), 0, 1)

i.e. ``c'_j = w_j c_j + (1 - w_j) c_{j-1}`` (``c_{-1} = c_N = 0``): convex
combinations, so it is stable for every order.  The coarse extended knots are
not all fine ones (the end spacing halves too): we insert the missing fine end
knots as well, then drop the B-splines that lie wholly outside the domain.

ReLU basis: refinement is injection (a channel at a coarse knot is a channel at
the same fine knot; the new knots get zero weight), plus an ``r x r`` change
of basis of the first ``r`` (polynomial) channels, whose knots are the moving
end knots.
"""
from __future__ import annotations

from math import comb

import torch
from torch import Tensor

from .knots import extend_knots, midpoints


def _insert(ext: Tensor, mat: Tensor, u: Tensor, order: int):
    """Insert knot ``u[p]`` into every input's knots; ``mat`` ``(in, N, C)`` maps old coefficients."""
    n_basis = mat.shape[1]
    e_j, e_jr = ext[:, :n_basis + 1], ext[:, order - 1:order + n_basis]
    w = ((u.unsqueeze(1) - e_j) / (e_jr - e_j)).clamp(0, 1).unsqueeze(-1)   # (in, N+1, 1)
    zero = mat.new_zeros(mat.shape[0], 1, mat.shape[2])
    mat = w * torch.cat([mat, zero], 1) + (1 - w) * torch.cat([zero, mat], 1)
    ext = torch.sort(torch.cat([ext, u.unsqueeze(1)], 1), dim=1).values
    return ext, mat


def prolongation(knots: Tensor, order: int) -> Tensor:
    """``P`` per input, ``(in, N', N)``: fine coefficients ``c' = P c`` after halving every interval."""
    t = knots.detach()
    n_basis = t.shape[1] + order - 2
    ext = extend_knots(t, order)
    mat = torch.eye(n_basis, dtype=t.dtype, device=t.device).repeat(t.shape[0], 1, 1)
    h_left, h_right = t[:, 1] - t[:, 0], t[:, -1] - t[:, -2]
    odd = range(1, order, 2)                         # fine end knots at odd multiples of h/2 are new
    new = ([t[:, 0] - k * h_left / 2 for k in odd] + list(midpoints(t)[:, 1::2].T)
           + [t[:, -1] + k * h_right / 2 for k in odd])
    for u in new:
        ext, mat = _insert(ext, mat, u, order)
    offset = (order - 1) - (order - 1) // 2          # coarse end knots beyond the fine end knots
    fine_basis = 2 * (t.shape[1] - 1) + order - 1
    return mat[:, offset:offset + fine_basis]


def refine_coef(coef: Tensor, knots: Tensor, order: int) -> tuple[Tensor, Tensor]:
    """``(fine knots, fine coef)`` for spline coefficients ``(out, in, N)``."""
    p = prolongation(knots, order)
    return midpoints(knots.detach()), torch.einsum("pki,qpi->qpk", p, coef.detach())


def _power_matrix(anchors: Tensor, origin: Tensor, order: int) -> Tensor:
    """``M[p, j, l]``: ``(x - a_j)^(r-1) = sum_l M[p,j,l] (x - t_0)^l`` (binomial expansion)."""
    d = (origin.unsqueeze(1) - anchors).unsqueeze(-1)                        # (in, r, 1)
    powers = torch.arange(order, dtype=anchors.dtype, device=anchors.device)
    binom = torch.tensor([comb(order - 1, l) for l in range(order)], dtype=anchors.dtype)
    return binom * d.pow(order - 1 - powers)


def injection(knots: Tensor, order: int) -> Tensor:
    """``Q`` per input, ``(in, N, N')``: fine ReLU weights ``W' = W Q`` after halving every interval."""
    t = knots.detach()
    t_fine = midpoints(t)
    n_basis, fine_basis = t.shape[1] + order - 2, t_fine.shape[1] + order - 2
    q = t.new_zeros(t.shape[0], n_basis, fine_basis)
    coarse = torch.arange(order, n_basis)            # interior channel j sits on t_{j-r+1} = t'_{2(j-r+1)}
    q[:, coarse, 2 * coarse - order + 1] = 1.0
    m_coarse = _power_matrix(extend_knots(t, order)[:, :order], t[:, 0], order)
    m_fine = _power_matrix(extend_knots(t_fine, order)[:, :order], t[:, 0], order)
    q[:, :order, :order] = torch.linalg.solve(m_fine.transpose(-1, -2), m_coarse.transpose(-1, -2)
                                              ).transpose(-1, -2)
    return q


def refine_weight(weight: Tensor, knots: Tensor, order: int) -> tuple[Tensor, Tensor]:
    """``(fine knots, fine weight)`` for ReLU-basis weights ``(out, in, N)``."""
    q = injection(knots, order)
    return midpoints(knots.detach()), torch.einsum("qpj,pjk->qpk", weight.detach(), q)
