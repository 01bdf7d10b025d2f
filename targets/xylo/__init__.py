"""`xylo`: SynSense Xylo v2, bit-accurate with xylosim's `XyloLayer.evolve`.

Reference: xylosim 0.1.3 (PyPI), src/v2/cpp/XyloLayer.cpp and XyloIAFNeuron.cpp.
These functions are the one definition of the semantics; the event-driven
simulator and the dense reference both call them.

Per step (xylosim's order):
 1. input spikes (count clipped to 15 per channel) add `wrap16(w_in << shift_in)`
    to the hidden neurons' synaptic states, one saturating add per spike;
 2. the hidden spikes of the previous step (<= 31) add `wrap16(w_rec << shift_rec)`;
 3. the same previous hidden spikes add `wrap16(w_out << shift_out)` to readout;
 4. every neuron evolves: i_k -= decay(i_k, dash_syn_k);
    v <- sat16(v + sat16(sat16(wrap16(-decay(v, dash_mem)) + sum_k i_k) + bias));
    while v >= threshold and spikes < max_spikes: spikes += 1, v -= threshold.
`decay(x, dash) = x >> dash`, or sign(x) when that is 0 (minimum step 1).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snnc.compiler.ir import Graph, Input, Output, Synapse
from snnc.compiler.ir.nodes import Neuron, frozen, int_vector, integer, is_frozen, register_node
from snnc.errors import DesignRuleError, GraphError
from snnc.targets.base import EnergyConstant, NeuronKind, Range, StateVar, Target, TimeStep, capacity_rule
from snnc.targets.kernel import keep_step, kernel
from snnc.targets.registry import register, register_kind

STATE_MIN, STATE_MAX = -(2**15), 2**15 - 1
MAX_INPUT_SPIKES = 15    # per input channel per step (MAX_NUM_INP_SPIKES)
MAX_HIDDEN_SPIKES = 31   # MAX_NUM_SPIKES
MAX_OUTPUT_SPIKES = 1    # MAX_NUM_OUT_SPIKES
# Sources of LIMITS (capacities) and RANGES (parameter values):
# [R] Rockpool documentation, "Overview of the Xylo family",
#     https://rockpool.ai/devices/xylo-overview.html, table "Xylo family members",
#     column XyloAudio 2: "Num. SNN input channels 16", "Num. hidden neurons 1000",
#     "Num. Syn. states 2", "Num. output neurons 8", "Max. fanout 64",
#     "Avg. fanout 32+32 (Syn1 and Syn2)", "Max. input projection: to 1000 hidden
#     neurons", "Max. output projection: from 1000 hidden neurons"; and its
#     architecture list: "8-bit input expansion weights W_in", "8-bit recurrent
#     weights W_rec", "8-bit readout weights W_out".
#     The fan-out of 64 is a hidden neuron's recurrent (W_rec) entries, both
#     synaptic states counted (32+32); an input channel may project to all 1000
#     hidden neurons and readout weights come from all 1000, so neither is limited.
# [X] xylosim 0.1.3 code constants (src/v2/cpp/XyloIAFNeuron.h) and the C++ types
#     its XyloLayer constructor converts to (it refuses values that do not fit).
# Weight shifts: Rockpool's register decode of Xylo Audio 2 (see RANGES).
_R = "Rockpool docs, 'Overview of the Xylo family' (rockpool.ai/devices/xylo-overview.html), XyloAudio 2"
_X = "xylosim 0.1.3 code (src/v2/cpp/XyloIAFNeuron.h)"
_DASH = f"{_X}: 'uint8_t dash_mem; // should be 4 bits' (dash_syns too)"

# --- parameter ranges: the one table that XyloIAF's checks, the design rules,
# graph_from_xylo, the xylosim executor's input checks and `snnc inspect` /
# `snnc targets` read ---------------------------------------------------------
RANGES = {
    "threshold": Range(1, 2**15 - 1, f"{_X}: thresholds are int16 (XyloLayer refuses 40000); at <= 0 xylosim "
                                     "fires max_spikes every step and `v // threshold` is undefined, so >= 1",
                       register_bits=16),
    "bias": Range(-(2**15), 2**15 - 1, f"{_X}: biases are int16 (XyloLayer refuses 40000)"),
    "dash_mem": Range(0, 15, _DASH),
    "dash_syn": Range(0, 15, _DASH),
    "max_spikes": Range(1, MAX_HIDDEN_SPIKES, f"{_X}: MAX_NUM_SPIKES 31 (hidden), MAX_NUM_OUT_SPIKES 1 (readout)"),
    "weight": Range(-128, 127, f"{_R}: '8-bit input expansion / recurrent / readout weights'; {_X}: BITS_WEIGHT 8"),
    "weight_shift": Range(0, 7, "Rockpool's Xylo Audio 2 register decode (devices/xylo/syns61201/xa2_devkit_utils.py, "
                                "CTRL1): the input, hidden and output weight bit shifts are 3-bit fields; xylosim "
                                "takes any uint8 shift and passes weight << shift as int16"),
    "input": Range(0, 255, f"{_X}: input counts are uint8; xylosim clips them to {MAX_INPUT_SPIKES} per channel "
                           "and step (MAX_NUM_INP_SPIKES)"),
}
LIMITS = {
    "inputs": 16,            # [R] Num. SNN input channels
    "hidden": 1000,          # [R] Num. hidden neurons (all hidden populations together)
    "outputs": 8,            # [R] Num. output neurons
    "fan_out": 64,           # [R] Max. fanout: recurrent targets of one hidden neuron
    "synaptic_states": 2,    # [R] Num. Syn. states (enforced by XyloIAF's dash_syn shape)
}
LIMIT_SOURCES = {
    "inputs": f"{_R}: 'Num. SNN input channels 16'",
    "hidden": f"{_R}: 'Num. hidden neurons 1000' (all hidden populations together)",
    "outputs": f"{_R}: 'Num. output neurons 8'",
    "fan_out": f"{_R}: 'Max. fanout 64' (recurrent targets of a hidden neuron; inputs reach all 1000)",
    "synaptic_states": f"{_R}: 'Num. Syn. states 2'",
}
STATE = {"v": StateVar(np.int64, 16), "i_syn": StateVar(np.int64, 16, axis="n_syn", aliases=("u",))}


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
    state_vars = tuple(STATE)

    def check(self):
        self.size = int(self.size)
        for name in ("threshold", "bias", "dash_mem"):
            setattr(self, name, int_vector(name, getattr(self, name), self.size, *RANGES[name].bounds))
        self.dash_syn = _dash_syn(self.dash_syn, self.size)
        self.max_spikes = integer("max_spikes", self.max_spikes, *RANGES["max_spikes"].bounds)

    @property
    def n_syn(self) -> int:
        return self.dash_syn.shape[1]

    @property
    def n_ports(self) -> int:
        return self.n_syn


def _dash_syn(value, size: int) -> np.ndarray:
    """dash_syn as a frozen int64 (size, n_syn), n_syn up to the synaptic states Xylo has."""
    dash_syn = np.asarray(value)
    if dash_syn.ndim == 1:
        dash_syn = dash_syn[:, None]
    if dash_syn.ndim != 2 or dash_syn.shape[0] != size or not 1 <= dash_syn.shape[1] <= LIMITS["synaptic_states"]:
        raise GraphError(f"parameter 'dash_syn' must have shape ({size}, 1 or 2), got {dash_syn.shape}")
    if dash_syn.dtype.kind not in "iub" and not (dash_syn.dtype.kind == "f" and np.all(dash_syn == np.round(dash_syn))):
        raise GraphError(f"parameter 'dash_syn' must be integer, got {'fractional values' if dash_syn.dtype.kind == 'f' else f'dtype {dash_syn.dtype}'}")
    bounds = RANGES["dash_syn"]
    if not bounds.holds(dash_syn):
        raise GraphError(f"parameter 'dash_syn' must lie in {bounds}, got [{dash_syn.min()}, {dash_syn.max()}]")
    return dash_syn if is_frozen(dash_syn, np.int64, dash_syn.shape) else frozen(dash_syn.astype(np.int64))


# --- integer semantics (numba-compatible: used by both simulators) -----------

@kernel
def wrap16(x):
    return ((x + 32768) & 65535) - 32768


@kernel
def sat16(x):
    """xylosim's safe_add result: clamp to the 16-bit state range (scalar or array)."""
    return np.minimum(np.maximum(x, STATE_MIN), STATE_MAX)


@kernel
def bitshift_decay(x, dash):
    """x >> dash, but at least one step toward zero (sign(x)) when that is 0 (scalars)."""
    d = x >> dash
    return np.sign(x) if d == 0 else d


def delivery_cap(from_input: bool) -> int:
    """Spikes one presynaptic neuron delivers per step: 15 from an input channel, else 31."""
    return MAX_INPUT_SPIKES if from_input else MAX_HIDDEN_SPIKES


@kernel
def synaptic_weight(w, shift):
    """The int16 a presynaptic spike adds: `int16(w << weight_shift)`."""
    return wrap16(w << shift)


@kernel
def iaf_neuron(v, i_syn, threshold, bias, dash_mem, dash_syn, max_spikes):
    """One XyloIAFNeuron.evolve: decays i_syn in place; returns (v, spikes, n_saturated)."""
    i_sum, n_sat = 0, 0
    for k in range(i_syn.shape[0]):
        i_syn[k] -= bitshift_decay(i_syn[k], dash_syn[k])
        i_sum += i_syn[k]
    dv0 = wrap16(-bitshift_decay(v, dash_mem))
    dv1 = sat16(dv0 + i_sum)
    dv2 = sat16(dv1 + bias)
    v_new = sat16(v + dv2)
    n_sat = (dv1 != dv0 + i_sum) + (dv2 != dv1 + bias) + (v_new != v + dv2)
    spikes = min(v_new // threshold, max_spikes) if v_new >= threshold else 0
    return v_new - spikes * threshold, spikes, n_sat


@kernel
def iaf_step(v, i_syn, threshold, bias, dash_mem, dash_syn, max_spikes):
    """One step of a population, in place on v, i_syn; returns (spikes, n_saturated)."""
    spikes = np.zeros(v.shape[0], np.int64)
    n_sat = 0
    for i in range(v.shape[0]):
        v[i], spikes[i], n_s = iaf_neuron(v[i], i_syn[i], threshold[i], bias[i], dash_mem[i], dash_syn[i],
                                          max_spikes)
        n_sat += n_s
    return spikes, n_sat


@kernel
def deliver_saturating(i_syn, j, c, indptr, post, weight, port):
    """c spikes of presynaptic row j into i_syn[post, port]: saturating adds; returns saturations."""
    n_sat = 0
    for k in range(indptr[j], indptr[j + 1]):
        raw = i_syn[post[k], port[k]] + c * weight[k]
        i_syn[post[k], port[k]] = sat16(raw)
        n_sat += i_syn[post[k], port[k]] != raw
    return n_sat


@kernel
def iaf_population(ptr, neuron, count, ext_indptr, ext_post, ext_w, ext_port,
                   rec_indptr, rec_post, rec_w, rec_port, rec_delay, max_rec_count,
                   n, threshold, bias, dash_mem, dash_syn, max_spikes, B, T, keep_v, keep_i):
    """Run a XyloIAF population: external events (merged, in delivery order), then
    recurrent spikes of earlier steps (rec_delay per recurrent synapse, rows r*n + j)."""
    n_syn = dash_syn.shape[1]
    spikes = np.zeros((B, T, n), np.int64)
    v_tr = np.zeros((B, T, n) if keep_v else (0, 0, 0), np.int64)
    i_tr = np.zeros((B, T, n, n_syn) if keep_i else (0, 0, 0, 0), np.int64)
    n_sat, n_events = 0, 0
    for b in range(B):
        v, i_syn = np.zeros(n, np.int64), np.zeros((n, n_syn), np.int64)
        for t in range(T):
            bt = b * T + t
            for e in range(ptr[bt], ptr[bt + 1]):
                j, c = neuron[e], count[e]
                n_sat += deliver_saturating(i_syn, j, c, ext_indptr, ext_post, ext_w, ext_port)
                n_events += c * (ext_indptr[j + 1] - ext_indptr[j])
            for r in range(rec_delay.shape[0]):
                if t >= rec_delay[r]:
                    for j in range(n):
                        c = min(spikes[b, t - rec_delay[r], j], max_rec_count)
                        if c != 0:
                            row = r * n + j
                            n_sat += deliver_saturating(i_syn, row, c, rec_indptr, rec_post, rec_w, rec_port)
                            n_events += c * (rec_indptr[row + 1] - rec_indptr[row])
            s, n_s = iaf_step(v, i_syn, threshold, bias, dash_mem, dash_syn, max_spikes)
            n_sat += n_s
            spikes[b, t] = s
            keep_step(v_tr, b, t, v)
            keep_step(i_tr, b, t, i_syn)
    return spikes, v_tr, i_tr, n_sat, n_events


# --- XyloIAF in the simulators ------------------------------------------------

def run_events(node: XyloIAF, pop):
    """Event engine: external projections merged into one fan-out (delivery order kept), then recurrent."""
    B, T = pop.shape
    ev = pop.merged_events()
    e_ptr, e_post, e_w, e_port = pop.merged_fan_out(pop.external_synapses, synaptic_weight)
    r_ptr, r_post, r_w, r_port = pop.merged_fan_out(pop.recurrent_synapses, synaptic_weight)
    r_delay = np.array([syn.delay for _, syn in pop.recurrent_synapses], np.int64)
    spikes, v_tr, i_tr, n_sat, n_ev = iaf_population(
        ev.ptr, ev.neuron, ev.count, e_ptr, e_post, e_w, e_port, r_ptr, r_post, r_w, r_port, r_delay,
        delivery_cap(False), node.size, node.threshold, node.bias, node.dash_mem, node.dash_syn,
        node.max_spikes, B, T, "v" in pop.record, "i_syn" in pop.record)
    return pop.result(spikes, {"v": v_tr, "i_syn": i_tr}, n_sat, n_ev)


def step(node: XyloIAF, state, arriving):
    """Dense reference: each presynaptic neuron in turn adds count x int16 weight
    (saturating per add), then the neurons evolve."""
    i_syn, n_sat = state["i_syn"], 0
    for syn, s_pre in arriving:
        w = synaptic_weight(syn.weights, syn.weight_exp)
        for j in np.flatnonzero(s_pre):
            raw = i_syn[:, syn.port] + s_pre[j] * w[:, j]
            i_syn[:, syn.port] = sat16(raw)
            n_sat += int(np.sum((i_syn[:, syn.port] != raw) & (w[:, j] != 0)))
    s, n_s = iaf_step(state["v"], i_syn, node.threshold, node.bias, node.dash_mem, node.dash_syn, node.max_spikes)
    return s, n_sat + n_s


XYLO_IAF = register_kind(NeuronKind(XyloIAF, STATE, run_events, step, delivery_cap,
                                    onnx="snnc.targets.xylo.onnx_kind:LOWERING"))


# --- graph construction from xylosim's parameter names ----------------------

def graph_from_xylo(w_in, w_rec, w_out, threshold, threshold_out, bias=0, bias_out=0,
                    weight_shift_in=0, weight_shift_rec=0, weight_shift_out=0,
                    dash_mem=0, dash_mem_out=0, dash_syn=0, dash_syn_out=0) -> Graph:
    """One Xylo population `hidden` (recurrent) and a `readout`, xylosim's shapes.

    w_in (n_in, n_hid, n_syn), w_rec (n_hid, n_hid, n_syn), w_out (n_hid, n_out),
    dash_syn (n_hid, n_syn), dash_syn_out (n_out, 1); scalars broadcast.
    """
    try:
        w_in, w_rec = _weights3("w_in", w_in), _weights3("w_rec", w_rec)
        w_out = _weights2("w_out", w_out)
    except (ValueError, TypeError) as exc:  # ragged lists and the like
        raise GraphError(f"graph_from_xylo: weights must be rectangular integer arrays "
                         f"({str(exc).splitlines()[0][:100]})") from None
    n_in, n_hid, n_syn = w_in.shape
    n_out = w_out.shape[1]
    _expect("w_rec", w_rec.shape, (n_hid, n_hid, n_syn))
    _expect("w_out", w_out.shape, (n_hid, n_out))
    shifts = [integer(name, value, -(2**31), 2**31 - 1) for name, value in  # range: the design rule
              (("weight_shift_in", weight_shift_in), ("weight_shift_rec", weight_shift_rec),
               ("weight_shift_out", weight_shift_out))]
    weight_shift_in, weight_shift_rec, weight_shift_out = shifts
    hidden = _population("", n_hid, n_syn, threshold, bias, dash_mem, dash_syn, MAX_HIDDEN_SPIKES)
    readout = _population("_out", n_out, 1, threshold_out, bias_out, dash_mem_out, dash_syn_out,
                          MAX_OUTPUT_SPIKES)
    graph = Graph(target="xylo", metadata={"source": "xylosim-params"})
    graph.add("input", Input(n_in))
    graph.add("hidden", hidden)
    graph.add("readout", readout)
    for k in range(n_syn):  # any edge order would do: Graph.incoming delivers input first
        graph.add(_syn_name("w_in", k), Synapse(w_in[:, :, k].T, int(weight_shift_in), 0, k), ["input"])
        graph.connect(_syn_name("w_in", k), "hidden")
    for k in range(n_syn):
        graph.add(_syn_name("w_rec", k), Synapse(w_rec[:, :, k].T, int(weight_shift_rec), 1, k), ["hidden"])
        graph.connect(_syn_name("w_rec", k), "hidden")
    graph.add("w_out", Synapse(w_out.T, int(weight_shift_out), 1, 0), ["hidden"])
    graph.connect("w_out", "readout")
    graph.add("output", Output(n_out), ["readout"])
    from snnc.compiler.ir import check_graph
    check_graph(graph)
    XYLO.check(graph)
    return graph


def _population(suffix, size, n_syn, threshold, bias, dash_mem, dash_syn, max_spikes) -> XyloIAF:
    """An XyloIAF from graph_from_xylo's arguments; errors name the argument the caller
    passed (threshold_out, not threshold, for the readout)."""
    try:
        for name, value in (("threshold", threshold), ("bias", bias), ("dash_mem", dash_mem),
                            ("dash_syn", dash_syn)):
            if value is None or isinstance(value, (str, bytes)):
                raise GraphError(f"parameter '{name}' must be an integer or integer array, got {value!r}")
        try:
            syn = np.broadcast_to(np.asarray(dash_syn), (size, n_syn))
        except (ValueError, TypeError):
            raise GraphError(f"parameter 'dash_syn' must be a scalar or shape ({size}, {n_syn}), "
                             f"got {np.shape(dash_syn) if _rectangular(dash_syn) else 'a ragged list'}") from None
        return XyloIAF(size, threshold=threshold, bias=bias, dash_mem=dash_mem, dash_syn=syn,
                       max_spikes=max_spikes)
    except (ValueError, TypeError) as exc:
        raise GraphError(f"graph_from_xylo: parameters must be integer arrays "
                         f"({str(exc).splitlines()[0][:100]})") from None
    except GraphError as exc:
        msg = str(exc)
        for name in ("threshold", "bias", "dash_mem", "dash_syn"):
            msg = msg.replace(f"parameter '{name}'", f"parameter '{name}{suffix}'")
        raise GraphError(msg) from None


def _rectangular(value) -> bool:
    try:
        np.asarray(value)
        return True
    except (ValueError, TypeError):
        return False


def _syn_name(base: str, k: int) -> str:
    return base if k == 0 else f"{base}_syn{k + 1}"


def _weights3(name, w):
    w = np.asarray(w)
    if w.ndim == 2:
        w = w[:, :, None]
    if w.ndim != 3 or w.shape[2] not in (1, 2):
        raise GraphError(f"parameter '{name}' must have shape (n_pre, n_post, n_syn<=2), got {w.shape}")
    return _int8(name, w)


def _weights2(name, w):
    w = np.asarray(w)
    if w.ndim == 3 and w.shape[2] == 1:
        w = w[:, :, 0]
    if w.ndim != 2:
        raise GraphError(f"parameter '{name}' must have shape (n_hid, n_out), got {w.shape}")
    return _int8(name, w)


def _int8(name, w):
    if w.dtype.kind not in "iu" and not (w.dtype.kind == "f" and np.all(w == np.round(w))):
        raise GraphError(f"parameter '{name}' must be integer, got dtype {w.dtype}")
    if not RANGES["weight"].holds(w):
        raise GraphError(f"parameter '{name}' must be int8 {RANGES['weight']}, got [{w.min()}, {w.max()}]")
    return w.astype(np.int64)


def _expect(name, shape, want):
    if tuple(shape) != tuple(want):
        raise GraphError(f"parameter '{name}' must have shape {want}, got {tuple(shape)}")


# --- xylosim parameters from a graph (the inverse of graph_from_xylo) -------

def params_from_graph(graph: Graph) -> dict:
    """xylosim's parameters of a graph shaped like graph_from_xylo's (any node names).

    Input -> w_in synapse(s) (delay 0) -> one hidden XyloIAF (31 spikes) with
    recurrent synapse(s) (delay 1) -> one w_out synapse (delay 1) -> readout
    XyloIAF (1 spike, one synaptic state) -> Output. One synapse per synaptic
    port and matrix, sharing the matrix's weight shift; absent ones are zeros.
    Returns graph_from_xylo's keyword arguments as int64 arrays and int shifts:
    w_in [n_in, n_hid, n_syn], w_rec [n_hid, n_hid, n_syn], w_out [n_hid, n_out],
    dash_syn [n_hid, n_syn], dash_syn_out [n_out, 1]. Other shapes: GraphError naming the node.
    """
    inp, hid, out = xylo_populations(graph)
    hidden, readout = graph.nodes[hid], graph.nodes[out]
    n_in, n_hid, n_out, n_syn = graph.nodes[inp].size, hidden.size, readout.size, hidden.n_syn
    by_source = {inp: [], hid: []}
    for name, syn, src in graph.incoming(hid):
        by_source[src].append((name, syn))
    w_in, shift_in = _stack_ports(by_source[inp], (n_in, n_hid, n_syn), 0, "input")
    w_rec, shift_rec = _stack_ports(by_source[hid], (n_hid, n_hid, n_syn), 1, "recurrent")
    w_out, shift_out = _stack_ports([(n, s) for n, s, _ in graph.incoming(out)], (n_hid, n_out, 1), 1, "readout")
    return dict(w_in=w_in, w_rec=w_rec, w_out=w_out[:, :, 0],
                threshold=hidden.threshold.copy(), threshold_out=readout.threshold.copy(),
                bias=hidden.bias.copy(), bias_out=readout.bias.copy(),
                weight_shift_in=shift_in, weight_shift_rec=shift_rec, weight_shift_out=shift_out,
                dash_mem=hidden.dash_mem.copy(), dash_mem_out=readout.dash_mem.copy(),
                dash_syn=hidden.dash_syn.copy(), dash_syn_out=readout.dash_syn.copy())


def xylo_populations(graph: Graph) -> tuple[str, str, str]:
    """(input, hidden, readout) node names of a graph that xylosim's XyloLayer can run."""
    from snnc.compiler.ir import check_graph
    check_graph(graph)
    if graph.target != "xylo":
        raise GraphError(f"graph targets '{graph.target}'; xylosim runs 'xylo' graphs")
    (inp, *more_in), outputs = list(graph.inputs), list(graph.outputs)
    if more_in:
        raise GraphError(f"Input '{more_in[0]}': xylosim takes one input vector, the graph has {1 + len(more_in)}")
    if len(outputs) != 1:
        raise GraphError(f"Output '{outputs[-1]}': xylosim has one readout, the graph has {len(outputs)} Outputs")
    out = graph.predecessors(outputs[0])[0]
    hidden = [n for n in graph.neurons if n != out]
    if len(hidden) != 1:
        raise GraphError(f"population '{(hidden or [out])[-1]}': xylosim runs one hidden and one readout "
                         f"population, the graph has {len(graph.neurons)}")
    hid = hidden[0]
    for name, max_spikes, n_syn in ((hid, MAX_HIDDEN_SPIKES, None), (out, MAX_OUTPUT_SPIKES, 1)):
        _expect_population(graph, name, max_spikes, n_syn)
    _expect_sources(graph, hid, {inp, hid})
    _expect_sources(graph, out, {hid})
    return inp, hid, out


def _expect_population(graph: Graph, name: str, max_spikes: int, n_syn) -> None:
    node = graph.nodes[name]
    if not isinstance(node, XyloIAF):
        raise GraphError(f"population '{name}' is a {type(node).__name__}; xylosim runs XyloIAF")
    if node.max_spikes != max_spikes:
        raise GraphError(f"population '{name}' has max_spikes {node.max_spikes}; xylosim's is {max_spikes} there")
    if n_syn is not None and node.n_syn != n_syn:
        raise GraphError(f"population '{name}' has {node.n_syn} synaptic states; xylosim's readout has {n_syn}")


def _expect_sources(graph: Graph, name: str, allowed: set[str]) -> None:
    for syn_name, _, src in graph.incoming(name):
        if src not in allowed:
            raise GraphError(f"synapse '{syn_name}' feeds '{name}' from '{src}'; xylosim has no such weights")


def _stack_ports(synapses, shape, delay: int, what: str) -> tuple[np.ndarray, int]:
    """[n_pre, n_post, n_ports] int8 weights from one synapse per port, and their shared shift."""
    w, first = np.zeros(shape, np.int64), {}
    for name, syn in synapses:
        lo, hi = (int(syn.weights.min()), int(syn.weights.max())) if syn.weights.size else (0, 0)
        if syn.weights.dtype.kind == "f" or not RANGES["weight"].holds(syn.weights):
            raise GraphError(f"synapse '{name}' ({what}) has weights {syn.weights.dtype} in [{lo}, {hi}]; "
                             "xylosim takes int8")
        if syn.delay != delay:
            raise GraphError(f"synapse '{name}' ({what}) has delay {syn.delay}; xylosim delivers it after {delay}")
        if syn.port in first:
            raise GraphError(f"synapse '{name}' ({what}) targets port {syn.port} like '{first[syn.port][0]}'; "
                             "xylosim has one matrix per synaptic state")
        other = next(iter(first.values()), (name, syn))
        if syn.weight_exp != other[1].weight_exp:
            raise GraphError(f"synapse '{name}' ({what}) has weight shift {syn.weight_exp} but '{other[0]}' "
                             f"{other[1].weight_exp}; xylosim has one shift per matrix")
        first[syn.port] = (name, syn)
        w[:, :, syn.port] = syn.weights.T
    shift = next(iter(first.values()))[1].weight_exp if first else 0
    return w, shift


# --- design rules -----------------------------------------------------------

@capacity_rule
def rule_sizes(graph: Graph) -> None:
    """Input channels, hidden and output neurons, each summed over the chip's nodes."""
    _running_total(graph.inputs, LIMITS["inputs"], "max-inputs", "input channels")
    readouts = readout_populations(graph)
    _running_total({n: p for n, p in graph.neurons.items() if n not in readouts}, LIMITS["hidden"],
                   "max-hidden", "hidden neurons")
    _running_total({n: graph.nodes[n] for n in readouts}, LIMITS["outputs"], "max-outputs", "output neurons")


def _running_total(nodes: dict, limit: int, rule: str, what: str) -> None:
    """Raise naming the node at which the running total of sizes passes `limit`."""
    total = 0
    for name, node in nodes.items():
        total += node.size
        if total > limit:
            raise DesignRuleError(rule, name, f"{total} {what} in all > {limit}")


def readout_populations(graph: Graph) -> set[str]:
    """Populations an Output reads: Xylo's readout neurons; the others are hidden."""
    return {n for o in graph.outputs for n in graph.predecessors(o)}


@capacity_rule
def rule_fan_out(graph: Graph) -> None:
    """A hidden neuron reaches at most 64 (target, synaptic state) pairs through W_rec.

    Synapses between hidden populations (a feed-forward stack maps onto one
    recurrent population as block matrices) are W_rec too; synapses into a
    readout population are W_out and those from an Input are W_in, neither
    limited beyond the neuron counts (rule_sizes). Each synaptic port counts
    on its own, as Rockpool's "Avg. fanout 32+32 (Syn1 and Syn2)" does.
    """
    readouts = readout_populations(graph)
    for name, node in graph.neurons.items():
        targets = np.zeros(node.size, np.int64)
        for syn_name in graph.successors(name):
            syn = graph.nodes[syn_name]
            if isinstance(syn, Synapse) and graph.successors(syn_name)[0] not in readouts:
                targets += np.count_nonzero(syn.weights, axis=0)
        if targets.size and targets.max() > LIMITS["fan_out"]:
            j = int(targets.argmax())
            raise DesignRuleError("max-fan-out", name, f"hidden neuron {j} has {targets[j]} recurrent targets "
                                  f"(synaptic states counted apart) > {LIMITS['fan_out']}")


def rule_weights(graph: Graph) -> None:
    weight, shift = RANGES["weight"], RANGES["weight_shift"]
    for name, syn in graph.of_type(Synapse).items():
        if syn.weights.dtype.kind == "f" or not weight.holds(syn.weights):
            raise DesignRuleError("weight-int8", name, f"weights must be int8 {weight}")
        if not shift.holds(syn.weight_exp):
            raise DesignRuleError("weight-shift", name, f"weight shift {syn.weight_exp} outside {shift}")


def rule_delays(graph: Graph) -> None:
    for name, syn in graph.of_type(Synapse).items():
        src = graph.synapse_source(name)
        want = 0 if isinstance(graph.nodes[src], Input) else 1
        if syn.delay != want:
            raise DesignRuleError("delivery-order", name,
                                  f"delay {syn.delay}; Xylo delivers input at once and hidden spikes one step later")


# --- energy: Rockpool's clock-cycle model of Xylo Audio 2 times an energy per cycle ---
#
# Cycles: Rockpool's SYNS61201 `cycles_model` (rockpool/devices/xylo/syns61201/
# power_cycles_model.py, last changed in commit b4c1ce26175651795313db2bb6ebe0a26bf232e9),
# the master clock cycles the core spends on one network step, evaluated per
# sample on the simulated rasters (a spike count > 0 is one event, as there).
# Without neuron aliases its terms are linear in the events, so summing them over
# steps is Rockpool's per-step model times the number of steps. Isyn2 work runs
# in parallel with Isyn1 and costs no cycles (Rockpool's docstring).

_ROCKPOOL = ("Rockpool syns61201 power_cycles_model.py cycles_model() "
             "(commit b4c1ce26175651795313db2bb6ebe0a26bf232e9)")
CYCLES = {  # term -> (cycles per operation, one operation, Rockpool's expression)
    "input_channel": (1.0, "input channel per step", "Nin * (... + 1)"),
    "input_event": (3.5, "active input channel x hidden neuron per step",
                    "input_loop_cycles = 3.5, x input_spk_prob * Nien"),
    "hidden_neuron": (3.0 + 19.0, "hidden neuron per step",
                      "'+ 3' of single_hidden_neuron_isyn_cycles + fixed_hidden_neuron_cycles = 19"),
    "recurrent_event": (7.0, "active hidden neuron x mean recurrent fan-out per step",
                        "hidden_update_cycles = 7, x Nhid_fanout_avg * hidden_spk_prob"),
    "hidden_event": (2.0 + 1.0 + 1.0, "active hidden neuron per step",
                     "var_hidden_neuron_cycles without aliases (2 + 1) + the '1 +' of the output Isyn loop"),
    "readout_event": (8.0, "active hidden neuron x output neuron per step",
                      "output_isyn_update_cycles = 8, x Nout * hidden_spk_prob * Noen"),
    "output_neuron": (12.0, "output neuron per step", "fixed_output_neuron_spk_cycles = 12"),
}

# Energy per cycle: SynSense's published Xylo Audio 2 dynamic inference power
# divided by the master clock of the measurement. The clock of that measurement
# is not in the abstract we could read, so it is an estimate (Rockpool's Xylo
# Audio power tutorial sets 6.25 MHz for its measurement; the chip's default is
# 50 MHz). Dividing by the clock charges every clock cycle, as the tutorial's
# "lowering the core clock frequency lowers power consumption proportionally"
# suggests; where the core idles after its cycles of a step (same tutorial: "the
# core performs no operations until the next network time-step"), a busy cycle
# costs more, so this is a lower bound. (Tutorial: Rockpool
# docs/devices/quick-xylo/xylo-audio-intro.ipynb, commit 42cee1c96422f27257138a96618821e0e6bd5b41.)
DYNAMIC_POWER_W = 291e-6  # Bos & Muir, arXiv:2406.15112 (2024), abstract: Aloha KWS dynamic inference power
CLOCK_HZ = 6.25e6         # estimate: Rockpool docs/devices/quick-xylo/xylo-audio-intro.ipynb sets
                          # set_xylo_core_clock_freq(hdk, 6.25) before measuring power
ENERGY_PER_CYCLE_J = DYNAMIC_POWER_W / CLOCK_HZ
_PER_CYCLE = (f"{ENERGY_PER_CYCLE_J * 1e12:.1f} pJ/cycle = 291 uW dynamic inference power (Bos & Muir, "
              "arXiv:2406.15112, abstract; Xylo Audio 2, Aloha KWS) / 6.25 MHz master clock "
              "(estimate: the clock of Rockpool's Xylo Audio power tutorial; at the 50 MHz default it "
              "would be 5.8 pJ); a lower bound where the core idles between steps. Cross-check: "
              "Bos & Muir, arXiv:2208.12991, abstract: < 100 uW inference power")
ENERGY = {term: EnergyConstant(cycles * ENERGY_PER_CYCLE_J,
                               f"{cycles:g} cycles per {what} ({_ROCKPOOL}: {expr}) x {_PER_CYCLE}",
                               estimate=True)
          for term, (cycles, what, expr) in CYCLES.items()}
TIME_STEP = TimeStep(1e-3, "Rockpool syns61201 XyloSim and XyloSamna default dt = 1 ms "
                           "(rockpool/devices/xylo/syns61201/xylo_sim.py, xylo_samna.py, commit "
                           "42cee1c96422f27257138a96618821e0e6bd5b41); the chip's dt is configurable")


def cycle_counts(graph: Graph, spikes: dict) -> dict[str, dict[str, np.ndarray]]:
    """Operations of each `CYCLES` term per sample, by population (inputs included)."""
    readouts = readout_populations(graph)
    hidden = [n for n in graph.neurons if n not in readouts]
    n_hid = sum(graph.nodes[n].size for n in hidden)
    active = {n: np.count_nonzero(np.asarray(s), axis=(1, 2)).astype(np.float64) for n, s in spikes.items()}
    steps = next(iter(spikes.values())).shape[1]
    active_in = sum(active[n] for n in graph.inputs)
    active_hid = sum((active[n] for n in hidden), np.zeros_like(active_in))
    fan_out = _mean_recurrent_fan_out(graph, hidden, n_hid)
    ones = np.ones_like(active_in)
    return {
        "input_channel": {n: ones * node.size * steps for n, node in graph.inputs.items()},
        "input_event": {n: active_in * graph.nodes[n].size for n in hidden},  # each active channel visits all
        "hidden_neuron": {n: ones * graph.nodes[n].size * steps for n in hidden},
        "recurrent_event": {n: active[n] * fan_out for n in hidden},
        "hidden_event": {n: active[n] for n in hidden},
        "readout_event": {n: active_hid * graph.nodes[n].size for n in readouts},
        "output_neuron": {n: ones * graph.nodes[n].size * steps for n in readouts},
    }


def _mean_recurrent_fan_out(graph: Graph, hidden: list[str], n_hid: int) -> float:
    """Rockpool's Nhid_fanout_avg: non-zero W_rec entries per hidden neuron (synaptic state 1: Rockpool
    reads `config.reservoir.weights`; Isyn2 work runs in parallel and costs no cycles)."""
    hidden_set = set(hidden)
    nonzero = sum(int(np.count_nonzero(syn.weights)) for name, syn in graph.of_type(Synapse).items()
                  if syn.port == 0 and graph.synapse_source(name) in hidden_set
                  and graph.successors(name)[0] in hidden_set)
    return nonzero / n_hid if n_hid else 0.0


def usage(graph: Graph) -> dict:
    """Input channels, hidden and output neurons (summed over the chip's nodes) against the limits."""
    readouts = readout_populations(graph)
    hidden = sum(n.size for name, n in graph.neurons.items() if name not in readouts)
    return {"inputs": sum(n.size for n in graph.inputs.values()), "inputs_limit": LIMITS["inputs"],
            "hidden": hidden, "hidden_limit": LIMITS["hidden"],
            "outputs": sum(graph.nodes[n].size for n in readouts), "outputs_limit": LIMITS["outputs"]}


XYLO = register(Target(
    name="xylo",
    description="SynSense Xylo Audio 2 SNN core, bit-accurate with xylosim v2 (XyloLayer.evolve)",
    neuron_kinds=(XYLO_IAF.name,),
    widths={**XYLO_IAF.widths(), **{p: r.bits for p, r in RANGES.items()}},
    overflow="saturate (16-bit states)",
    limits=LIMITS,
    limit_sources=LIMIT_SOURCES,
    usage=usage,
    energy=ENERGY,
    energy_counts=cycle_counts,
    time_step=TIME_STEP,
    ranges=RANGES,
    rules=(rule_sizes, rule_fan_out, rule_weights, rule_delays),
    reference_executor="xylosim 0.1.3 (xylosim.v2.XyloLayer)",
    input_max=RANGES["input"].hi,
    input_format="uint8 counts (<= 255)",
    input_cap=MAX_INPUT_SPIKES,
    flow="snnc.targets.xylo.flow:flow",
    executors={"xylosim": "snnc.targets.xylo.xylosim_exec:run_xylosim_graph",
               "onnx": "snnc.compiler.export:run_onnx"},
    # input spikes reach the hidden population in the same step; hidden spikes reach hidden
    # and readout neurons one step later (xylosim's XyloLayer.evolve)
    synapse_delay=lambda from_input: 0 if from_input else 1,
))
