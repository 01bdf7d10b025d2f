"""`loihi`: Intel Loihi fixed point, bit-accurate with Lava 0.10.0.

Reference: lava-nc 0.10.0 `PyLifModelBitAcc` (lava/proc/lif/models.py) and
`PyDenseModelBitAcc` (lava/proc/dense/models.py) under
`Loihi2SimCfg(select_tag="fixed_pt")`. The arithmetic below is the one
definition of these semantics: the event-driven simulator (compiled with
numba) and the dense reference stepper both call these functions.

All states are int64 arrays holding the values Lava keeps in int32; every
place where Lava's numpy dtypes wrap is an explicit `wrap(x, 32)`.

Per step, per LIF neuron (Lava's order):
    u <- wrap24*(trunc0(u * (4096 - (du + 1)) / 4096) + wrap32(a_in << 6))
    v <- clip(trunc0(v * (4096 - dv) / 4096) + u + bias, -(2^23 - 1), 2^23 - 1)
    s  = v > vth << 6;  v <- 0 where s   (u keeps its value)
`wrap24*` is Lava's literal code: values above 2^23 lose 2^24; then values
at or below -2^23 are replaced by the *unwrapped* value + 2^24.
Dense: a = sum of (clipped, LSB-truncated) weights of the spiking inputs,
`<< weight_exp` (or `>>` when negative), sent through an int32 port and
delivered one step later.
"""
from __future__ import annotations

import numpy as np

from snnc.targets.kernel import kernel

from snnc.compiler.ir import Graph, Input, LoihiLIF, Output, Synapse
from snnc.errors import DesignRuleError, GraphError
from snnc.targets.base import EnergyConstant, Target
from snnc.targets.registry import register

MAX_UV = 2**23          # u, v are 24-bit
DECAY_UNITY = 4096      # 12-bit decay constants
ACT_SHIFT = 6           # a_in and vth are MSB-aligned by 6 bits
DENSE_DELAY = 1         # Lava's Dense buffers a_out for one step
NEURONS_PER_CORE = 1024  # Loihi 1 compartments per core (Davies et al. 2018)
WEIGHT_EXP_RANGE = (-8, 7)


# --- integer semantics (numba-compatible: used by both simulators) -----------

@kernel
def wrap(x, bits):
    """Two's-complement wrap of int64 values to `bits` bits."""
    half = np.int64(1) << np.int64(bits - 1)
    return ((x + half) & (2 * half - 1)) - half


@kernel
def decay12(x, d):
    """trunc0(x * (4096 - d) / 4096): Lava's decay, rounding toward zero."""
    p = x * (DECAY_UNITY - d)
    return np.sign(p) * (np.abs(p) >> 12)


@kernel
def dense_output(acc, weight_exp):
    """Dense a_out from the int64 weight sum: shift by weight_exp, int32 port."""
    if weight_exp > 0:
        return wrap(acc << weight_exp, 32)
    return wrap(acc >> -weight_exp, 32)


@kernel
def lif_neuron(u, v, a_in, du, dv, bias, vth_scaled):
    """One PyLifModelBitAcc step of one neuron: (u, v, spike, n_overflow)."""
    c = wrap(decay12(u, du + 1) + wrap(a_in << ACT_SHIFT, 32), 32)
    w = c - 2 * MAX_UV if c > MAX_UV else c
    w = c + 2 * MAX_UV if w <= -MAX_UV else w
    u = wrap(w, 32)
    upd = wrap(wrap(decay12(v, dv) + u, 32) + bias, 32)
    clipped = min(max(upd, -MAX_UV + 1), MAX_UV - 1)
    spike = clipped > vth_scaled
    return u, 0 if spike else clipped, spike, (c != w) + (upd != clipped)


@kernel
def lif_step(u, v, a_in, du, dv, bias, vth_scaled):
    """One step of a population, in place on u, v; returns (spikes, n_overflow)."""
    spikes = np.zeros(u.shape[0], np.bool_)
    n_overflow = 0
    for i in range(u.shape[0]):
        u[i], v[i], spikes[i], n_o = lif_neuron(u[i], v[i], a_in[i], du[i], dv[i], bias[i], vth_scaled[i])
        n_overflow += n_o
    return spikes, n_overflow


def effective_bias(bias_mant, bias_exp):
    """bias_mant << bias_exp in int32, as Lava's scale_bias."""
    return wrap(np.asarray(bias_mant, np.int64) << np.asarray(bias_exp, np.int64), 32)


def effective_weights(weights) -> np.ndarray:
    """Lava's Dense weight preprocessing: int32 cast, clip to 8 bits, LSB truncation.

    Sign mode from the weights: mixed weights clip to [-256, 255] and lose one
    LSB (so they are even); excitatory clip to [0, 255]; inhibitory to [-255, 0].
    """
    w = np.asarray(weights)
    if w.dtype.kind == "f" and not np.all(w == np.trunc(w)):
        raise GraphError("Loihi weights must be integers (got fractional values)")
    w = wrap(w.astype(np.int64), 32)
    mixed = w.min(initial=0) < 0 < w.max(initial=0)
    inhibitory = w.size > 0 and w.max() <= 0 and w.min() < 0
    sign = -1 if inhibitory else 1
    w = np.clip(sign * w, -256 if mixed else 0, 255)
    shift = 1 if mixed else 0
    return sign * ((w >> shift) << shift)


# --- graph construction from Lava's parameter names -------------------------

def graph_from_lava_layers(layers: list[dict], n_inputs: int) -> Graph:
    """Chain input -> dense0 -> lif0 -> dense1 -> lif1 ... from Lava Dense/LIF params.

    Each layer dict uses Lava's names: `weights` (out x in), `weight_exp`,
    `du`, `dv`, `vth`, `bias_mant`, `bias_exp`. Weights are clipped and
    truncated exactly as Lava's PyDenseModelBitAcc does on its first step.
    Optional `rec_weights` (out x out) and `rec_weight_exp` add a recurrent
    Dense `rec{k}` from `lif{k}` to itself (delivered one step later).
    """
    graph = Graph(target="loihi", metadata={"source": "lava-layers"})
    prev = graph.add("input", Input(int(n_inputs)))
    for k, layer in enumerate(layers):
        _check_layer_keys(k, layer)
        weights = np.asarray(layer["weights"])
        if weights.ndim != 2:
            raise GraphError(f"layer {k}: 'weights' must be 2-D (out x in), got shape {weights.shape}")
        syn = Synapse(effective_weights(weights), weight_exp=int(layer.get("weight_exp", 0)),
                      delay=DENSE_DELAY)
        dense = graph.add(f"dense{k}", syn, [prev])
        lif = LoihiLIF(weights.shape[0], du=layer.get("du", 0), dv=layer.get("dv", 0),
                       vth=layer.get("vth", 10), bias_mant=layer.get("bias_mant", 0),
                       bias_exp=layer.get("bias_exp", 0))
        prev = graph.add(f"lif{k}", lif, [dense])
        if "rec_weights" in layer:
            rec = Synapse(effective_weights(np.asarray(layer["rec_weights"])),
                          weight_exp=int(layer.get("rec_weight_exp", 0)), delay=DENSE_DELAY)
            graph.add(f"rec{k}", rec, [prev])
            graph.connect(f"rec{k}", prev)
    graph.add("output", Output(graph.nodes[prev].size), [prev])
    from snnc.compiler.ir import check_graph
    check_graph(graph)
    LOIHI.check(graph)
    return graph


_LAYER_KEYS = {"weights", "weight_exp", "du", "dv", "vth", "bias_mant", "bias_exp", "rec_weights", "rec_weight_exp"}


def _check_layer_keys(k: int, layer: dict) -> None:
    unknown = set(layer) - _LAYER_KEYS
    if unknown:
        raise GraphError(f"layer {k}: unknown parameter(s) {sorted(unknown)} "
                         f"(expected Lava's names {sorted(_LAYER_KEYS)})")
    if "weights" not in layer:
        raise GraphError(f"layer {k}: missing 'weights' (out x in)")


# --- design rules -----------------------------------------------------------

def rule_weight_exp(graph: Graph) -> None:
    lo, hi = WEIGHT_EXP_RANGE
    for name, syn in graph.of_type(Synapse).items():
        if not lo <= syn.weight_exp <= hi:
            raise DesignRuleError("weight-exp-range", name, f"weight_exp {syn.weight_exp} outside [{lo}, {hi}]")


def rule_weight_format(graph: Graph) -> None:
    for name, syn in graph.of_type(Synapse).items():
        w = syn.weights
        mixed = w.min(initial=0) < 0 < w.max(initial=0)
        if w.dtype.kind == "f" or w.min(initial=0) < -256 or w.max(initial=0) > 255 or (mixed and np.any(w % 2)):
            raise DesignRuleError("weight-format", name, "weights are not 8-bit Loihi weights "
                                  "(mixed signs: even values in [-256, 254]; else |w| <= 255)")


def rule_dense_delay(graph: Graph) -> None:
    for name, syn in graph.of_type(Synapse).items():
        if syn.delay != DENSE_DELAY:
            raise DesignRuleError("dense-delay", name, f"delay {syn.delay}, Lava's Dense delivers after exactly 1 step")


def rule_neurons_per_core(graph: Graph) -> None:
    """A population may span cores (the mapper splits it) but not exceed one chip's 128 cores."""
    for name, node in graph.neurons.items():
        if node.size > NEURONS_PER_CORE * 128:
            raise DesignRuleError("neurons-per-chip", name,
                                  f"{node.size} neurons exceed 128 cores x {NEURONS_PER_CORE}")


def rule_single_port(graph: Graph) -> None:
    for name, syn in graph.of_type(Synapse).items():
        if syn.port != 0:
            raise DesignRuleError("single-port", name, f"port {syn.port}: Loihi LIF has one input port")


# --- energy (Davies et al., "Loihi", IEEE Micro 38(1), 2018, Table 1) --------

_DAVIES = "Davies et al., IEEE Micro 38(1):82-99, 2018, Table 1"
ENERGY = {
    "synaptic_op": EnergyConstant(23.6e-12, f"{_DAVIES}: synaptic spike op, 23.6 pJ"),
    "neuron_update": EnergyConstant(52e-12, f"{_DAVIES}: neuron update (inactive), 52 pJ"),
    "spike_extra": EnergyConstant(29e-12 + 1.7e-12,
                                  f"{_DAVIES}: active-neuron update 81 pJ minus inactive 52 pJ, "
                                  "plus within-tile spike 1.7 pJ; counting a spiking neuron as "
                                  "'active' is our estimate", estimate=True),
}

LOIHI = register(Target(
    name="loihi",
    description="Intel Loihi LIF, bit-accurate with Lava 0.10.0 fixed_pt (PyLifModelBitAcc, PyDenseModelBitAcc)",
    neuron_kinds=("LoihiLIF",),
    widths={"weight": 8, "u": 24, "v": 24, "vth": 17, "bias_mant": 13, "bias_exp": 3, "du": 12, "dv": 12,
            "a_in": 32},
    overflow="wrap (u, 24-bit as Lava), saturate (v)",
    limits={"neurons_per_core": NEURONS_PER_CORE, "cores": 128, "weight_exp_min": WEIGHT_EXP_RANGE[0],
            "weight_exp_max": WEIGHT_EXP_RANGE[1], "vth_max": 2**17 - 1, "synaptic_delay": DENSE_DELAY},
    energy=ENERGY,
    rules=(rule_weight_exp, rule_weight_format, rule_dense_delay, rule_neurons_per_core, rule_single_port),
    reference_executor="Lava (lava-nc 0.10.0, Loihi2SimCfg(select_tag='fixed_pt'))",
    input_max=1,
    input_format="binary (0/1)",
))
