"""Integer graph IR nodes: small dataclasses that validate themselves.

Every node knows its input and output sizes and checks shapes, dtypes and
ranges in `__post_init__`; the arithmetic each node stands for is defined by
the target it is compiled for (see `snnc.targets`). The neuron kinds
(`LoihiLIF`, `XyloIAF`, `FloatLIF`) are `Neuron` subclasses that live in their
target's file, beside the ranges they check and the arithmetic they stand
for; they register here like every node and `snnc.compiler.ir` exports them.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from snnc.errors import GraphError

NODE_TYPES: dict[str, type] = {}
TARGET_NAMES: set[str] = set()   # the targets a graph may name; each registers itself (snnc.targets.registry)


def register_node(cls):
    """Record a node class by name so the serialiser can rebuild it."""
    NODE_TYPES[cls.__name__] = cls
    return cls


def as_int64(name: str, arr: np.ndarray) -> np.ndarray:
    """An integer array as int64, refusing uint64 values that int64 cannot hold (they would wrap)."""
    if arr.dtype == np.uint64 and arr.size and arr.max() > np.iinfo(np.int64).max:
        raise GraphError(f"parameter '{name}' holds {arr.max()}, beyond int64")
    return arr.astype(np.int64)


def frozen(arr: np.ndarray) -> np.ndarray:
    """Read-only, so a validated node cannot change behind the simulator's caches."""
    arr.flags.writeable = False
    return arr


def is_frozen(arr, dtype, shape) -> bool:
    return isinstance(arr, np.ndarray) and not arr.flags.writeable and arr.dtype == dtype and arr.shape == shape


def int_vector(name: str, value, size: int, lo: int, hi: int) -> np.ndarray:
    """Broadcast `value` to an int64 vector of `size`, checking [lo, hi]."""
    if is_frozen(value, np.int64, (size,)):
        return value
    arr = np.asarray(value)
    if arr.dtype.kind not in "iub" and not (arr.dtype.kind == "f" and np.all(arr == np.round(arr))):
        raise GraphError(f"parameter '{name}' must be integer, got dtype {arr.dtype}")
    if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] not in (1, size)):
        raise GraphError(f"parameter '{name}' must be a scalar or shape ({size},), got {arr.shape}")
    # the range is checked before the cast: an infinite or huge float (or a uint64) would wrap
    if arr.size and not (np.all(np.isfinite(arr)) and arr.min() >= lo and arr.max() <= hi):
        raise GraphError(f"parameter '{name}' must lie in [{lo}, {hi}], got [{arr.min()}, {arr.max()}]")
    return frozen(np.broadcast_to(arr.astype(np.int64), (size,)).copy())


def integer(name: str, value, lo: int, hi: int) -> int:
    """A Python int in [lo, hi]; bools and fractional numbers are refused."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        if not (isinstance(value, (float, np.floating)) and float(value).is_integer()):
            raise GraphError(f"parameter '{name}' must be an integer, got {value!r}")
    value = int(value)
    if not lo <= value <= hi:
        raise GraphError(f"parameter '{name}' must lie in [{lo}, {hi}], got {value}")
    return value


def float_vector(name: str, value, size: int) -> np.ndarray:
    if is_frozen(value, np.float32, (size,)):
        return value
    arr = np.asarray(value, dtype=np.float32)
    if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] not in (1, size)):
        raise GraphError(f"parameter '{name}' must be a scalar or shape ({size},), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise GraphError(f"parameter '{name}' must be finite")
    return frozen(np.broadcast_to(arr, (size,)).copy())


@dataclass(eq=False)
class Node:
    """Base class. Subclasses define `in_size` and `out_size`."""

    def __post_init__(self):
        self.check()

    def check(self) -> None:
        """Validate fields; raise GraphError naming the parameter."""

    @property
    def in_size(self) -> int:
        raise NotImplementedError

    @property
    def out_size(self) -> int:
        raise NotImplementedError

    def fields(self) -> dict:
        """Field name -> value, for the serialiser."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@register_node
@dataclass(eq=False)
class Input(Node):
    """Spike source: per step an integer count per channel (0/1 for binary targets)."""

    size: int

    def check(self):
        if int(self.size) < 1:
            raise GraphError(f"Input size must be >= 1, got {self.size}")
        self.size = int(self.size)

    in_size = property(lambda self: self.size)
    out_size = property(lambda self: self.size)


@register_node
@dataclass(eq=False)
class Synapse(Node):
    """Dense projection, delivered `delay` steps after the presynaptic spikes.

    a_post[t] = scale(W @ s_pre[t - delay], weight_exp)
    `weights` (n_post, n_pre): integers (already in the target's weight
    format) or float32 on the `ideal` target. `weight_exp`: power-of-two
    scale (Loihi's weight_exp, Xylo's weight shift). `port`: which synaptic
    state of the postsynaptic neuron receives the current (Xylo's synapse id).
    """

    weights: np.ndarray
    weight_exp: int = 0
    delay: int = 1
    port: int = 0

    def check(self):
        w = self.weights
        if isinstance(w, np.ndarray) and not w.flags.writeable and w.dtype in (np.int64, np.float32) and w.ndim == 2:
            return self._check_scalars()
        w = np.asarray(w)
        if w.ndim != 2:
            raise GraphError(f"Synapse weights must be 2-D (n_post, n_pre), got shape {w.shape}")
        if w.dtype.kind == "f":
            if not np.all(np.isfinite(w)):
                raise GraphError("Synapse weights must be finite")
            self.weights = frozen(w.astype(np.float32))
        elif w.dtype.kind in "iub":
            self.weights = frozen(as_int64("weights", w))
        else:
            raise GraphError(f"Synapse weights must be integer or float, got dtype {w.dtype}")
        self._check_scalars()

    def _check_scalars(self):
        for name in ("weight_exp", "delay", "port"):
            setattr(self, name, int(getattr(self, name)))
        if self.delay < 0 or self.port < 0:
            raise GraphError(f"Synapse delay and port must be >= 0, got {self.delay}, {self.port}")

    in_size = property(lambda self: self.weights.shape[1])
    out_size = property(lambda self: self.weights.shape[0])


@dataclass(eq=False)
class Neuron(Node):
    """A population of `size` neurons; subclasses hold kind-specific parameters."""

    size: int
    state_vars = ()  # names of the state variables, as the kind's registration lists them

    @property
    def in_size(self):
        return self.size

    @property
    def out_size(self):
        return self.size

    @property
    def n_ports(self) -> int:
        """Input ports a Synapse may target (Xylo: one per synaptic state)."""
        return 1


NON_SPIKING = float(np.finfo(np.float32).max)  # a float threshold no membrane reaches (FloatLIF)


READS = ("v", "spike_count")


@register_node
@dataclass(eq=False)
class Output(Node):
    """Marks a neuron population whose spikes (and states) are the graph's result.

    Host-side decoding of class scores (logits) from it, per sample:
      read = "v":           logits = gain * v[step] + offset
      read = "spike_count": logits = gain * (spikes summed over all steps) + offset
    `step` counts from 0 (negative: from the end); `offset` [size] float32.
    The compiler sets these so that the deployed logits match the trained ones
    (the step absorbs the target's latency, gain and offset its scales).
    """

    size: int
    read: str = "spike_count"
    step: int = -1
    gain: float = 1.0
    offset: np.ndarray = 0.0

    def check(self):
        self.size = int(self.size)
        if self.read not in READS:
            raise GraphError(f"Output parameter 'read' must be one of {READS}, got '{self.read}'")
        self.step = integer("step", self.step, -(2**31), 2**31 - 1)
        self.gain = float(self.gain)
        if not np.isfinite(self.gain) or self.gain <= 0:
            raise GraphError(f"Output parameter 'gain' must be finite and > 0, got {self.gain}")
        self.offset = float_vector("offset", self.offset, self.size)

    in_size = property(lambda self: self.size)
    out_size = property(lambda self: self.size)



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
