"""Event-driven simulator: populations in dependency order, each over all steps.

Feed-forward projections are delivered from the already simulated source's
event list (CSR fan-out per spike); a population's own recurrent projections
are delivered inside its numba loop. Delays >= 1 on every cycle make this
exact.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snnc.compiler.ir import FloatLIF, Graph, Input, LoihiLIF, Synapse, XyloIAF
from snnc.errors import GraphError
from snnc.runtime import kernels
from snnc.runtime.csr import delayed, events, fan_out
from snnc.runtime.plan import Plan
from snnc.targets import loihi, xylo


@dataclass
class PopulationRun:
    spikes: np.ndarray                       # [B, T, n] counts
    state: dict[str, np.ndarray] = field(default_factory=dict)
    overflow_events: int = 0
    synaptic_events: dict[str, int] = field(default_factory=dict)  # by synapse node


def run(graph: Graph, plan: Plan, inputs: dict[str, np.ndarray], record: set[str]) -> dict[str, PopulationRun]:
    """Simulate every neuron population; `inputs` maps Input names to [B, T, n]."""
    runs: dict[str, PopulationRun] = {name: PopulationRun(x) for name, x in inputs.items()}
    B, T = next(iter(inputs.values())).shape[:2]
    for name in graph.neuron_order():
        node = graph.nodes[name]
        ext = [(s, syn, runs[src]) for s, syn, src in graph.incoming(name) if src != name]
        rec = [(s, syn) for s, syn, src in graph.incoming(name) if src == name]
        runs[name] = RUNNERS[type(node)](node, ext, rec, record, (B, T), _input_flags(graph, ext), plan)
    return runs


def _input_flags(graph, ext):
    return [isinstance(graph.nodes[graph.synapse_source(s)], Input) for s, _, _ in ext]


def _external_sums(ext, plan, shape, dtype, syn_events):
    """Per external synapse: (name, synapse, delayed weight sums [B, T, n_post]); counts events."""
    for name, syn, src in ext:
        acc = np.zeros(shape, dtype)
        syn_events[name] = _accumulate(acc, delayed(src.spikes, syn.delay), plan, name)
        yield name, syn, acc


def _accumulate(acc, spikes, plan, syn_name) -> int:
    """Add every spike's fan-out into acc [B, T, n_post]; returns synaptic events."""
    ev, fo, dense = events(spikes), plan.fan_outs[syn_name], plan.dense_rows[syn_name]
    if dense is not None:
        w_t = dense.astype(acc.dtype, copy=False)
        return int(kernels.accumulate_dense(acc, ev.ptr, ev.neuron, ev.count, w_t, fo.row_lengths))
    weight = fo.weight.astype(acc.dtype, copy=False)
    return int(kernels.accumulate(acc, ev.ptr, ev.neuron, ev.count, fo.indptr, fo.post, weight))


_NO_FAN_OUT = fan_out(np.zeros((1, 1), np.int64))


def _single_recurrent(rec, plan):
    if len(rec) > 1:
        raise GraphError(f"population has {len(rec)} recurrent synapses; this target allows one")
    if not rec:
        return _NO_FAN_OUT, 0, 0, None
    name, syn = rec[0]
    return plan.fan_outs[name], syn.weight_exp, syn.delay, name


def run_loihi(node: LoihiLIF, ext, rec, record, shape, source_is_input, plan) -> PopulationRun:
    """Dense outputs per synapse (delayed events accumulated, shifted, int32), summed."""
    a_in, syn_events = np.zeros(shape + (node.size,), np.int64), {}
    for name, syn, acc in _external_sums(ext, plan, shape + (node.size,), np.int64, syn_events):
        a_in = loihi.wrap(a_in + loihi.dense_output(acc, syn.weight_exp), 32)
    fo, rec_exp, rec_delay, rec_name = _single_recurrent(rec, plan)
    vth_scaled = node.vth << loihi.ACT_SHIFT
    bias = loihi.effective_bias(node.bias_mant, node.bias_exp)
    spikes, u_tr, v_tr, n_over, n_rec = kernels.loihi_loop(
        a_in, node.du, node.dv, bias, vth_scaled, fo.indptr, fo.post, fo.weight, rec_exp, rec_delay,
        "u" in record, "v" in record)
    if rec_name:
        syn_events[rec_name] = int(n_rec)
    state = {k: tr for k, tr in (("u", u_tr), ("v", v_tr)) if k in record}
    return PopulationRun(spikes, state, int(n_over), syn_events)


def run_float(node: FloatLIF, ext, rec, record, shape, source_is_input, plan) -> PopulationRun:
    """Float64 sums per synapse, scaled by 2^weight_exp, into a float32 LIF."""
    a_in, syn_events = np.zeros(shape + (node.size,), np.float64), {}
    for name, syn, acc in _external_sums(ext, plan, shape + (node.size,), np.float64, syn_events):
        a_in += acc * 2.0 ** syn.weight_exp
    fo, rec_exp, rec_delay, rec_name = _single_recurrent(rec, plan)
    spikes, v_tr, i_tr, n_rec = kernels.float_loop(
        a_in, node.beta, node.alpha, node.vth, node.bias, node.reset == "soft", node.max_spikes,
        fo.indptr, fo.post, fo.weight.astype(np.float64), 2.0 ** rec_exp, rec_delay,
        "v" in record, "i_syn" in record)
    if rec_name:
        syn_events[rec_name] = int(n_rec)
    state = {k: tr for k, tr in (("v", v_tr), ("i_syn", i_tr)) if k in record}
    return PopulationRun(spikes, state, 0, syn_events)


def run_xylo(node: XyloIAF, ext, rec, record, shape, source_is_input, plan) -> PopulationRun:
    """External projections merged into one fan-out (delivery order kept), then recurrent."""
    B, T = shape
    x = _merged_external(ext, source_is_input, (B, T, 0))
    ev = events(x)
    e_ptr, e_post, e_w, e_port = _merged_fan_out([(s, syn) for s, syn, _ in ext], plan)
    r_ptr, r_post, r_w, r_port = _merged_fan_out(rec, plan)
    r_delay = np.array([syn.delay for _, syn in rec], np.int64)
    spikes, v_tr, i_tr, n_sat, n_ev = kernels.xylo_loop(
        ev.ptr, ev.neuron, ev.count, e_ptr, e_post, e_w, e_port, r_ptr, r_post, r_w, r_port, r_delay,
        xylo.MAX_HIDDEN_SPIKES, node.size, node.threshold, node.bias, node.dash_mem, node.dash_syn,
        node.max_spikes, B, T, "v" in record, "i_syn" in record)
    state = {k: tr for k, tr in (("v", v_tr), ("i_syn", i_tr)) if k in record}
    return PopulationRun(spikes, state, int(n_sat), {"(all)": int(n_ev)})


def _merged_external(ext, source_is_input, ext_shape):
    """Concatenate delayed source spikes along neurons; cap counts as Xylo does (15 in, 31 hidden)."""
    parts = [np.zeros(ext_shape, np.int64)]
    for (_, syn, src), from_input in zip(ext, source_is_input):
        parts.append(delayed(np.minimum(src.spikes, xylo.delivery_cap(from_input)), syn.delay))
    return np.ascontiguousarray(np.concatenate(parts, axis=2))


def _merged_fan_out(synapses: list[tuple[str, Synapse]], plan):
    """One CSR over stacked presynaptic rows; weights pre-shifted to Xylo's int16."""
    indptr, post, weight, port = [np.zeros(1, np.int64)], [], [], []
    for name, syn in synapses:
        fo = plan.fan_outs[name]
        indptr.append(fo.indptr[1:] + indptr[-1][-1])
        post.append(fo.post)
        weight.append(xylo.synaptic_weight(fo.weight, syn.weight_exp))
        port.append(np.full(fo.post.shape, syn.port, np.int64))
    cat = lambda parts: np.concatenate(parts) if parts else np.zeros(0, np.int64)  # noqa: E731
    return np.concatenate(indptr), cat(post), cat(weight), cat(port)


RUNNERS = {LoihiLIF: run_loihi, FloatLIF: run_float, XyloIAF: run_xylo}
