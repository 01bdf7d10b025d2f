"""Integer graph IR nodes: small dataclasses that validate themselves.

Every node knows its input and output sizes and checks shapes, dtypes and
ranges in `__post_init__`; the arithmetic each node stands for is defined by
the target it is compiled for (see `snnc.targets`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from snnc.errors import GraphError

NODE_TYPES: dict[str, type] = {}


def register_node(cls):
    """Record a node class by name so the serialiser can rebuild it."""
    NODE_TYPES[cls.__name__] = cls
    return cls


def _frozen(arr: np.ndarray) -> np.ndarray:
    """Read-only, so a validated node cannot change behind the simulator's caches."""
    arr.flags.writeable = False
    return arr


def _is_frozen(arr, dtype, shape) -> bool:
    return isinstance(arr, np.ndarray) and not arr.flags.writeable and arr.dtype == dtype and arr.shape == shape


def _int_vector(name: str, value, size: int, lo: int, hi: int) -> np.ndarray:
    """Broadcast `value` to an int64 vector of `size`, checking [lo, hi]."""
    if _is_frozen(value, np.int64, (size,)):
        return value
    arr = np.asarray(value)
    if arr.dtype.kind not in "iub" and not (arr.dtype.kind == "f" and np.all(arr == np.round(arr))):
        raise GraphError(f"parameter '{name}' must be integer, got dtype {arr.dtype}")
    if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] not in (1, size)):
        raise GraphError(f"parameter '{name}' must be a scalar or shape ({size},), got {arr.shape}")
    arr = np.broadcast_to(arr.astype(np.int64), (size,)).copy()
    if arr.size and (arr.min() < lo or arr.max() > hi):
        raise GraphError(f"parameter '{name}' must lie in [{lo}, {hi}], got [{arr.min()}, {arr.max()}]")
    return _frozen(arr)


def _integer(name: str, value, lo: int, hi: int) -> int:
    """A Python int in [lo, hi]; bools and fractional numbers are refused."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        if not (isinstance(value, (float, np.floating)) and float(value).is_integer()):
            raise GraphError(f"parameter '{name}' must be an integer, got {value!r}")
    value = int(value)
    if not lo <= value <= hi:
        raise GraphError(f"parameter '{name}' must lie in [{lo}, {hi}], got {value}")
    return value


def _float_vector(name: str, value, size: int) -> np.ndarray:
    if _is_frozen(value, np.float32, (size,)):
        return value
    arr = np.asarray(value, dtype=np.float32)
    if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] not in (1, size)):
        raise GraphError(f"parameter '{name}' must be a scalar or shape ({size},), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise GraphError(f"parameter '{name}' must be finite")
    return _frozen(np.broadcast_to(arr, (size,)).copy())


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
            self.weights = _frozen(w.astype(np.float32))
        elif w.dtype.kind in "iub":
            self.weights = _frozen(w.astype(np.int64))
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
    state_vars = ()

    @property
    def in_size(self):
        return self.size

    @property
    def out_size(self):
        return self.size


@register_node
@dataclass(eq=False)
class LoihiLIF(Neuron):
    """Loihi CUBA LIF, bit-accurate with Lava's PyLifModelBitAcc.

    u <- wrap24(trunc0(u * (4096 - (du + 1)) / 4096) + (a_in << 6))
    v <- clip(trunc0(v * (4096 - dv) / 4096) + u + (bias_mant << bias_exp), +-(2^23 - 1))
    s = v > (vth << 6); v <- 0 where s.
    """

    du: np.ndarray = 0         # 12-bit current decay, 0..4095
    dv: np.ndarray = 0         # 12-bit voltage decay, 0..4095
    vth: np.ndarray = 0        # 17-bit threshold mantissa, 0..131071 (scaled << 6)
    bias_mant: np.ndarray = 0  # 13-bit signed bias mantissa
    bias_exp: np.ndarray = 0   # 3-bit bias exponent, 0..7
    state_vars = ("u", "v")

    def check(self):
        self.size = int(self.size)
        self.du = _int_vector("du", self.du, self.size, 0, 4095)
        self.dv = _int_vector("dv", self.dv, self.size, 0, 4095)
        self.vth = _int_vector("vth", self.vth, self.size, 0, 2**17 - 1)
        self.bias_mant = _int_vector("bias_mant", self.bias_mant, self.size, -(2**12), 2**12 - 1)
        self.bias_exp = _int_vector("bias_exp", self.bias_exp, self.size, 0, 7)


@register_node
@dataclass(eq=False)
class XyloIAF(Neuron):
    """Xylo v2 integrate-and-fire neuron with 1 or 2 synaptic states (xylosim).

    i_k <- i_k - max(i_k >> dash_syn_k, sign(i_k)) (bit-shift decay, min step 1)
    v <- sat16(v - decay(v, dash_mem) + sum_k i_k + bias)
    spikes = min(v // threshold, max_spikes) where v >= threshold; v -= spikes * threshold
    """

    threshold: np.ndarray = 1   # int16, 1..32767
    bias: np.ndarray = 0        # int16
    dash_mem: np.ndarray = 0    # 4-bit bit-shift decay
    dash_syn: np.ndarray = field(default_factory=lambda: np.zeros((0, 1), np.int64))  # (size, n_syn)
    max_spikes: int = 31        # 31 hidden, 1 readout
    state_vars = ("v", "i_syn")

    def check(self):
        self.size = int(self.size)
        self.threshold = _int_vector("threshold", self.threshold, self.size, 1, 2**15 - 1)
        self.bias = _int_vector("bias", self.bias, self.size, -(2**15), 2**15 - 1)
        self.dash_mem = _int_vector("dash_mem", self.dash_mem, self.size, 0, 15)
        dash_syn = np.asarray(self.dash_syn)
        if dash_syn.ndim == 1:
            dash_syn = dash_syn[:, None]
        if dash_syn.ndim != 2 or dash_syn.shape[0] != self.size or dash_syn.shape[1] not in (1, 2):
            raise GraphError(f"parameter 'dash_syn' must have shape ({self.size}, 1 or 2), got {dash_syn.shape}")
        if dash_syn.min() < 0 or dash_syn.max() > 15:
            raise GraphError(f"parameter 'dash_syn' must lie in [0, 15], got [{dash_syn.min()}, {dash_syn.max()}]")
        self.dash_syn = dash_syn if _is_frozen(dash_syn, np.int64, dash_syn.shape) else _frozen(dash_syn.astype(np.int64))
        self.max_spikes = int(self.max_spikes)
        if not 1 <= self.max_spikes <= 31:
            raise GraphError(f"parameter 'max_spikes' must lie in [1, 31], got {self.max_spikes}")

    @property
    def n_syn(self) -> int:
        return self.dash_syn.shape[1]


@register_node
@dataclass(eq=False)
class FloatLIF(Neuron):
    """Float32 current-based LIF of the `ideal` target (the yardstick for quantisation loss).

    i <- alpha * i + a_in                 (alpha = 0: no synaptic state, i = a_in)
    v <- beta * v + i + bias
    n = #{k in 1..max_spikes : v > k * vth}   (max_spikes = 1: s = v > vth)
    v <- v - vth * n (soft) or 0 where n > 0 (zero reset).
    beta = 0, alpha = 0, zero reset is the memoryless binary threshold unit;
    vth = NON_SPIKING makes a non-spiking readout (a leaky integrator).
    """

    beta: np.ndarray = 1.0
    vth: np.ndarray = 1.0
    bias: np.ndarray = 0.0
    reset: str = "soft"
    alpha: np.ndarray = 0.0      # synaptic current decay per step
    max_spikes: int = 1          # spikes per step (Xylo: 31)
    state_vars = ("v", "i_syn")

    def check(self):
        self.size = int(self.size)
        self.beta = _float_vector("beta", self.beta, self.size)
        self.vth = _float_vector("vth", self.vth, self.size)
        self.bias = _float_vector("bias", self.bias, self.size)
        self.alpha = _float_vector("alpha", self.alpha, self.size)
        if self.reset not in ("soft", "zero"):
            raise GraphError(f"parameter 'reset' must be 'soft' or 'zero', got '{self.reset}'")
        self.max_spikes = _integer("max_spikes", self.max_spikes, 1, 31)


NON_SPIKING = float(np.finfo(np.float32).max)  # a FloatLIF threshold no membrane reaches


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
        self.step = _integer("step", self.step, -(2**31), 2**31 - 1)
        self.gain = float(self.gain)
        if not np.isfinite(self.gain) or self.gain <= 0:
            raise GraphError(f"Output parameter 'gain' must be finite and > 0, got {self.gain}")
        self.offset = _float_vector("offset", self.offset, self.size)

    in_size = property(lambda self: self.size)
    out_size = property(lambda self: self.size)
