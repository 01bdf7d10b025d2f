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

from dataclasses import dataclass

import numpy as np

from snnc.compiler.ir import Graph, Input, Output, Synapse
from snnc.compiler.ir.nodes import Neuron, int_vector, integer, register_node
from snnc.errors import DesignRuleError, GraphError
from snnc.targets.base import EnergyConstant, NeuronKind, Range, StateVar, Target, TimeStep
from snnc.targets.kernel import keep_step, kernel, recurrent_sum
from snnc.targets.registry import register, register_kind

MAX_UV = 2**23          # u, v are 24-bit
DECAY_UNITY = 4096      # 12-bit decay constants
ACT_SHIFT = 6           # a_in and vth are MSB-aligned by 6 bits
DENSE_DELAY = 1         # Lava's Dense buffers a_out for one step
NEURONS_PER_CORE = 1024  # Loihi 1 compartments per core (Davies et al. 2018)
CORES = 128              # neuromorphic cores per chip (Davies et al. 2018)

# --- parameter ranges: the one table that LoihiLIF's checks, the design rules,
# the Lava executor's input checks and `snnc inspect` / `snnc targets` read ----

_LIF = "Lava 0.10.0 PyLifModelBitAcc (lava/proc/lif/models.py)"
_WEIGHT_EXP_SOURCE = ("Loihi's weight exponent is a signed 4-bit field (-8..7) in Intel's NxSDK docs (not "
                      "verifiable offline here); Lava 0.10.0 itself accepts any integer and shifts by it")
RANGES = {
    "du": Range(0, 4095, f"{_LIF}: du is a 12-bit unsigned decay (uint16, precision=12)"),
    "dv": Range(0, 4095, f"{_LIF}: dv is a 12-bit unsigned decay (uint16, precision=12)"),
    "vth": Range(0, 2**17 - 1, f"{_LIF}: vth is a 17-bit unsigned mantissa (precision=17), scaled << 6"),
    "bias_mant": Range(-(2**12), 2**12 - 1, f"{_LIF}: bias_mant is a 13-bit signed mantissa (precision=13)"),
    "bias_exp": Range(0, 7, f"{_LIF}: bias_exp is a 3-bit exponent (precision=3)"),
    "weight_exp": Range(-8, 7, _WEIGHT_EXP_SOURCE),
    "sign_mode": Range(1, 3, "Lava 0.10.0 SignMode (lava/utils/weightutils.py): 1 mixed, 2 excitatory, "
                             "3 inhibitory"),
    "input": Range(0, 1, "Lava 0.10.0 PyDenseModelBitAcc: s_in is a binary port (bool, precision=1)"),
}
LIF_PARAMS = ("du", "dv", "vth", "bias_mant", "bias_exp")
WEIGHT_EXP_RANGE = RANGES["weight_exp"].bounds
STATE = {"u": StateVar(np.int64, 24, aliases=("i_syn",)), "v": StateVar(np.int64, 24)}


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
    state_vars = tuple(STATE)

    def check(self):
        self.size = int(self.size)
        for name in LIF_PARAMS:
            setattr(self, name, int_vector(name, getattr(self, name), self.size, *RANGES[name].bounds))


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


@kernel
def dense_input(a, acc, weight_exp):
    """How a Dense joins the LIF input: its int32 a_out (weight sum shifted), added in int32."""
    return wrap(a + dense_output(acc, weight_exp), 32)


def effective_bias(bias_mant, bias_exp):
    """bias_mant << bias_exp in int32, as Lava's scale_bias."""
    return wrap(np.asarray(bias_mant, np.int64) << np.asarray(bias_exp, np.int64), 32)


@kernel
def lif_population(a_in, du, dv, bias, vth_scaled, rec_indptr, rec_post, rec_w, rec_exp, rec_delay,
                   keep_u, keep_v):
    """Run a LoihiLIF population over [B, T]; a_in already holds delayed Dense output."""
    B, T, n = a_in.shape
    spikes = np.zeros((B, T, n), np.int64)
    u_tr = np.zeros((B, T, n) if keep_u else (0, 0, 0), np.int64)
    v_tr = np.zeros((B, T, n) if keep_v else (0, 0, 0), np.int64)
    n_over, n_events = 0, 0
    for b in range(B):
        u, v = np.zeros(n, np.int64), np.zeros(n, np.int64)
        for t in range(T):
            a = a_in[b, t].copy()
            if rec_delay > 0 and t >= rec_delay:
                acc = np.zeros(n, np.int64)
                n_events += recurrent_sum(acc, spikes[b, t - rec_delay], rec_indptr, rec_post, rec_w)
                a = dense_input(a, acc, rec_exp)
            s, n_o = lif_step(u, v, a, du, dv, bias, vth_scaled)
            n_over += n_o
            spikes[b, t] = s
            keep_step(u_tr, b, t, u)
            keep_step(v_tr, b, t, v)
    return spikes, u_tr, v_tr, n_over, n_events


# --- LoihiLIF in the simulators ----------------------------------------------

def run_events(node: LoihiLIF, pop):
    """Event engine: Dense outputs summed per synapse, then the loop with the recurrent Dense."""
    a_in = np.zeros(pop.shape + (node.size,), np.int64)
    for syn, acc in pop.external_sums(np.int64):
        a_in = dense_input(a_in, acc, syn.weight_exp)
    rec = pop.recurrent()
    spikes, u_tr, v_tr, n_over, n_rec = lif_population(
        a_in, node.du, node.dv, effective_bias(node.bias_mant, node.bias_exp), node.vth << ACT_SHIFT,
        rec.fan_out.indptr, rec.fan_out.post, rec.fan_out.weight, rec.weight_exp, rec.delay,
        "u" in pop.record, "v" in pop.record)
    return pop.result(spikes, {"u": u_tr, "v": v_tr}, n_over, n_rec)


def step(node: LoihiLIF, state, arriving):
    """Dense reference: one step from the spikes arriving now."""
    a = np.zeros(node.size, np.int64)
    for syn, s_pre in arriving:
        a = dense_input(a, syn.weights @ s_pre, syn.weight_exp)
    return lif_step(state["u"], state["v"], a, node.du, node.dv, effective_bias(node.bias_mant, node.bias_exp),
                    node.vth << ACT_SHIFT)


LOIHI_LIF = register_kind(NeuronKind(LoihiLIF, STATE, run_events, step))


# Lava's SignMode values (lava.utils.weightutils): how Dense reads its weights.
SIGN_MIXED, SIGN_EXCITATORY, SIGN_INHIBITORY = 1, 2, 3
SIGN_MODES = {SIGN_MIXED: "mixed", SIGN_EXCITATORY: "excitatory", SIGN_INHIBITORY: "inhibitory"}


def determine_sign_mode(weights) -> int:
    """Lava's determine_sign_mode: excitatory if all >= 0, else inhibitory if all <= 0, else mixed."""
    w = np.asarray(weights)
    if w.min(initial=0) >= 0:
        return SIGN_EXCITATORY
    return SIGN_INHIBITORY if w.max(initial=0) <= 0 else SIGN_MIXED


def effective_weights(weights, sign_mode: int | None = None) -> np.ndarray:
    """Lava's Dense weight preprocessing (clip_weights then truncate_weights, 8 bits).

    int32 cast; the sign mode is `sign_mode` (Dense's proc param) or else
    Lava's guess from the weights. Mixed: clip to [-256, 255], drop one LSB
    (even values); excitatory: clip to [0, 255]; inhibitory: negate (in
    int32), clip to [0, 255], negate back, so [-255, 0].

    Not idempotent, because Lava is not: [[-256, 1]] (mixed) -> [[-256, 0]],
    which Lava would guess is inhibitory and clip to [[-255, 0]]. A graph
    stores what Lava uses; `lava_sign_mode` gives the mode that keeps it
    unchanged, and `effective_weights(w, lava_sign_mode(w)) == w` for every
    output `w` of this function.
    """
    w = np.asarray(weights)
    if w.dtype.kind == "f" and not np.all(w == np.trunc(w)):
        raise GraphError("Loihi weights must be integers (got fractional values)")
    w = wrap(w.astype(np.int64), 32)
    mode = determine_sign_mode(w) if sign_mode is None else int(sign_mode)
    if mode not in SIGN_MODES:
        raise GraphError(f"sign_mode must be one of {SIGN_MODES} (Lava's SignMode values), got {sign_mode}")
    sign = -1 if mode == SIGN_INHIBITORY else 1
    shift = 1 if mode == SIGN_MIXED else 0
    w = np.clip(wrap(sign * w, 32), -256 if shift else 0, 255)
    return sign * ((w >> shift) << shift)


def lava_sign_mode(weights, where: str = "weights") -> int:
    """The sign mode under which Lava's Dense uses these weights unchanged:
    Lava's own guess where that works, else mixed (e.g. [[-256, 0]], the
    effective form of the mixed [[-256, 1]]). GraphError when none does."""
    w = np.asarray(weights)
    for mode in (determine_sign_mode(w), SIGN_MIXED):
        if w.dtype.kind in "iub" and np.array_equal(effective_weights(w, mode), w):
            return mode
    raise GraphError(f"{where}: not 8-bit Loihi weights that Lava's Dense keeps unchanged "
                     "(mixed signs or -256: even values in [-256, 254]; else |w| <= 255, one sign)")


# --- graph construction from Lava's parameter names -------------------------

def graph_from_lava_layers(layers: list[dict], n_inputs: int) -> Graph:
    """Chain input -> dense0 -> lif0 -> dense1 -> lif1 ... from Lava Dense/LIF params.

    Each layer dict uses Lava's names: `weights` (out x in), `weight_exp`,
    `du`, `dv`, `vth`, `bias_mant`, `bias_exp`. Weights are clipped and
    truncated exactly as Lava's PyDenseModelBitAcc does on its first step.
    Optional `rec_weights` (out x out) and `rec_weight_exp` add a recurrent
    Dense `rec{k}` from `lif{k}` to itself (delivered one step later).
    Optional `sign_mode` / `rec_sign_mode` (Lava's SignMode values, 1 mixed,
    2 excitatory, 3 inhibitory) fix the sign mode as Dense's own parameter
    does; without one, Lava's guess from the weights applies.
    du, dv and vth may be per neuron here (Lava's LIF takes single values;
    `runtime.lava_exec.run_lava_graph` splits such a population).
    """
    graph = Graph(target="loihi", metadata={"source": "lava-layers"})
    prev = graph.add("input", Input(integer("n_inputs", n_inputs, 1, 1 << 22)))
    if isinstance(layers, (str, bytes, dict)) or not hasattr(layers, "__iter__"):
        raise GraphError(f"layers must be a list of dicts (one per Dense + LIF layer), got {type(layers).__name__}")
    for k, layer in enumerate(layers):
        try:
            prev = _add_lava_layer(graph, k, layer, prev)
        except GraphError as exc:
            raise GraphError(str(exc) if str(exc).startswith(f"layer {k}") else f"layer {k}: {exc}") from None
        except (ValueError, TypeError, OverflowError) as exc:  # ragged lists, odd objects
            raise GraphError(f"layer {k}: parameters must be integer arrays "
                             f"({str(exc).splitlines()[0][:100] if str(exc) else type(exc).__name__})") from None
    graph.add("output", Output(graph.nodes[prev].size), [prev])
    from snnc.compiler.ir import check_graph
    check_graph(graph)
    LOIHI.check(graph)
    return graph


def _add_lava_layer(graph: Graph, k: int, layer: dict, prev: str) -> str:
    """dense{k} (+ rec{k}) and lif{k} of one Lava layer dict; returns lif{k}."""
    if not isinstance(layer, dict):
        raise GraphError(f"layer {k}: expected a dict of Lava parameters, got {type(layer).__name__}")
    _check_layer_keys(k, layer)
    if "weights" not in layer:
        raise GraphError(f"layer {k}: 'weights' is missing")
    weights = _lava_weights("weights", layer["weights"])
    syn = Synapse(effective_weights(weights, _sign_mode("sign_mode", layer.get("sign_mode"))),
                  weight_exp=integer("weight_exp", layer.get("weight_exp", 0), -(2**31), 2**31 - 1),
                  delay=DENSE_DELAY)
    dense = graph.add(f"dense{k}", syn, [prev])
    params = {name: layer.get(name, default) for name, default in
              (("du", 0), ("dv", 0), ("vth", 10), ("bias_mant", 0), ("bias_exp", 0))}
    for name, value in params.items():
        if value is None or isinstance(value, (str, bytes)):
            raise GraphError(f"parameter '{name}' must be an integer or integer array, got {value!r}")
    lif = LoihiLIF(weights.shape[0], **params)
    prev = graph.add(f"lif{k}", lif, [dense])
    if "rec_weights" in layer:
        rec = Synapse(effective_weights(_lava_weights("rec_weights", layer["rec_weights"]),
                                        _sign_mode("rec_sign_mode", layer.get("rec_sign_mode"))),
                      weight_exp=integer("rec_weight_exp", layer.get("rec_weight_exp", 0),
                                         -(2**31), 2**31 - 1),
                      delay=DENSE_DELAY)
        graph.add(f"rec{k}", rec, [prev])
        graph.connect(f"rec{k}", prev)
    return prev


def _lava_weights(name: str, value) -> np.ndarray:
    w = np.asarray(value)
    if w.dtype.kind not in "iubf":
        raise GraphError(f"'{name}' must be an integer array, got dtype {w.dtype}")
    if w.ndim != 2:
        raise GraphError(f"'{name}' must be 2-D (out x in), got shape {w.shape}")
    if w.dtype.kind == "f" and not np.all(np.isfinite(w)):
        raise GraphError(f"'{name}' must be finite integers")
    return w


def _sign_mode(name: str, value):
    return None if value is None else integer(name, value, -(2**31), 2**31 - 1)


_LAYER_KEYS = {"weights", "weight_exp", "sign_mode", "du", "dv", "vth", "bias_mant", "bias_exp",
               "rec_weights", "rec_weight_exp", "rec_sign_mode"}


def _check_layer_keys(k: int, layer: dict) -> None:
    unknown = set(layer) - _LAYER_KEYS
    if unknown:
        raise GraphError(f"layer {k}: unknown parameter(s) {sorted(unknown)} "
                         f"(expected Lava's names {sorted(_LAYER_KEYS)})")
    if "weights" not in layer:
        raise GraphError(f"layer {k}: missing 'weights' (out x in)")


def layers_from_graph(graph: Graph) -> tuple[list[dict], int, list[tuple[str, str, str | None]]]:
    """Inverse of `graph_from_lava_layers` for any chain graph.

    The chain is Input -> Synapse -> LoihiLIF [-> Synapse -> LoihiLIF ...],
    each LIF with at most one recurrent Synapse onto itself and any number of
    Output markers; node names are free. Returns (layers, n_inputs, names):
    layer dicts with Lava's names (`weights`, `weight_exp`, `sign_mode`,
    `du`, `dv`, `vth`, `bias_mant`, `bias_exp`, and `rec_weights`,
    `rec_weight_exp`, `rec_sign_mode` where there is recurrence; a LIF
    parameter is an int when all neurons share it, else an int64 [n] array),
    and per layer (synapse name, LIF name, recurrent synapse name or None).
    `sign_mode` is the one under which Lava keeps the graph's weights as they
    are (`lava_sign_mode`). Anything else raises GraphError naming the node.
    """
    if graph.target != "loihi":
        raise GraphError(f"graph is compiled for '{graph.target}', not 'loihi'")
    inputs = list(graph.inputs)
    if len(inputs) != 1:
        raise GraphError(f"a Lava chain has one Input node, this graph has {len(inputs)}: {inputs}")
    seen, layers, names = {inputs[0]}, [], []
    prev, syn = inputs[0], _forward_synapse(graph, inputs[0], seen)
    while syn is not None:
        lif = _chain_lif(graph, prev, syn)
        rec = _recurrent_synapse(graph, syn, lif)
        seen.update(n for n in (syn, lif, rec) if n is not None)
        layers.append(_layer_dict(graph, syn, lif, rec))
        names.append((syn, lif, rec))
        prev, syn = lif, _forward_synapse(graph, lif, seen)
    if not layers:
        raise GraphError(f"node '{inputs[0]}': no Synapse -> LoihiLIF layer follows the input")
    stray = [n for n in graph.nodes if n not in seen]
    if stray:
        raise GraphError(f"node '{stray[0]}' is not on the Lava chain {' -> '.join(n for _, n, _ in names)}")
    return layers, graph.nodes[inputs[0]].size, names


def _forward_synapse(graph: Graph, pop: str, seen: set) -> str | None:
    """The one Synapse leading on from `pop` (None at the end); Output markers are noted as seen."""
    forward = []
    for succ in graph.successors(pop):
        node = graph.nodes[succ]
        if isinstance(node, Output) and graph.predecessors(succ) == [pop]:
            seen.add(succ)
        elif not isinstance(node, Synapse):
            raise GraphError(f"node '{succ}': a {type(node).__name__} after '{pop}' is not part of a Lava chain")
        elif graph.successors(succ) != [pop]:  # a self-loop is the LIF's recurrent Dense
            forward.append(succ)
    if len(forward) > 1:
        raise GraphError(f"node '{pop}' feeds {len(forward)} synapses ({', '.join(forward)}); a Lava chain feeds one")
    return forward[0] if forward else None


def _chain_lif(graph: Graph, prev: str, syn: str) -> str:
    """The LoihiLIF that `syn` (fed by `prev` alone) drives, as a Lava Dense."""
    node = graph.nodes[syn]
    if graph.predecessors(syn) != [prev]:
        raise GraphError(f"node '{syn}': a Lava Dense has one source, got {graph.predecessors(syn)}")
    if node.delay != DENSE_DELAY or node.port != 0:
        raise GraphError(f"node '{syn}': delay {node.delay}, port {node.port}; Lava's Dense is delay 1, port 0")
    succ = graph.successors(syn)
    if len(succ) != 1 or not isinstance(graph.nodes[succ[0]], LoihiLIF):
        raise GraphError(f"node '{syn}' must feed exactly one LoihiLIF, feeds {succ}")
    return succ[0]


def _recurrent_synapse(graph: Graph, syn: str, lif: str) -> str | None:
    """The LIF's self-recurrent Synapse, if any; any other input is not a chain."""
    others = [p for p in graph.predecessors(lif) if p != syn]
    if len(others) > 1 or graph.predecessors(lif).count(syn) != 1:
        raise GraphError(f"node '{lif}': inputs {graph.predecessors(lif)}; a Lava chain LIF has one Dense "
                         "and at most one recurrent Dense")
    if not others:
        return None
    rec = others[0]
    if not isinstance(graph.nodes[rec], Synapse) or graph.predecessors(rec) != [lif] \
            or graph.successors(rec) != [lif]:
        raise GraphError(f"node '{rec}' feeds '{lif}' but is not a Synapse from '{lif}' to itself")
    _chain_lif(graph, lif, rec)  # same Dense checks (delay, port)
    return rec


def _layer_dict(graph: Graph, syn: str, lif: str, rec: str | None) -> dict:
    """Lava-named parameters of one Dense -> LIF (-> recurrent Dense) layer."""
    dense, pop = graph.nodes[syn], graph.nodes[lif]
    layer = {"weights": dense.weights.copy(), "weight_exp": dense.weight_exp,
             "sign_mode": lava_sign_mode(dense.weights, f"node '{syn}'")}
    for key in LIF_PARAMS:
        val = np.asarray(getattr(pop, key), np.int64)
        layer[key] = int(val[0]) if np.all(val == val[0]) else val.copy()
    if rec is not None:
        r = graph.nodes[rec]
        layer.update(rec_weights=r.weights.copy(), rec_weight_exp=r.weight_exp,
                     rec_sign_mode=lava_sign_mode(r.weights, f"node '{rec}'"))
    return layer


# --- design rules -----------------------------------------------------------

def rule_weight_exp(graph: Graph) -> None:
    bounds = RANGES["weight_exp"]
    for name, syn in graph.of_type(Synapse).items():
        if not bounds.holds(syn.weight_exp):
            raise DesignRuleError("weight-exp-range", name, f"weight_exp {syn.weight_exp} outside {bounds}")


def rule_weight_format(graph: Graph) -> None:
    """Weights Lava's Dense keeps unchanged under some sign mode: otherwise
    what runs in Lava is not what the graph says (e.g. [[-256, -3]])."""
    for name, syn in graph.of_type(Synapse).items():
        try:
            lava_sign_mode(syn.weights)
        except GraphError:
            raise DesignRuleError("weight-format", name, "weights are not 8-bit Loihi weights (mixed signs "
                                  "or -256: even values in [-256, 254]; else |w| <= 255, one sign)") from None


def rule_dense_delay(graph: Graph) -> None:
    for name, syn in graph.of_type(Synapse).items():
        if syn.delay != DENSE_DELAY:
            raise DesignRuleError("dense-delay", name, f"delay {syn.delay}, Lava's Dense delivers after exactly 1 step")


@Target.capacity_rule
def rule_neurons_per_core(graph: Graph) -> None:
    """A population may span cores (the mapper splits it) but not exceed one chip's 128 cores."""
    for name, node in graph.neurons.items():
        if node.size > NEURONS_PER_CORE * CORES:
            raise DesignRuleError("neurons-per-chip", name,
                                  f"{node.size} neurons exceed {CORES} cores x {NEURONS_PER_CORE}")


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
# A Loihi time step ends at a mesh-wide barrier once every core has updated all its
# compartments (Davies et al. 2018, "Mesh-level synchronization"), so its length
# depends on the load; no single figure is stated.
TIME_STEP = TimeStep(10e-6, "estimate: 10 us, the order of Loihi's algorithmic time step for a small "
                            "network (the step ends at a barrier once every core has updated its "
                            "neurons; Davies et al., IEEE Micro 38(1), 2018); it grows with neurons per "
                            "core and activity",
                     estimate=True)

def usage(graph: Graph) -> dict:
    """Cores used (each population on whole cores) against the chip's cores."""
    sizes = [node.size for node in graph.neurons.values()]
    cores = sum(-(-n // NEURONS_PER_CORE) for n in sizes)
    return {"cores": cores, "cores_limit": CORES, "neurons": sum(sizes)}


LOIHI = register(Target(
    name="loihi",
    description="Intel Loihi LIF, bit-accurate with Lava 0.10.0 fixed_pt (PyLifModelBitAcc, PyDenseModelBitAcc)",
    neuron_kinds=(LOIHI_LIF.name,),
    widths={"weight": 8, **LOIHI_LIF.widths(), **{p: r.bits for p, r in RANGES.items()}, "a_in": 32},
    overflow="wrap (u, 24-bit as Lava), saturate (v)",
    limits={"neurons_per_core": NEURONS_PER_CORE, "cores": CORES, "synaptic_delay": DENSE_DELAY},
    energy=ENERGY,
    time_step=TIME_STEP,
    limit_sources={
        "neurons_per_core": f"{_DAVIES}: 1,024 neural units (compartments) per core",
        "cores": f"{_DAVIES}: 128 neuromorphic cores per chip",
        "synaptic_delay": "Lava 0.10.0 PyDenseModelBitAcc buffers a_out for one step (a_buff)",
    },
    ranges=RANGES,
    usage=usage,
    rules=(rule_weight_exp, rule_weight_format, rule_dense_delay, rule_neurons_per_core, rule_single_port),
    reference_executor="Lava (lava-nc 0.10.0, Loihi2SimCfg(select_tag='fixed_pt'))",
    input_max=RANGES["input"].hi,
    input_format="binary (0/1)",
))
