"""Dense time-stepped reference: deliberately simple, same target arithmetic.

Steps time in the outer loop and every population in dependency order in
the inner loop; each step hands a population the presynaptic counts that
arrive now (delays applied, delivery caps applied, synaptic events counted)
and its neuron kind's `step` does the rest (a dense matrix product on Loihi
and ideal, a per-presynaptic-neuron loop of saturating adds on Xylo). It
shares only the targets' `@kernel` arithmetic with the event-driven core, so
the two agree bit for bit exactly when delivery, delays and ordering are right.
"""
from __future__ import annotations

import numpy as np

from snnc.compiler.ir import Conv2d, Graph, Input
from snnc.runtime.conv import reference_view
from snnc.runtime.event import PopulationRun
from snnc.targets.registry import kind_of


def run(graph: Graph, plan, inputs: dict[str, np.ndarray], record: set[str]) -> dict[str, PopulationRun]:
    """Same contract as the event-driven `run`; needs nothing from the plan."""
    B, T = next(iter(inputs.values())).shape[:2]
    return {**{k: PopulationRun(v) for k, v in inputs.items()}, **_run_batch(graph, inputs, record, B, T)}


def _run_batch(graph, inputs, record, B, T):
    order = graph.neuron_order()
    nodes = {n: graph.nodes[n] for n in order}
    kinds = {n: kind_of(node) for n, node in nodes.items()}
    out = {n: _empty_run(nodes[n], kinds[n], B, T, record) for n in order}
    for b in range(B):
        spikes = {k: v[b] for k, v in inputs.items()}
        spikes.update({n: out[n].spikes[b] for n in order})
        state = {n: kinds[n].initial_state(nodes[n]) for n in order}
        for t in range(T):
            for n in order:
                arriving = _arriving(graph, n, kinds[n], spikes, t, out[n])
                s, n_o = kinds[n].step(nodes[n], state[n], arriving)
                out[n].spikes[b, t] = s
                out[n].overflow_events += int(n_o)
                for var in out[n].state:
                    out[n].state[var][b, t] = state[n][var]
    return out


def _empty_run(node, kind, B, T, record):
    state = {var: np.zeros((B, T) + sv.shape(node), sv.dtype)
             for var, sv in kind.state.items() if var in kind.recorded(record)}
    return PopulationRun(np.zeros((B, T, node.size), np.int64), state, 0, {})


def _arriving(graph, name, kind, spikes, t, run):
    """(synapse, presynaptic counts delivered at step t) in delivery order; counts synaptic events."""
    arriving = []
    for syn_name, syn, src in graph.incoming(name):
        s_pre = _presynaptic(graph, src, spikes, t, syn.delay)
        if kind.delivery_cap is not None:
            s_pre = np.minimum(s_pre, kind.delivery_cap(isinstance(graph.nodes[src], Input)))
        _count(run, syn_name, int(syn.fan_out_counts() @ s_pre))
        arriving.append((reference_view(graph.target, syn_name, syn) if isinstance(syn, Conv2d) else syn, s_pre))
    return arriving


def _presynaptic(graph, src, spikes, t, delay):
    """Spike counts of `src` that arrive at step t (zeros before the first)."""
    if t - delay < 0:
        return np.zeros(graph.nodes[src].out_size, np.int64)
    return spikes[src][t - delay]


def _count(run, syn_name, n):
    run.synaptic_events[syn_name] = run.synaptic_events.get(syn_name, 0) + n
