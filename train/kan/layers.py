"""A spline KAN layer and the multichannel ReLU MLP layer that computes the same function.

Spline KAN layer (coefficients ``coef`` ``(out, in, N)``)::

    y_q = sum_p sum_i coef[q, p, i] B_i(x_p)

Multichannel ReLU layer (weights ``weight`` ``(out, in, N)``)::

    y_q = sum_p sum_j weight[q, p, j] phi_j(x_p),   phi_j(x) = ReLU(x - e_j)^(r-1)

(the first ``r`` channels unrectified, see `basis.relu_channels`): every input
is expanded into ``N`` channels whose biases are the knots, then contracted
densely.  ``weight = coef A`` along the channel axis (`basis.change_of_basis`),
so `to_relu` and `to_spline` are exact up to round-off, on all of R.

Neither layer has a bias: the B-splines sum to one on the domain (and the
first ``r`` ReLU channels span the polynomials), so a constant is already in
the span of each input's channels.
"""
from __future__ import annotations

import weakref

import torch
from torch import Tensor, nn

from snnc.errors import ConfigError

from .basis import (active_basis, active_index, change_of_basis, dense_basis, gather_contract,
                    interval_index, relu_channels, relu_prefix_contract)
from .knots import Knots, check_order, extend_knots, uniform_knots


def _resolve_knots(in_features, intervals, domain, knots, dtype) -> Tensor:
    if knots is not None:
        return knots
    if isinstance(in_features, bool) or not isinstance(in_features, int) or in_features < 1:
        raise ConfigError(f"in_features: must be an integer >= 1, got {in_features!r}")
    return uniform_knots(in_features, intervals, domain, dtype)


def _parameter(value: Tensor) -> nn.Parameter:
    # A contiguous copy: L-BFGS flattens gradients with `view`, which fails on the
    # strided results of an einsum (refinement, conversion).
    return nn.Parameter(value.detach().clone(memory_format=torch.contiguous_format))


def _dense_contract(phi: Tensor, weight: Tensor) -> Tensor:
    """``y[b, q] = sum_{p,j} phi[b, p, j] weight[q, p, j]`` as one GEMM (the einsum
    measured 1.6x slower on the benchmark's ReLU layer)."""
    return phi.flatten(1) @ weight.flatten(1).T


class _KnotLayer(nn.Module):
    """Shared part: knots per input, order, shape checks."""

    def __init__(self, knots: Tensor, out_features: int, order: int, free_knots: bool):
        super().__init__()
        self.order = check_order(order)
        if isinstance(out_features, bool) or not isinstance(out_features, int) or out_features < 1:
            raise ConfigError(f"out_features: must be an integer >= 1, got {out_features!r}")
        self.knots = Knots(knots, free=free_knots)
        self.out_features = out_features

    @property
    def in_features(self) -> int:
        return self.knots.inputs

    @property
    def intervals(self) -> int:
        return self.knots.intervals

    @property
    def n_basis(self) -> int:
        """``N = n + r - 1`` functions per input."""
        return self.intervals + self.order - 1

    def extended_knots(self) -> Tensor:
        return extend_knots(self.knots(), self.order)

    def _check_input(self, x: Tensor) -> None:
        if x.dim() != 2 or x.shape[1] != self.in_features:
            raise ConfigError(f"input: expected shape (batch, {self.in_features}), got {tuple(x.shape)}")

    def _check_coef(self, name: str, value: Tensor) -> Tensor:
        want = (self.out_features, self.in_features, self.n_basis)
        if tuple(value.shape) != want:
            raise ConfigError(f"{name}: expected shape {want} (out, in, intervals + order - 1), "
                              f"got {tuple(value.shape)}")
        return value

    def extra_repr(self) -> str:
        return (f"in={self.in_features}, out={self.out_features}, intervals={self.intervals}, "
                f"order={self.order}, free_knots={self.knots.free}")


class SplineKANLayer(_KnotLayer):
    """Order-``r`` spline on every edge, evaluated sparsely (``r`` active B-splines per input).

    ``knots`` ``(in, n+1)`` strictly increasing per input, or built uniform from
    ``in_features``, ``intervals`` and ``domain``.  ``dense=True`` evaluates all
    ``N`` B-splines (the slow reference).
    """

    def __init__(self, in_features: int | None = None, out_features: int = 1, intervals: int = 8,
                 order: int = 2, domain=(0.0, 1.0), knots: Tensor | None = None,
                 coef: Tensor | None = None, free_knots: bool = False, dtype=torch.float64):
        super().__init__(_resolve_knots(in_features, intervals, domain, knots, dtype),
                         out_features, order, free_knots)
        if coef is None:
            coef = self.knots.fixed.new_zeros(out_features, self.in_features, self.n_basis)
        self.coef = _parameter(self._check_coef("coef", coef))
        self._cache = (None, None, None)   # (weakref to x, versions, (k, vals)): see `active`

    def forward(self, x: Tensor, dense: bool = False) -> Tensor:
        self._check_input(x)
        if dense:
            t = self.knots()
            ext = extend_knots(t, self.order)
            k = interval_index(t, x, self.knots.uniform)
            return _dense_contract(dense_basis(ext, k, x, self.order), self.coef)
        return gather_contract(self.coef.flatten(1), *self.active(x))

    def active(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Flat index into ``coef.flatten(1)`` and value of every active B-spline: ``(B, in r)`` each.

        Cached while ``x`` is the same unchanged tensor, needs no gradient and
        the knots are fixed: the first layer's basis then depends on the data
        only, and L-BFGS evaluates it ~20 times per epoch (the cache cut a
        benchmark step by a third, measured).
        """
        key = None
        if not x.requires_grad and not self.knots.free:
            key = (x._version, self.knots.fixed._version, self.knots.fixed.data_ptr())
            ref, cached_key, cached = self._cache
            if ref is not None and ref() is x and cached_key == key:
                return cached
        t = self.knots()
        k = interval_index(t, x, self.knots.uniform)
        vals = active_basis(extend_knots(t, self.order), k, x, self.order)
        found = active_index(k, self.n_basis, self.order), vals.flatten(1)
        if key is not None:
            self._cache = (weakref.ref(x), key, found)
        return found

    def greville(self) -> Tensor:
        """Greville abscissae ``(in, N)``: coefficients equal to them give the spline ``x``."""
        ext = self.extended_knots()
        win = ext.unfold(1, self.order - 1, 1)[:, 1:1 + self.n_basis]
        return win.mean(dim=-1)

    @torch.no_grad()
    def to_relu(self) -> "ReluKANLayer":
        """The multichannel ReLU layer with ``weight = coef A`` (same knots, same function)."""
        a = change_of_basis(self.extended_knots(), self.order)
        weight = torch.einsum("qpi,pij->qpj", self.coef, a)
        return ReluKANLayer(knots=self.knots().detach(), out_features=self.out_features,
                            order=self.order, weight=weight, free_knots=self.knots.free)


class ReluKANLayer(_KnotLayer):
    """Multichannel MLP layer: ``N`` ReLU power channels per input, knots as channel biases."""

    def __init__(self, in_features: int | None = None, out_features: int = 1, intervals: int = 8,
                 order: int = 2, domain=(0.0, 1.0), knots: Tensor | None = None,
                 weight: Tensor | None = None, free_knots: bool = False, dtype=torch.float64):
        super().__init__(_resolve_knots(in_features, intervals, domain, knots, dtype),
                         out_features, order, free_knots)
        if weight is None:
            weight = self.knots.fixed.new_zeros(out_features, self.in_features, self.n_basis)
        self.weight = _parameter(self._check_coef("weight", weight))

    def forward(self, x: Tensor, dense: bool = False) -> Tensor:
        """Order 2: prefix sums (`basis.relu_prefix_contract`); otherwise, or with
        ``dense=True``, all ``N`` channels (one GEMM)."""
        self._check_input(x)
        t = self.knots()
        ext = extend_knots(t, self.order)
        if dense or self.order != 2:
            return _dense_contract(relu_channels(ext, x, self.order), self.weight)
        return relu_prefix_contract(self.weight, ext, interval_index(t, x, self.knots.uniform), x)

    @torch.no_grad()
    def to_spline(self) -> SplineKANLayer:
        """The spline KAN layer with ``coef = weight A^-1`` (a triangular solve per input)."""
        a = change_of_basis(self.extended_knots(), self.order)
        # coef_p A_p = W_p  <=>  A_p^T coef_p^T = W_p^T (lower triangular).
        rhs = self.weight.permute(1, 2, 0)                            # (in, N, out)
        coef = torch.linalg.solve_triangular(a.transpose(-1, -2), rhs, upper=False)
        return SplineKANLayer(knots=self.knots().detach(), out_features=self.out_features,
                              order=self.order, coef=coef.permute(2, 0, 1),
                              free_knots=self.knots.free)
