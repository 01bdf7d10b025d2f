"""Per-inference counters, energy and latency: what one sample costs, never a batch total.

Counted from the spike trains themselves, per sample: spikes per population,
synaptic events (each delivered spike count times the presynaptic neuron's
fan-out, the count capped as the postsynaptic neuron kind delivers it: Xylo
takes at most 15 from inputs, 31 from hidden neurons) and neuron updates
(every neuron, every step). Energy per term uses the target's model
(`runtime.energy`; `snnc targets` shows each constant's source); every figure
is a mean over samples with its spread, so the batch size does not change it.
Latency: the steps a compiled graph answers after its input ends, and the
seconds they last at the target's stated time step.
"""
from __future__ import annotations

import numpy as np

from snnc.compiler.ir import Graph
from snnc.runtime.energy import TERMS, counters, joules, per_sample_total, sensitivity, spread, std
from snnc.targets import get as get_target

__all__ = ["TERMS", "counters", "energy", "latency"]


def energy(graph: Graph, spikes: dict[str, np.ndarray]) -> dict:
    """Energy per inference (mean, std over samples), per term and per layer, with counters.

    spikes: node -> [B, T, n] (inputs included). `sensitivity` lists how far the
    mean moves when each estimated constant is halved or doubled.
    """
    table = get_target(graph.target).energy
    count = counters(graph, spikes)
    e = joules(graph, spikes)
    per_sample = per_sample_total(e)
    terms_j = {t: float(np.mean(sum(per_node.values()))) for t, per_node in e.items()}
    return {
        "energy_per_inference_j": spread(per_sample),
        "terms_j": terms_j,
        "per_layer": _per_layer(graph, spikes, count, e),
        "synaptic_events_per_inference": float(np.mean(sum(c["synaptic_events"] for c in count.values()))),
        "spikes_per_inference": float(np.mean(sum(c["spikes"] for c in count.values()))),
        "estimates": sorted(t for t in e if table[t].estimate),
        "sources": {t: table[t].source for t in e},
        "sensitivity": sensitivity(graph, terms_j),
    }


def _per_layer(graph, spikes, count, e) -> dict:
    """Inputs (their spikes, any energy the model charges them) and every population."""
    rows = {}
    for name in [*graph.inputs, *graph.neurons]:
        c = count.get(name, {"spikes": np.asarray(spikes[name]).sum(axis=(1, 2)),
                             "synaptic_events": np.zeros(len(spikes[name]))})
        layer_j = sum((per_node[name] for per_node in e.values() if name in per_node),
                      np.zeros(len(c["spikes"])))
        rows[name] = {"spikes": float(np.mean(c["spikes"])), "synaptic_events": float(np.mean(c["synaptic_events"])),
                      "energy_j": float(np.mean(layer_j)), "energy_std_j": std(layer_j)}
    return rows


def latency(graph: Graph, steps: int) -> dict:
    """Latency in steps (the graph's `pad_steps`: how long after its input ends it answers) and
    seconds at the target's time step; `steps` is the whole inference (input plus padding)."""
    ts = get_target(graph.target).time_step
    lat = int(graph.metadata.get("pad_steps", 0))
    out = {"latency_steps": lat, "steps_per_inference": int(steps)}
    if ts is None:
        return {**out, "time_step_s": None, "latency_s": None, "inference_s": None,
                "time_step_source": f"'{graph.target}' has no clock: latency in steps only"}
    return {**out, "time_step_s": ts.seconds, "latency_s": lat * ts.seconds, "inference_s": steps * ts.seconds,
            "time_step_source": ts.source, "time_step_estimate": ts.estimate}


def energy_report(graph, spikes: dict) -> dict:
    """The run's energy: its total per term and node, and everything `energy` reports
    (per-inference mean and spread, per layer, sensitivity, sources)."""
    run = joules(graph, spikes)
    nodes = sorted({n for per_node in run.values() for n in per_node})
    return {"total_j": float(per_sample_total(run).sum()),
            "terms": {t: float(sum(v.sum() for v in per_node.values())) for t, per_node in run.items()},
            "per_node": {n: float(sum(e[n].sum() for e in run.values() if n in e)) for n in nodes},
            **energy(graph, spikes)}
