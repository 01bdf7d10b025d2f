"""Integer graph IR nodes: small dataclasses that validate themselves.

Every node knows its input and output sizes and checks shapes, dtypes and
ranges in `__post_init__`; the arithmetic each node stands for is defined by
the target it is compiled for (see `snnc.targets`). The neuron kinds
(`LoihiLIF`, `XyloIAF`, `FloatLIF`) are `Neuron` subclasses that live in their
target's file, beside the ranges they check and the arithmetic they stand
for; they register here like every node and `snnc.compiler.ir` exports them.
The dense layers (Gemm, PWL, Relu, Step) are in `dense.py`; the field checks
every node runs in `checks.py`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from snnc.compiler.ir.checks import as_int64, float_vector, frozen, integer
from snnc.errors import GraphError

NODE_TYPES: dict[str, type] = {}
TARGET_NAMES: set[str] = set()   # the targets a graph may name; each registers itself (snnc.targets.registry)


def register_node(cls):
    """Record a node class by name so the serialiser can rebuild it."""
    NODE_TYPES[cls.__name__] = cls
    return cls


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

    def fan_out_counts(self) -> np.ndarray:
        """Synapses (nonzero weights) per presynaptic neuron: a spike's synaptic events."""
        return np.count_nonzero(self.weights, axis=0)


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
