"""Knot vectors of spline KAN layers: checks, uniform grids, end extension, free knots.

Every input ``p`` of a layer has its own knots ``t_0 < t_1 < ... < t_n`` (``n``
intervals) on its domain ``[t_0, t_n]``.  The B-splines of order ``r`` that live
on the domain need ``r - 1`` more knots on each side: we extend with the end
spacing (``t_0 - k h_0`` and ``t_n + k h_{n-1}``, ``k = 1..r-1``), which keeps
every extended knot distinct, so the truncated-power (ReLU) basis of the same
space exists (a clamped, repeated end knot would need lower powers there).

Free knots (trainable) are parameterised by cumulative softplus increments::

    d_k = softplus(theta_k) > 0,   t_k = t_0 + (t_n - t_0) * sum_{m<k} d_m / sum_m d_m

so the end knots stay on the domain's ends and the interior knots stay strictly
ordered inside it for any ``theta``; only round-off can make two knots meet
(``d_k`` underflows), and that is checked (`check_knots`).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
import torch.nn.functional as F

from snnc.errors import ConfigError

# Gaps equal to this relative spread count as a uniform grid: far above the round-off
# of linspace and of repeated midpoints (~1e-16), far below any deliberate spacing.
UNIFORM_RTOL = 1e-9


def check_order(order) -> int:
    """Orders 2 (linear, deployable), 3 and 4 (experiments); 1 has no ReLU form (Heaviside)."""
    if isinstance(order, bool) or not isinstance(order, int) or order < 2:
        raise ConfigError(f"order: must be an integer >= 2 (2 = linear spline), got {order!r}")
    return order


def check_knots(t: Tensor, name: str = "knots") -> Tensor:
    """One line naming the first input whose knots are not strictly increasing (or not finite)."""
    if t.dim() != 2 or t.shape[1] < 2:
        raise ConfigError(f"{name}: expected shape (inputs, intervals + 1) with >= 2 knots, "
                          f"got {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise ConfigError(f"{name}: knots must be finite")
    gaps = (t[:, 1:] - t[:, :-1]).detach()
    bad = (gaps <= 0).nonzero()
    if len(bad):
        p, k = bad[0].tolist()
        raise ConfigError(f"{name}: knots of input {p} cross or coincide "
                          f"(t[{k}] = {t[p, k].item():.6g} >= t[{k + 1}] = {t[p, k + 1].item():.6g})")
    return t


def uniform_knots(inputs: int, intervals: int, domain=(0.0, 1.0), dtype=torch.float64) -> Tensor:
    """``(inputs, intervals + 1)`` equally spaced knots on ``domain``."""
    if isinstance(intervals, bool) or not isinstance(intervals, int) or intervals < 1:
        raise ConfigError(f"intervals: must be an integer >= 1, got {intervals!r}")
    lo, hi = (float(v) for v in domain)
    if not lo < hi:
        raise ConfigError(f"domain: needs low < high, got ({lo}, {hi})")
    return torch.linspace(lo, hi, intervals + 1, dtype=dtype).repeat(inputs, 1)


def extend_knots(t: Tensor, order: int) -> Tensor:
    """``(in, n+1)`` -> ``(in, n + 2r - 1)``: ``r - 1`` knots on each side at the end spacing."""
    k = torch.arange(1, order, dtype=t.dtype, device=t.device)
    h_left, h_right = t[:, 1:2] - t[:, :1], t[:, -1:] - t[:, -2:-1]
    left = t[:, :1] - h_left * k.flip(0)
    right = t[:, -1:] + h_right * k
    return torch.cat([left, t, right], dim=1)


def midpoints(t: Tensor) -> Tensor:
    """Dyadic refinement: the knots plus every interval's midpoint (``n -> 2n`` intervals)."""
    mid = 0.5 * (t[:, 1:] + t[:, :-1])
    interleaved = torch.stack([t[:, :-1], mid], dim=2).flatten(1)
    return torch.cat([interleaved, t[:, -1:]], dim=1)


def _softplus_inverse(d: Tensor) -> Tensor:
    return d + torch.log(-torch.expm1(-d))  # log(exp(d) - 1) without overflow


class Knots(nn.Module):
    """Per-input knots ``(in, n+1)``: a fixed buffer, or free (trainable) with ``free=True``.

    ``free`` can be switched at any time; switching keeps the current knots.
    """

    def __init__(self, t: Tensor, free: bool = False):
        super().__init__()
        check_knots(t)
        self.register_buffer("fixed", t.detach().clone(memory_format=torch.contiguous_format))
        self.theta = nn.Parameter(self._theta_of(self.fixed), requires_grad=False)
        self.free = free

    @staticmethod
    def _theta_of(t: Tensor) -> Tensor:
        # Increments scaled by n so that a uniform grid has theta = softplus^-1(1) everywhere.
        gaps = t[:, 1:] - t[:, :-1]
        return _softplus_inverse(gaps / gaps.mean(dim=1, keepdim=True))

    @property
    def free(self) -> bool:
        return self.theta.requires_grad

    @free.setter
    def free(self, value: bool) -> None:
        if value and not self.free:
            self.theta.data.copy_(self._theta_of(self.fixed))
        if not value and self.free:
            self.fixed.copy_(check_knots(self._from_theta().detach()))
        self.theta.requires_grad_(bool(value))

    def _from_theta(self) -> Tensor:
        d = F.softplus(self.theta)
        frac = torch.cumsum(d, dim=1) / d.sum(dim=1, keepdim=True)
        lo, hi = self.fixed[:, :1], self.fixed[:, -1:]
        # The last fraction is 1 up to round-off: pin the end knot to the domain's end exactly.
        inner = lo + (hi - lo) * frac[:, :-1]
        return torch.cat([lo, inner, hi], dim=1)

    def forward(self) -> Tensor:
        if not self.free:
            return self.fixed
        return check_knots(self._from_theta(), "free knots")

    @property
    def uniform(self) -> bool:
        """Fixed and equally spaced per input (to round-off): the interval lookup is arithmetic."""
        if self.free:
            return False
        gaps = self.fixed[:, 1:] - self.fixed[:, :-1]
        spread = (gaps - gaps.mean(dim=1, keepdim=True)).abs().max()
        return bool(spread <= UNIFORM_RTOL * gaps.mean(dim=1).min())

    @property
    def inputs(self) -> int:
        return self.fixed.shape[0]

    @property
    def intervals(self) -> int:
        return self.fixed.shape[1] - 1
