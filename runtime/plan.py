"""Per-graph preparation, done once: validation, design rules and fan-out tables.

A graph's plan is cached on the graph and rebuilt when any node, array
(validated arrays are read-only, so they can only be replaced) or edge
changes. Repeated simulations of one graph then pay only for the spikes.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, field

import numpy as np

from snnc.compiler.ir import Conv2d, Graph, Input, Synapse, check_graph
from snnc.errors import DesignRuleError
from snnc.runtime.conv import ConvPlan, conv_plan
from snnc.runtime.csr import FanOut, fan_out
from snnc.targets import get as get_target

DENSE_ROWS_MIN_DENSITY = 0.3  # above this a fan-out row is added as a contiguous vector


@dataclass
class Plan:
    signature: tuple
    fan_outs: dict[str, FanOut] = field(default_factory=dict)
    dense_rows: dict[str, np.ndarray | None] = field(default_factory=dict)  # (n_pre, n_post) or None
    violations: list = field(default_factory=list)  # broken capacity rules (DesignRuleError)
    # per synapse: the largest |weight sum| one postsynaptic neuron can receive in a step (None: unbounded
    # input counts); an integer sum below 2^31 accumulates exactly in int32 lanes (below 2^15 in the
    # fused loop's int16 lanes, `runtime.fused`)
    sum_bound: dict[str, int | None] = field(default_factory=dict)
    events_per_spike: dict[str, np.ndarray] = field(default_factory=dict)   # Synapse.fan_out_counts, int64
    convs: dict[str, ConvPlan] = field(default_factory=dict)   # Conv2d synapses (runtime/conv.py), no CSR
    derived: dict = field(default_factory=dict)   # what is built once per plan: cast weights, merged fan-outs

    def weights_as(self, name: str, dtype) -> tuple[np.ndarray | None, np.ndarray]:
        """(dense rows, CSR weights) of synapse `name` in `dtype`, cast once per plan."""
        key = ("cast", name, np.dtype(dtype).str)
        if key not in self.derived:
            rows = self.dense_rows[name]
            self.derived[key] = (None if rows is None else np.ascontiguousarray(rows, dtype),
                                 np.ascontiguousarray(self.fan_outs[name].weight, dtype))
        return self.derived[key]

    def accumulator(self, name: str, dtype) -> np.dtype:
        """The dtype synapse `name`'s sums accumulate in for a kind asking `dtype`: int32 where every
        sum provably fits (`sum_bound` < 2^31: twice the lanes of int64), else `dtype` itself."""
        dtype = np.dtype(dtype)
        bound = self.sum_bound.get(name)
        return np.dtype(np.int32) if dtype.kind == "i" and bound is not None and bound < 2**31 else dtype


def prepare(graph: Graph, check: str = "error") -> Plan:
    """Validated plan of `graph`, from cache when nothing changed.

    check="error" raises the first broken capacity rule; "warn" keeps them
    in `plan.violations`. Other design rules always raise.
    """
    plan = _cached_or_new(graph)
    if check == "error" and plan.violations:
        first = plan.violations[0]  # a fresh exception: the cached one would pile up tracebacks
        raise DesignRuleError(first.rule, first.node, first.detail)
    return plan


def _cached_or_new(graph: Graph) -> Plan:
    cached, sig = graph.__dict__.get("_plan"), signature(graph)
    if cached is not None and same(cached.signature, sig):
        cached.signature = sig   # equal values now held by identity: the next call takes the fast path
        return cached
    check_graph(graph)
    # Capacity violations are kept, not raised, so one cached plan serves both modes.
    plan = Plan(sig, violations=get_target(graph.target).check(graph, capacity="warn"))
    for name, syn in graph.of_type(Synapse).items():
        if isinstance(syn, Conv2d):
            plan.convs[name] = conv_plan(graph.target, name, syn)
            kernel = plan.convs[name].kernel   # one term per (input channel, tap) reaches an output a step
            plan.sum_bound[name] = _sum_bound(graph, name, kernel.reshape(kernel.shape[0], -1))
            continue
        plan.fan_outs[name] = fan_out(syn.weights)
        dense = np.count_nonzero(syn.weights) >= DENSE_ROWS_MIN_DENSITY * syn.weights.size
        plan.dense_rows[name] = np.ascontiguousarray(syn.weights.T) if dense else None
        plan.sum_bound[name] = _sum_bound(graph, name, syn.weights)
        plan.events_per_spike[name] = np.asarray(syn.fan_out_counts(), np.int64)
    graph.__dict__["_plan"] = plan
    return plan


def signature(graph: Graph) -> tuple:
    """Identity of everything that affects a simulation: (target, edges, every node's name, object,
    field count, field names and values, flat). The values are held, so no id is reused while the
    plan lives; `same` compares them (arrays by identity: they are read-only)."""
    fields = []
    for name, node in graph.nodes.items():
        own = vars(node)
        fields += (name, node, len(own), *own, *own.values())
    return graph.target, tuple(graph.edges), tuple(fields)


def same(old: tuple, new: tuple) -> bool:
    """Whether two signatures describe the same simulation: every field the same object (the
    common case, one C-level pass), else equal, arrays by identity only."""
    if old[:2] != new[:2] or len(old[2]) != len(new[2]):
        return False
    if all(map(operator.is_, old[2], new[2])):
        return True
    return all(a is b or not isinstance(a, np.ndarray) and not isinstance(b, np.ndarray) and a == b
               for a, b in zip(old[2], new[2]))


def _sum_bound(graph: Graph, name: str, rows: np.ndarray) -> int | None:
    """max over postsynaptic neurons of sum |w| x (most spikes a presynaptic neuron sends a step), for
    synapse `name` whose weights reaching one postsynaptic neuron a step are at most one row of `rows`
    (a Synapse: its weights; a Conv2d: its target kernel, a row per output channel); None for float
    weights or when the source's counts are unbounded (an Input without a cap)."""
    if rows.dtype.kind not in "iu":
        return None
    src = graph.nodes[graph.synapse_source(name)]
    if isinstance(src, Input):
        target = get_target(graph.target)
        caps = [c for c in (target.input_max, target.input_cap) if c is not None]
        count = min(caps) if caps else None
    else:
        count = int(np.max(getattr(src, "max_spikes", 1)))
    if count is None:
        return None
    return int(np.abs(rows.astype(np.int64)).sum(axis=1).max(initial=0)) * count
