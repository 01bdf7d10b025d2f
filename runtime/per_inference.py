"""Per-inference counters and energy: what one sample costs, never a batch total.

Counted from the spike trains themselves, per sample: spikes per population,
synaptic events (each delivered spike count times the presynaptic neuron's
fan-out, the count capped as the postsynaptic neuron kind delivers it: Xylo
takes at most 15 from inputs, 31 from hidden neurons) and neuron updates
(every neuron, every step). Energy per term uses the target's table
(`snnc targets` shows each constant's source).
"""
from __future__ import annotations

import numpy as np

from snnc.compiler.ir import Graph, Input
from snnc.targets import get as get_target
from snnc.targets.registry import kind_of


def counters(graph: Graph, spikes: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """Per population: spikes, synaptic_events, neuron_updates, each [B] (input spikes included)."""
    out = {}
    for name, node in graph.neurons.items():
        s, cap = spikes[name], kind_of(node).delivery_cap
        events = np.zeros(s.shape[0], np.int64)
        for syn_name, syn, src in graph.incoming(name):
            per_step = None if cap is None else cap(isinstance(graph.nodes[src], Input))
            events += _delivered(spikes[src], syn.delay, per_step) @ np.count_nonzero(syn.weights, axis=0)
        out[name] = {"spikes": s.sum(axis=(1, 2)), "synaptic_events": events,
                     "neuron_updates": np.full(s.shape[0], s.shape[1] * s.shape[2], np.int64)}
    return out


def _delivered(s, delay: int, cap: int | None) -> np.ndarray:
    """Spike counts per sample and presynaptic neuron that arrive within the run [B, n], at most `cap` a step."""
    s = s[:, : s.shape[1] - delay] if delay else s
    if cap is not None:
        s = np.minimum(s, cap)
    return s.sum(axis=1).astype(np.int64)


TERMS = {"synaptic_op": "synaptic_events", "neuron_update": "neuron_updates", "spike_extra": "spikes"}


def energy(graph: Graph, spikes: dict[str, np.ndarray]) -> dict:
    """Energy per inference (mean, std over samples), per term and per layer, with counters."""
    table = get_target(graph.target).energy
    count = counters(graph, spikes)
    per_sample = sum(count[n][c] * table[t].joules for n in count for t, c in TERMS.items())
    return {
        "energy_per_inference_j": {"mean": float(np.mean(per_sample)), "std": float(np.std(per_sample))},
        "terms_j": {t: float(np.mean(sum(count[n][c] for n in count)) * table[t].joules) for t, c in TERMS.items()},
        "per_layer": {n: {"spikes": float(np.mean(c["spikes"])), "synaptic_events": float(np.mean(c["synaptic_events"])),
                          "energy_j": float(np.mean(sum(c[k] * table[t].joules for t, k in TERMS.items())))}
                      for n, c in count.items()},
        "synaptic_events_per_inference": float(np.mean(sum(c["synaptic_events"] for c in count.values()))),
        "spikes_per_inference": float(np.mean(sum(c["spikes"] for c in count.values()))),
        "estimates": sorted(t for t in TERMS if table[t].estimate),
        "sources": {t: table[t].source for t in TERMS},
    }
