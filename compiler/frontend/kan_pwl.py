"""Spline KAN layers of order r > 2 -> linear-spline layers: a piecewise-linear approximation.

A linear spline (r = 2) is exactly a ReLU network (SEEDS.md part 2) and lowers
exactly to Gemm + Relu; a quadratic or cubic one is not piecewise linear and
has no exact Gemm + Relu form.  We replace every edge function ``f_qp`` by its
linear interpolant on ``S`` equal segments per input (the stated segment count)
over the input's range: the layer's knot domain, widened to the values the
layer's input takes on the calibration data (hidden values can leave a hidden
grid).  Interpolation error on a segment of width ``h`` is at most
``h^2 / 8 max |f''|`` (de Boor, *A Practical Guide to Splines*, ch. III); we
report the error measured on ``MEASURE_PER_SEGMENT`` points per segment, per
layer, and the composed model's error on the test split.
"""
from __future__ import annotations

import torch
from torch import Tensor

from snnc.errors import CompileError
from snnc.train.kan.basis import dense_basis, interval_index
from snnc.train.kan.knots import extend_knots
from snnc.train.kan.layers import SplineKANLayer
from snnc.train.kan.model import KAN

MEASURE_PER_SEGMENT = 32      # evaluation points per segment for the measured max error (estimate)
MAX_SEGMENTS = 1 << 16
MEASURE_CHUNK = 1 << 14       # points evaluated at once by max_edge_error (bounds its memory)


def edge_values(layer: SplineKANLayer, u: Tensor) -> Tensor:
    """Every edge function at the points ``u`` ``(in, M)``: ``(out, in, M)``, float64."""
    t = layer.knots().detach()
    x = u.T.contiguous()
    k = interval_index(t, x)
    basis = dense_basis(extend_knots(t, layer.order), k, x, layer.order)   # (M, in, N)
    return torch.einsum("mpi,qpi->qpm", basis, layer.coef.detach())


def _grid(lo: Tensor, hi: Tensor, points: int) -> Tensor:
    frac = torch.linspace(0.0, 1.0, points, dtype=torch.float64)
    return lo.unsqueeze(1) + (hi - lo).unsqueeze(1) * frac


def interpolant(layer: SplineKANLayer, segments: int, lo: Tensor, hi: Tensor) -> SplineKANLayer:
    """The order-2 layer that interpolates every edge at ``segments + 1`` equally spaced knots
    on ``[lo_p, hi_p]`` (a linear B-spline's coefficient is its value at its knot)."""
    knots = _grid(lo, hi, segments + 1)
    return SplineKANLayer(knots=knots, out_features=layer.out_features, order=2,
                          coef=edge_values(layer, knots))


def max_edge_error(layer: SplineKANLayer, approx: SplineKANLayer, lo: Tensor, hi: Tensor,
                   segments: int) -> float:
    """max |f_qp - interpolant| on ``segments * MEASURE_PER_SEGMENT + 1`` points per input,
    in chunks of ``MEASURE_CHUNK`` points: memory stays bounded whatever the segment count."""
    points = segments * MEASURE_PER_SEGMENT + 1
    frac = torch.linspace(0.0, 1.0, points, dtype=torch.float64)
    worst = 0.0
    for start in range(0, points, MEASURE_CHUNK):
        f = frac[start:start + MEASURE_CHUNK]
        u = lo.unsqueeze(1) + (hi - lo).unsqueeze(1) * f
        exact = edge_values(layer, u)
        worst = max(worst, float((exact - _interpolate(approx.coef.detach(), f * segments)).abs().max()))
    return worst


def _interpolate(values: Tensor, s: Tensor) -> Tensor:
    """Linear interpolation of knot values ``(out, in, S+1)`` at segment coordinates
    ``s`` in [0, S] (equal segments): ``(out, in, M)``, without a dense basis."""
    k = s.floor().long().clamp(0, values.shape[-1] - 2)
    w = s - k
    return values[..., k] * (1 - w) + values[..., k + 1] * w


def check_segments(segments) -> int:
    if isinstance(segments, bool) or not isinstance(segments, int) or not 1 <= segments <= MAX_SEGMENTS:
        raise CompileError(f"--pwl-segments: must be an integer in [1, {MAX_SEGMENTS}], got {segments!r}")
    return segments


@torch.no_grad()
def approximate(model: KAN, segments: int, x_calib: Tensor) -> tuple[KAN, list[dict]]:
    """The order-2 model (``segments`` per input) and one row per layer: range, segments,
    measured max edge error.  Order-2 layers are kept as they are (exact)."""
    segments = check_segments(segments)
    layers, rows, x = [], [], x_calib
    for i, layer in enumerate(model.layers):
        if layer.order == 2:
            layers.append(layer)
            rows.append({"layer": i, "order": 2, "exact": True})
        else:
            t = layer.knots().detach()
            lo = torch.minimum(t[:, 0], x.min(dim=0).values)
            hi = torch.maximum(t[:, -1], x.max(dim=0).values)
            approx = interpolant(layer, segments, lo, hi)
            layers.append(approx)
            rows.append({"layer": i, "order": layer.order, "exact": False, "segments": segments,
                         "range": [[float(a), float(b)] for a, b in zip(lo, hi)],
                         "max_edge_error": max_edge_error(layer, approx, lo, hi, segments)})
        x = layer(x)
    return KAN(layers), rows
