"""Dense, non-spiking IR layers: Gemm, PWL, Relu, Step (lowered KAN-MLPs and 1-step binary nets)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.compiler.ir.checks import as_int64, float_vector, frozen, int_vector, integer
from snnc.compiler.ir.nodes import Node, register_node
from snnc.errors import GraphError


# --- dense, non-spiking layers (lowered KAN-MLPs and 1-step binary nets) -------
#
# One-step pipelines that run once per sample, input to Output, with no state
# and no time: `ideal` runs them in float32, `edge-int8` in integers (the
# arithmetic, with its rounding, is written once in snnc.targets.edge_int8).
# Each takes exactly one input: an Input or another dense layer.

INT32 = (-(2**31), 2**31 - 1)
INT16 = (-(2**15), 2**15 - 1)


def int_or_float_vector(name: str, value, size: int, lo: int, hi: int, integer_mode: bool) -> np.ndarray:
    """int64 vector in [lo, hi] on integer layers, float32 vector on float layers."""
    return int_vector(name, value, size, lo, hi) if integer_mode else float_vector(name, value, size)


def matrix(name: str, value) -> np.ndarray:
    """A read-only 2-D weight matrix: float32 (float layers) or int64 (integer layers)."""
    if isinstance(value, np.ndarray) and not value.flags.writeable and value.dtype in (np.int64, np.float32) \
            and value.ndim == 2:
        return value
    w = np.asarray(value)
    if w.ndim != 2 or 0 in w.shape:
        raise GraphError(f"parameter '{name}' must be a non-empty 2-D array (out, in), got shape {w.shape}")
    if w.dtype.kind == "f":
        if not np.all(np.isfinite(w)):
            raise GraphError(f"parameter '{name}' must be finite")
        return frozen(w.astype(np.float32))
    if w.dtype.kind not in "iub":
        raise GraphError(f"parameter '{name}' must be integer or float, got dtype {w.dtype}")
    return frozen(as_int64(name, w))


@dataclass(eq=False)
class DenseLayer(Node):
    """A non-spiking layer: out = f(in), once per sample, from exactly one source."""

    @property
    def integer(self) -> bool:
        """True on integer graphs (edge-int8), False on float ones (ideal)."""
        raise NotImplementedError

    def check_in_graph(self, graph, name: str) -> None:
        """One source (an Input or a dense layer) whose width is this layer's input width."""
        preds = graph.predecessors(name)
        if len(preds) != 1:
            raise GraphError(f"{type(self).__name__} '{name}' needs exactly one source, got {len(preds)}")
        src = graph.nodes[preds[0]]
        if type(src).__name__ != "Input" and not isinstance(src, DenseLayer):
            raise GraphError(f"{type(self).__name__} '{name}' must read an Input or a dense layer, "
                             f"not {type(src).__name__} '{preds[0]}'")
        if src.out_size != self.in_size:
            raise GraphError(f"{type(self).__name__} '{name}' takes {self.in_size} values but source "
                             f"'{preds[0]}' gives {src.out_size}")


@register_node
@dataclass(eq=False)
class Gemm(DenseLayer):
    """Dense affine layer (ONNX Gemm with transB): y = W x + b.

    Float (ideal; float32 `weights`):  y = float32(W @ x + bias), sums in float64.
    Integer (edge-int8; integer `weights`), per output channel c:
      acc_c = sum_i W[c, i] * (x_i - input_zero_point) + bias_c          int32 accumulator
      requantise=True:  y_c = clamp(MBQM(acc_c, multiplier_c, shift_c) + output_zero_point,
                                    act_min, act_max)                       int8 (or int16)
      requantise=False: y_c = acc_c                                          (read by Step or Output)
    MBQM is TFLite's MultiplyByQuantizedMultiplier (rounding stated in
    snnc.targets.edge_int8.requantise): y ~ acc * multiplier * 2^(shift - 31).
    Integer fields are ignored on float layers and must keep their defaults there.
    """

    weights: np.ndarray                 # [out, in]: float32, or int8 values (held int64)
    bias: np.ndarray = 0.0              # [out]: float32, or int32 values (held int64)
    multiplier: np.ndarray = 0          # [out] Q0.31 fixed-point multiplier in [0, 2^31 - 1]
    shift: np.ndarray = 0               # [out] power-of-two exponent in [-31, 30] (> 0 left, < 0 right)
    input_zero_point: int = 0           # subtracted from every input (int8 range)
    output_zero_point: int = 0          # added after requantisation (act range)
    act_min: int = -128                 # output clamp, inclusive (int16 range at most)
    act_max: int = 127
    requantise: bool = True             # False: the int32 accumulator is the output

    def check(self):
        self.weights = matrix("weights", self.weights)
        check_requantisation(self, self.weights.shape[0])
        if self.integer and not (-128 <= self.weights.min() and self.weights.max() <= 127):
            raise GraphError(f"Gemm integer weights must be int8 values in [-128, 127], got "
                             f"[{self.weights.min()}, {self.weights.max()}]")

    integer = property(lambda self: self.weights.dtype == np.int64)
    in_size = property(lambda self: self.weights.shape[1])
    out_size = property(lambda self: self.weights.shape[0])


def check_requantisation(node, n: int) -> None:
    """The output fields a Gemm and a PWL share: bias, multiplier, shift, zero points, clamp."""
    node.bias = int_or_float_vector("bias", node.bias, n, *INT32, node.integer)
    node.multiplier = int_vector("multiplier", node.multiplier, n, 0, INT32[1])
    node.shift = int_vector("shift", node.shift, n, -31, 30)
    node.input_zero_point = integer("input_zero_point", node.input_zero_point, -128, 127)
    node.act_min = integer("act_min", node.act_min, *INT16)
    node.act_max = integer("act_max", node.act_max, node.act_min, INT16[1])
    node.output_zero_point = integer("output_zero_point", node.output_zero_point, node.act_min, node.act_max)
    if not isinstance(node.requantise, (bool, np.bool_)):
        raise GraphError(f"parameter 'requantise' must be true or false, got {node.requantise!r}")
    node.requantise = bool(node.requantise)


def _array(name: str, value, ndim: int, integer_mode: bool | None = None) -> np.ndarray:
    """A read-only non-empty `ndim`-D array: float32 (float layers) or int64 (integer layers)."""
    arr = np.asarray(value)
    if arr.ndim != ndim or 0 in arr.shape:
        raise GraphError(f"parameter '{name}' must be a non-empty {ndim}-D array, got shape {arr.shape}")
    if arr.dtype.kind not in "iubf" or (arr.dtype.kind == "f" and not np.all(np.isfinite(arr))):
        raise GraphError(f"parameter '{name}' must hold finite numbers, got dtype {arr.dtype}")
    as_int = arr.dtype.kind in "iub" if integer_mode is None else integer_mode
    if as_int and arr.dtype.kind == "f" and not np.all(arr == np.round(arr)):
        raise GraphError(f"parameter '{name}' must be integer on an integer layer")
    return frozen(as_int64(name, arr) if as_int else arr.astype(np.float32))


@register_node
@dataclass(eq=False)
class PWL(DenseLayer):
    """A layer of piecewise-linear edge functions (a lowered KAN layer): y = f(x) + b with
    f_q(x) = sum_p f_qp(x_p), each f_qp linear between the knots of its input p.

    `knots` [in, n+1] (strictly increasing per input), `values` [out, in, n+1] (f_qp at
    the knots); beyond the end knots each f_qp continues the end segment's line.
    Float (ideal; float32): y_q = float32(b_q + sum_p interp(x_p; knots_p, values_qp)),
    in float64. Integer (edge-int8; int64-held values), with x = x_in - input_zero_point:
      k_p     = #{j = 1..n-1 : x_p >= knots[p, j]}                 segment index, 0..n-1
      term_qp = values[q, p, k_p] + slopes[q, p, k_p] * (x_p - knots[p, k_p])
      acc_q   = wrap32(bias_q + sum_p term_qp)                      int32 accumulator
    then requantised as a Gemm's (`requantise`, `multiplier`, `shift`, zero points,
    clamp). `slopes` [out, in, n] are integers per input LSB, in the accumulator's
    unit (integer layers only; a float layer's slopes follow from its values).
    """

    knots: np.ndarray
    values: np.ndarray
    slopes: np.ndarray = 0
    bias: np.ndarray = 0.0
    multiplier: np.ndarray = 0
    shift: np.ndarray = 0
    input_zero_point: int = 0
    output_zero_point: int = 0
    act_min: int = -128
    act_max: int = 127
    requantise: bool = True

    def check(self):
        self.values = _array("values", self.values, 3)
        self.knots = _array("knots", self.knots, 2, self.integer)
        out, inputs, points = self.values.shape
        if self.knots.shape != (inputs, points) or points < 2:
            raise GraphError(f"PWL knots must have shape (in, n+1) = {(inputs, points)} with n >= 1, "
                             f"got {self.knots.shape}")
        if not np.all(np.diff(self.knots.astype(np.float64), axis=1) > 0):
            p = int(np.argmax(~np.all(np.diff(self.knots.astype(np.float64), axis=1) > 0, axis=1)))
            raise GraphError(f"PWL knots of input {p} must be strictly increasing")
        if self.integer:
            self.slopes = _array("slopes", self.slopes, 3, True)
            if self.slopes.shape != (out, inputs, points - 1):
                raise GraphError(f"PWL slopes must have shape {(out, inputs, points - 1)}, got {self.slopes.shape}")
            for name in ("knots", "values", "slopes"):
                arr = getattr(self, name)
                if arr.min() < INT32[0] or arr.max() > INT32[1]:
                    raise GraphError(f"PWL {name} must be int32 values, got [{arr.min()}, {arr.max()}]")
        elif not (np.ndim(self.slopes) == 0 and self.slopes == 0):
            raise GraphError("PWL slopes belong to integer layers; a float layer's follow from its values")
        check_requantisation(self, out)

    integer = property(lambda self: self.values.dtype == np.int64)
    in_size = property(lambda self: self.values.shape[1])
    out_size = property(lambda self: self.values.shape[0])
    segments = property(lambda self: self.values.shape[2] - 1)


@register_node
@dataclass(eq=False)
class Relu(DenseLayer):
    """y = max(x, zero_point): float ReLU (zero_point 0), or the integer ReLU of a
    quantised tensor whose real zero is `zero_point`."""

    size: int
    zero_point: int = 0

    def check(self):
        self.size = integer("size", self.size, 1, INT32[1])
        self.zero_point = integer("zero_point", self.zero_point, *INT32)

    integer = property(lambda self: False)   # the same formula serves float and integer inputs
    in_size = property(lambda self: self.size)
    out_size = property(lambda self: self.size)


@register_node
@dataclass(eq=False)
class Step(DenseLayer):
    """Binary threshold unit (the memoryless binary neuron): y = 1 if x > threshold else 0.

    float32 `threshold` on float graphs; int32 values (held int64) on integer
    graphs, compared with the int32 accumulator of the Gemm before it (an
    integer acc exceeds a real t exactly when it exceeds floor(t)).
    Output: 0/1 (int8 on edge-int8).
    """

    size: int
    threshold: np.ndarray = 0.0

    def check(self):
        self.size = integer("size", self.size, 1, INT32[1])
        t = np.asarray(self.threshold)
        self.threshold = int_or_float_vector("threshold", t, self.size, *INT32, t.dtype.kind in "iub")

    integer = property(lambda self: self.threshold.dtype == np.int64)
    in_size = property(lambda self: self.size)
    out_size = property(lambda self: self.size)
