"""Energy from counters and the target's table: every term says where it comes from."""
from __future__ import annotations

from snnc.targets import get as get_target

# energy term -> the counter it multiplies
TERMS = {"synaptic_op": "synaptic_events", "neuron_update": "neuron_updates", "spike_extra": "spikes"}


def energy_report(graph, stats: dict[str, dict[str, int]]) -> dict:
    """Joules per term, per neuron population and in total."""
    table = get_target(graph.target).energy
    per_node = {}
    for name in graph.neurons:
        per_node[name] = {term: stats[name][counter] * table[term].joules for term, counter in TERMS.items()}
    terms = {term: sum(node[term] for node in per_node.values()) for term in TERMS}
    return {"total_j": sum(terms.values()), "terms": terms,
            "per_node": {n: sum(t.values()) for n, t in per_node.items()},
            "sources": {term: table[term].source for term in TERMS},
            "estimates": sorted(term for term in TERMS if table[term].estimate)}
