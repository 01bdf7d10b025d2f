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

from snnc.compiler.ir.checks import frozen, int_vector, integer, is_frozen

from snnc.compiler.ir.nodes import Neuron, register_node
from snnc.errors import GraphError
from snnc.targets.base import NeuronKind, Range, StateVar
from snnc.targets.kernel import keep_step, kernel
from snnc.targets.registry import register_kind

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

@kernel(inline=True)
def wrap16(x):
    return ((x + 32768) & 65535) - 32768


@kernel(inline=True)
def sat16(x):
    """xylosim's safe_add result: clamp to the 16-bit state range (scalar or array)."""
    return np.minimum(np.maximum(x, STATE_MIN), STATE_MAX)


@kernel(inline=True)
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


@kernel(inline=True)
def iaf_neuron(v, i_syn, i, threshold, bias, dash_mem, dash_syn, max_spikes):
    """One XyloIAFNeuron.evolve of neuron i: decays its row of i_syn [n, n_syn] in place (indexed,
    not sliced: no array view per neuron and step); returns (v, spikes, n_saturated)."""
    i_sum = 0
    for k in range(i_syn.shape[1]):
        i_syn[i, k] -= bitshift_decay(i_syn[i, k], dash_syn[i, k])
        i_sum += i_syn[i, k]
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
        v[i], spikes[i], n_s = iaf_neuron(v[i], i_syn, i, threshold[i], bias[i], dash_mem[i], dash_syn, max_spikes)
        n_sat += n_s
    return spikes, n_sat


@kernel
def deliver_saturating(i_flat, j, c, indptr, slot, weight):
    """c spikes of presynaptic row j into i_syn's flat slots post * n_syn + port (i_flat is
    i_syn [n, n_syn] raveled): saturating adds; returns saturations."""
    n_sat = 0
    for k in range(indptr[j], indptr[j + 1]):
        raw = i_flat[slot[k]] + c * weight[k]
        i_flat[slot[k]] = sat16(raw)
        n_sat += i_flat[slot[k]] != raw
    return n_sat


@kernel
def deliver_saturating_row(i_flat, c, row):
    """`deliver_saturating` of a dense row over every slot (zeros where no synapse: adding 0
    changes nothing and saturates nothing): contiguous, vectorised; returns saturations."""
    n_sat = 0
    for k in range(row.shape[0]):
        raw = i_flat[k] + c * row[k]
        i_flat[k] = sat16(raw)
        n_sat += i_flat[k] != raw
    return n_sat


@kernel
def iaf_population(ptr, neuron, count, ext_indptr, ext_slot, ext_w, ext_dense,
                   rec_indptr, rec_slot, rec_w, rec_delay, max_rec_count,
                   n, threshold, bias, dash_mem, dash_syn, max_spikes, B, T, keep_v, keep_i):
    """Run a XyloIAF population: external events (merged, in delivery order), then
    recurrent spikes of earlier steps (rec_delay per recurrent synapse, rows r*n + j);
    `*_slot` are the targets' flat i_syn slots (post * n_syn + port); `ext_dense` (rows x
    n * n_syn, or no rows) the external rows as dense vectors, used when given."""
    n_syn = dash_syn.shape[1]
    spikes = np.zeros((B, T, n), np.int64)
    v_tr = np.zeros((B, T, n) if keep_v else (0, 0, 0), np.int64)
    i_tr = np.zeros((B, T, n, n_syn) if keep_i else (0, 0, 0, 0), np.int64)
    n_sat, n_events = 0, 0
    for b in range(B):
        v, i_syn = np.zeros(n, np.int64), np.zeros((n, n_syn), np.int64)
        i_flat = i_syn.reshape(-1)
        for t in range(T):
            bt = b * T + t
            for e in range(ptr[bt], ptr[bt + 1]):
                j, c = neuron[e], count[e]
                if ext_dense.shape[0] > 0:
                    n_sat += deliver_saturating_row(i_flat, c, ext_dense[j])
                else:
                    n_sat += deliver_saturating(i_flat, j, c, ext_indptr, ext_slot, ext_w)
                n_events += c * (ext_indptr[j + 1] - ext_indptr[j])
            for r in range(rec_delay.shape[0]):
                if t >= rec_delay[r]:
                    for j in range(n):
                        c = min(spikes[b, t - rec_delay[r], j], max_rec_count)
                        if c != 0:
                            row = r * n + j
                            n_sat += deliver_saturating(i_flat, row, c, rec_indptr, rec_slot, rec_w)
                            n_events += c * (rec_indptr[row + 1] - rec_indptr[row])
            for i in range(n):   # iaf_step, neuron by neuron, straight into the spike record
                v[i], spikes[b, t, i], n_s = iaf_neuron(v[i], i_syn, i, threshold[i], bias[i], dash_mem[i],
                                                        dash_syn, max_spikes)
                n_sat += n_s
            keep_step(v_tr, b, t, v)
            keep_step(i_tr, b, t, i_syn)
    return spikes, v_tr, i_tr, n_sat, n_events


# --- XyloIAF in the simulators ------------------------------------------------

def run_events(node: XyloIAF, pop):
    """Event engine: external projections merged into one fan-out (delivery order kept), then recurrent."""
    B, T = pop.shape
    ev = pop.merged_events()
    e_ptr, e_slot, e_w, e_dense = _fan_in(pop, pop.external_synapses, node, dense_rows=True)
    r_ptr, r_slot, r_w, _ = _fan_in(pop, pop.recurrent_synapses, node)
    r_delay = np.array([syn.delay for _, syn in pop.recurrent_synapses], np.int64)
    spikes, v_tr, i_tr, n_sat, n_ev = iaf_population(
        ev.ptr, ev.neuron, ev.count, e_ptr, e_slot, e_w, e_dense, r_ptr, r_slot, r_w, r_delay,
        delivery_cap(False), node.size, node.threshold, node.bias, node.dash_mem, node.dash_syn,
        node.max_spikes, B, T, "v" in pop.record, "i_syn" in pop.record)
    return pop.result(spikes, {"v": v_tr, "i_syn": i_tr}, n_sat, n_ev)


DENSE_ROWS_MIN_DENSITY = 0.3   # as runtime/plan.py: above it a row is added as a contiguous vector


def _fan_in(pop, synapses, node: XyloIAF, dense_rows: bool = False):
    """(indptr, flat i_syn slot, int16 weight, dense rows) of the synapses merged in delivery
    order, built once per plan: slot = post * n_syn + port; the rows as a dense [rows, n * n_syn]
    matrix when dense enough and asked for, else an empty one (the CSR path)."""
    key = ("xylo-fan-in", tuple(name for name, _ in synapses), dense_rows)
    if key not in pop.derived:
        n_syn = node.dash_syn.shape[1]
        indptr, post, weight, port = pop.merged_fan_out(synapses, synaptic_weight)
        slot, rows, width = post * n_syn + port, len(indptr) - 1, node.size * n_syn
        dense = np.zeros((0, 0), np.int64)
        if dense_rows and rows and len(slot) >= DENSE_ROWS_MIN_DENSITY * rows * width:
            dense = np.zeros((rows, width), np.int64)
            dense[np.repeat(np.arange(rows), np.diff(indptr)), slot] = weight
        pop.derived[key] = (indptr, slot, weight, dense)
    return pop.derived[key]


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
