"""Dense time-stepped reference: deliberately simple, same target arithmetic.

Steps time in the outer loop and every population in dependency order in
the inner loop; synaptic input is a dense matrix product (Loihi, ideal) or
a per-presynaptic-neuron loop of saturating adds (Xylo). It shares only the
targets' `@kernel` arithmetic with the event-driven core, so the two agree
bit for bit exactly when delivery, delays and ordering are right.
"""
from __future__ import annotations

import numpy as np

from snnc.compiler.ir import FloatLIF, Graph, Input, LoihiLIF, XyloIAF
from snnc.runtime.event import PopulationRun
from snnc.targets import ideal, loihi, xylo


def run(graph: Graph, plan, inputs: dict[str, np.ndarray], record: set[str]) -> dict[str, PopulationRun]:
    """Same contract as the event-driven `run`; needs nothing from the plan."""
    B, T = next(iter(inputs.values())).shape[:2]
    return {**{k: PopulationRun(v) for k, v in inputs.items()}, **_run_batch(graph, inputs, record, B, T)}


def _run_batch(graph, inputs, record, B, T):
    order = graph.neuron_order()
    out = {n: _empty_run(graph.nodes[n], B, T, record) for n in order}
    for b in range(B):
        spikes = {k: v[b] for k, v in inputs.items()}
        spikes.update({n: out[n].spikes[b] for n in order})
        state = {n: _initial_state(graph.nodes[n]) for n in order}
        for t in range(T):
            for n in order:
                _step(graph, n, state[n], spikes, t, out[n])
                out[n].spikes[b, t] = state[n]["s"]
                for var in out[n].state:
                    out[n].state[var][b, t] = state[n][var]
    return out


def _empty_run(node, B, T, record):
    dtype = np.float32 if isinstance(node, FloatLIF) else np.int64
    shapes = {"u": (node.size,), "v": (node.size,),
              "i_syn": (node.size, node.n_syn) if isinstance(node, XyloIAF) else (node.size,)}
    state = {v: np.zeros((B, T) + shapes[v], dtype) for v in node.state_vars if v in record}
    return PopulationRun(np.zeros((B, T, node.size), np.int64), state, 0, {})


def _initial_state(node):
    if isinstance(node, XyloIAF):
        return {"v": np.zeros(node.size, np.int64), "i_syn": np.zeros((node.size, node.n_syn), np.int64)}
    if isinstance(node, FloatLIF):
        return {"v": np.zeros(node.size, np.float32), "i_syn": np.zeros(node.size, np.float32)}
    return {"u": np.zeros(node.size, np.int64), "v": np.zeros(node.size, np.int64)}


def _presynaptic(graph, src, spikes, t, delay):
    """Spike counts of `src` that arrive at step t (zeros before the first)."""
    if t - delay < 0:
        return np.zeros(graph.nodes[src].out_size, np.int64)
    return spikes[src][t - delay]


def _step(graph, name, state, spikes, t, run):
    node = graph.nodes[name]
    if isinstance(node, LoihiLIF):
        a = np.zeros(node.size, np.int64)
        for syn_name, syn, src in graph.incoming(name):
            s_pre = _presynaptic(graph, src, spikes, t, syn.delay)
            a = loihi.wrap(a + loihi.dense_output(syn.weights @ s_pre, syn.weight_exp), 32)
            _count(run, syn_name, int(np.count_nonzero(syn.weights, axis=0) @ s_pre))
        bias = loihi.effective_bias(node.bias_mant, node.bias_exp)
        s, n_o = loihi.lif_step(state["u"], state["v"], a, node.du, node.dv, bias, node.vth << loihi.ACT_SHIFT)
    elif isinstance(node, XyloIAF):
        n_o = sum(_xylo_deliver(graph, state, spikes, t, syn_name, syn, src, run)
                  for syn_name, syn, src in graph.incoming(name))
        s, n_s = xylo.iaf_step(state["v"], state["i_syn"], node.threshold, node.bias, node.dash_mem,
                               node.dash_syn, node.max_spikes)
        n_o += n_s
    else:
        a = np.zeros(node.size, np.float64)
        for syn_name, syn, src in graph.incoming(name):
            s_pre = _presynaptic(graph, src, spikes, t, syn.delay)
            a += (syn.weights.astype(np.float64) @ s_pre) * 2.0 ** syn.weight_exp
            _count(run, syn_name, int(np.count_nonzero(syn.weights, axis=0) @ s_pre))
        s, n_o = ideal.float_lif_step(state["v"], state["i_syn"], a, node.beta, node.alpha, node.vth, node.bias,
                                      node.reset == "soft", node.max_spikes)
    state["s"] = s
    run.overflow_events += int(n_o)


def _xylo_deliver(graph, state, spikes, t, syn_name, syn, src, run):
    """Each presynaptic neuron in turn: count x int16 weight, saturating per add."""
    cap = xylo.delivery_cap(isinstance(graph.nodes[src], Input))
    s_pre = _presynaptic(graph, src, spikes, t, syn.delay)
    w = xylo.synaptic_weight(syn.weights, syn.weight_exp)
    n_sat = 0
    i_syn = state["i_syn"]
    for j in np.flatnonzero(s_pre):
        raw = i_syn[:, syn.port] + min(s_pre[j], cap) * w[:, j]
        i_syn[:, syn.port] = xylo.sat16(raw)
        n_sat += int(np.sum((i_syn[:, syn.port] != raw) & (w[:, j] != 0)))
        _count(run, "(all)", int(min(s_pre[j], cap) * np.count_nonzero(w[:, j])))
    return n_sat


def _count(run, syn_name, n):
    run.synaptic_events[syn_name] = run.synaptic_events.get(syn_name, 0) + n

