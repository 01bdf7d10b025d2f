"""Energy per sample from spike rasters and the target's table: every term says where it comes from.

A target's energy is a sum of terms, each one constant of its `energy` table
(joules per operation, with its source) times a count per sample. By default
the counts are the per-operation counters (synaptic events, neuron updates,
spikes; `per_inference.counters`); a target with a richer model supplies its
own (`Target.energy_counts`: Xylo's clock-cycle model).
"""
from __future__ import annotations

import numpy as np

from snnc.compiler.ir import Graph, Input
from snnc.targets import get as get_target
from snnc.targets.registry import kind_of

# energy term -> the per-operation counter it multiplies (targets without energy_counts)
TERMS = {"synaptic_op": "synaptic_events", "neuron_update": "neuron_updates", "spike_extra": "spikes"}
FACTORS = (0.5, 2.0)  # sensitivity: each estimated constant halved and doubled


def term_counts(graph, spikes: dict) -> dict[str, dict[str, np.ndarray]]:
    """term -> population -> operations per sample [B] (spikes batched: node -> [B, T, n])."""
    target = get_target(graph.target)
    if target.energy_counts is not None:
        return target.energy_counts(graph, spikes)
    count = counters(graph, spikes)
    return {term: {n: c[counter] for n, c in count.items()} for term, counter in TERMS.items()}


def joules(graph, spikes: dict) -> dict[str, dict[str, np.ndarray]]:
    """term -> population -> joules per sample [B]."""
    table = get_target(graph.target).energy
    return {term: {n: np.asarray(c, np.float64) * table[term].joules for n, c in per_node.items()}
            for term, per_node in term_counts(graph, spikes).items()}


def per_sample_total(energy: dict[str, dict[str, np.ndarray]]) -> np.ndarray:
    """Joules per sample [B], all terms and populations."""
    return sum(sum(per_node.values()) for per_node in energy.values())


def sensitivity(graph, terms_j: dict[str, float]) -> list[dict]:
    """How far the mean total moves when each estimated constant (and all of them together)
    is halved or doubled: one row per constant, JSON-ready."""
    table = get_target(graph.target).energy
    total = sum(terms_j.values())
    estimated = [t for t in terms_j if table[t].estimate]
    rows = [_row(t, terms_j[t], total) for t in estimated]
    if len(estimated) > 1:
        rows.append(_row("all estimates", sum(terms_j[t] for t in estimated), total))
    return rows


def _row(name: str, part: float, total: float) -> dict:
    moved = {f"x{f:g}": total + (f - 1.0) * part for f in FACTORS}
    return {"constant": name, "share": part / total if total else 0.0,
            **{f"total_j_{k}": v for k, v in moved.items()}}


def spread(values) -> dict:
    """Mean and spread over samples."""
    v = np.asarray(values, np.float64)
    return {"mean": float(np.mean(v)), "std": std(v)}


def std(v) -> float:
    """Spread over samples; exactly 0 when every sample costs the same (np.std leaves rounding noise)."""
    v = np.asarray(v, np.float64)
    return 0.0 if v.size == 0 or v.min() == v.max() else float(np.std(v))


def counters(graph: Graph, spikes: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """Per population: spikes, synaptic_events, neuron_updates, each [B] (input spikes included)."""
    out = {}
    for name, node in graph.neurons.items():
        s, cap = spikes[name], kind_of(node).delivery_cap
        events = np.zeros(s.shape[0], np.int64)
        for syn_name, syn, src in graph.incoming(name):
            per_step = None if cap is None else cap(isinstance(graph.nodes[src], Input))
            events += _delivered(spikes[src], syn.delay, per_step) @ syn.fan_out_counts()
        out[name] = {"spikes": s.sum(axis=(1, 2)), "synaptic_events": events,
                     "neuron_updates": np.full(s.shape[0], s.shape[1] * s.shape[2], np.int64)}
    return out


def _delivered(s, delay: int, cap: int | None) -> np.ndarray:
    """Spike counts per sample and presynaptic neuron that arrive within the run [B, n], at most `cap` a step."""
    s = s[:, : s.shape[1] - delay] if delay else s
    if cap is not None:
        s = np.minimum(s, cap)
    return s.sum(axis=1).astype(np.int64)
