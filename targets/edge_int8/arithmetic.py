"""edge-int8's integer arithmetic and layer semantics (see the package docstring): the one
definition the dense executor, the quantiser, the ONNX export checks and the tests use."""
from __future__ import annotations

import math

import numpy as np

from snnc.compiler.ir import Graph
from snnc.compiler.ir.dense import PWL, DenseLayer, Gemm, Relu, Step
from snnc.targets.edge_int8.spec import INT8, INT16_SYMMETRIC, INT32_MAX, INT32_MIN, RANGES


# --- the integer arithmetic (one definition: simulator and tests use it) ----------

def wrap32(x: np.ndarray) -> np.ndarray:
    """Two's-complement wrap of int64 values to int32."""
    return ((np.asarray(x, np.int64) + 2**31) & (2**32 - 1)) - 2**31


def sat32(x: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(x, np.int64), INT32_MIN, INT32_MAX)


def saturating_rounding_doubling_high_mul(a, b) -> np.ndarray:
    """gemmlowp SaturatingRoundingDoublingHighMul on int32 values (held int64)."""
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    ab = a * b
    q = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    high = np.where(q >= 0, q >> 31, -((-q) >> 31))   # C++ '/' truncates toward zero
    return np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, high)


def rounding_divide_by_pot(x, exponent) -> np.ndarray:
    """gemmlowp RoundingDivideByPOT: x / 2^exponent rounded half away from zero, exponent in [0, 31]."""
    x, exponent = np.asarray(x, np.int64), np.asarray(exponent, np.int64)
    mask = (np.int64(1) << exponent) - 1
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + ((x & mask) > threshold)


def requantise(acc, multiplier, shift) -> np.ndarray:
    """TFLite MultiplyByQuantizedMultiplier (module docstring: the rounding, exactly)."""
    shift = np.asarray(shift, np.int64)
    left, right = np.maximum(shift, 0), np.maximum(-shift, 0)
    a = sat32(np.asarray(acc, np.int64) << left)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(a, multiplier), right)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """(multiplier, shift) of a real scale >= 0, as TFLite's QuantizeMultiplier."""
    if real < 0 or not math.isfinite(real):
        raise ValueError(f"requantisation scale must be finite and >= 0, got {real}")
    if real == 0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = int(math.floor(abs(q) * 2**31 + 0.5))   # TfLiteRound: half away from zero
    if q_fixed == 2**31:
        q_fixed, shift = q_fixed // 2, shift + 1
    if shift < -31:
        return 0, 0
    if shift > RANGES["shift"].hi:
        raise ValueError(f"requantisation scale {real:.3g} needs shift {shift} > {RANGES['shift'].hi}")
    return q_fixed, shift


def input_range(graph: Graph) -> tuple[int, int]:
    """The integer input a graph takes: int8, or int16 (symmetric) where its input_quant says 16 bits."""
    bits = int(graph.metadata.get("input_quant", {}).get("bits", 8))
    return INT16_SYMMETRIC if bits == 16 else INT8


def quantise_input(x: np.ndarray, scale: float, zero_point: int, bounds=INT8) -> np.ndarray:
    """Host-side encoding of float input: clamp(round_half_even(x / scale) + zero_point) to the input range."""
    q = np.rint(np.asarray(x, np.float64) / scale) + zero_point
    return np.clip(q, *bounds).astype(np.int64)


# --- layer semantics, integer and float (the dense executor calls these) -------------

def exact_matmul(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """x @ w.T of int64 operands, exactly: in float64 (BLAS) where no partial sum can reach
    2^53 (every sum of integers is then exact in any order), else in int64."""
    bound = float(np.abs(w).sum(axis=1).max(initial=0)) * float(np.abs(x).max(initial=0))
    if bound < 2.0**53:
        return (x.astype(np.float64) @ w.T.astype(np.float64)).astype(np.int64)
    return x @ w.T


def gemm_unclamped(node: Gemm, x: np.ndarray) -> np.ndarray:
    """The integer Gemm before its output clamp (the accumulator when it does not requantise)."""
    return _requantised(node, wrap32(exact_matmul(x - node.input_zero_point, node.weights) + node.bias))


def _requantised(node, acc: np.ndarray) -> np.ndarray:
    """A Gemm's or PWL's int32 accumulator requantised, before the clamp (as it is if it does not)."""
    if not node.requantise:
        return acc
    return requantise(acc, node.multiplier, node.shift) + node.output_zero_point


def gemm_int(node: Gemm, x: np.ndarray) -> np.ndarray:
    return _clamped(node, gemm_unclamped(node, x))


def pwl_segments(knots: np.ndarray, x: np.ndarray) -> np.ndarray:
    """k [B, in]: the segment of each x [B, in] (#{j = 1..n-1 : x >= knots[p, j]}), by binary
    search in each input's inner knots (strictly increasing, as the PWL node checks): memory
    B x in, not B x in x n."""
    inner = knots[:, 1:-1]
    k = np.empty(x.shape, np.int64)
    for p in range(knots.shape[0]):
        k[:, p] = np.searchsorted(inner[p], x[:, p], side="right")
    return k


def pwl_int_terms(node: PWL, x: np.ndarray) -> np.ndarray:
    """values + slope * (x - knot) [out, B, in] of an integer PWL at centred inputs x [B, in]
    (int64: |slope * dx| < 2^63 for int32 operands)."""
    k = pwl_segments(node.knots, x)                                   # [B, in]
    p = np.arange(node.in_size)
    return node.values[:, p, k] + node.slopes[:, p, k] * (x - node.knots[p, k])


def pwl_accumulator(node: PWL, x: np.ndarray) -> np.ndarray:
    """acc [B, out] of an integer PWL, wrapped to int32."""
    return wrap32(pwl_int_terms(node, x - node.input_zero_point).sum(axis=2).T + node.bias)


def pwl_unclamped(node: PWL, x: np.ndarray) -> np.ndarray:
    return _requantised(node, pwl_accumulator(node, x))


def pwl_int(node: PWL, x: np.ndarray) -> np.ndarray:
    return _clamped(node, pwl_unclamped(node, x))


def pwl_terms(node: PWL, x: np.ndarray) -> np.ndarray:
    """f_qp(x_p) [out, B, in] of a float PWL: linear between the knots, the end segments
    extended, in float64."""
    x = x.astype(np.float64)
    t, v = node.knots.astype(np.float64), node.values.astype(np.float64)
    k = pwl_segments(t, x)
    p = np.arange(node.in_size)
    left, width = t[p, k], t[p, k + 1] - t[p, k]
    frac = (x - left) / width                                         # [B, in]
    return v[:, p, k] + (v[:, p, k + 1] - v[:, p, k]) * frac


def pwl_float(node: PWL, x: np.ndarray) -> np.ndarray:
    return (pwl_terms(node, x).sum(axis=2).T + node.bias).astype(np.float32)


def _clamped(node, y: np.ndarray) -> np.ndarray:
    return np.clip(y, node.act_min, node.act_max) if node.requantise else y


def _unclamped(node, x: np.ndarray) -> np.ndarray:
    return gemm_unclamped(node, x) if isinstance(node, Gemm) else pwl_unclamped(node, x)


def saturations(node: DenseLayer, x: np.ndarray) -> int:
    """How many outputs of an integer Gemm or PWL saturated: a requantised value above act_max,
    or below act_min where act_min is not a fused ReLU's clamp at the zero point (that one is
    the ReLU)."""
    if not (isinstance(node, (Gemm, PWL)) and node.integer and node.requantise):
        return 0
    y = _unclamped(node, x)
    low = (y < node.act_min) if node.act_min != node.output_zero_point else np.zeros(y.shape, bool)
    return int(np.count_nonzero(low | (y > node.act_max)))


def gemm_float(node: Gemm, x: np.ndarray) -> np.ndarray:
    return (x.astype(np.float64) @ node.weights.T.astype(np.float64) + node.bias).astype(np.float32)


def relu(node: Relu, x: np.ndarray) -> np.ndarray:
    return np.maximum(x, np.asarray(node.zero_point, x.dtype))


def step(node: Step, x: np.ndarray) -> np.ndarray:
    return (x > node.threshold).astype(x.dtype)


def forward(node: DenseLayer, x: np.ndarray) -> np.ndarray:
    """One layer on a batch x [B, in]: int64 values on integer graphs, float32 on float ones."""
    if isinstance(node, Gemm):
        return gemm_int(node, x) if x.dtype == np.int64 else gemm_float(node, x)
    if isinstance(node, PWL):
        return pwl_int(node, x) if x.dtype == np.int64 else pwl_float(node, x)
    return {Relu: relu, Step: step}[type(node)](node, x)
