"""Event-driven simulator: populations in dependency order, each over all steps.

Feed-forward projections are delivered from the already simulated source's
event list (CSR fan-out per spike); a population's own recurrent projections
are delivered inside its numba loop. Delays >= 1 on every cycle make this
exact. What a population does with its input is its neuron kind's
(`snnc.targets`, `NeuronKind.run_events`); this file delivers the input.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from snnc.compiler.ir import Graph, Input, Synapse
from snnc.errors import GraphError
from snnc.runtime import kernels
from snnc.runtime.csr import Events, FanOut, delayed, events, fan_out
from snnc.runtime.plan import Plan
from snnc.targets.registry import kind_of


@dataclass
class PopulationRun:
    spikes: np.ndarray                       # [B, T, n] counts
    state: dict[str, np.ndarray] = field(default_factory=dict)
    overflow_events: int = 0
    synaptic_events: dict[str, int] = field(default_factory=dict)  # by synapse node
    spike_total: int | None = None            # spikes.sum() where the engine counted it (runtime/fused.py)


def run(graph: Graph, plan: Plan, inputs: dict[str, np.ndarray], record: set[str]) -> dict[str, PopulationRun]:
    """Simulate every neuron population; `inputs` maps Input names to [B, T, n]."""
    runs: dict[str, PopulationRun] = {name: PopulationRun(x) for name, x in inputs.items()}
    shape = next(iter(inputs.values())).shape[:2]
    for name in graph.neuron_order():
        kind = kind_of(graph.nodes[name])
        runs[name] = kind.run_events(graph.nodes[name], Population(graph, plan, runs, name, kind, record, shape))
    return runs


class Recurrent(NamedTuple):
    fan_out: FanOut
    weight_exp: int
    delay: int     # 0: no recurrent synapse


_NO_FAN_OUT = fan_out(np.zeros((1, 1), np.int64))


class Population:
    """What the event engine hands a neuron kind's `run_events`: one population's
    delayed external input and recurrent synapses, and the state variables to
    keep. It counts the synaptic events it delivers and builds the result."""

    def __init__(self, graph: Graph, plan: Plan, runs: dict[str, PopulationRun], name: str, kind,
                 record: set[str], shape: tuple[int, int]):
        incoming = graph.incoming(name)
        self.shape = shape                          # (B, T)
        self.size = graph.nodes[name].size          # neurons
        self.record = kind.recorded(record)         # the kind's own names of the variables to keep
        self.cap = kind.delivery_cap
        self.external = [(s, syn, runs[src], isinstance(graph.nodes[src], Input))
                         for s, syn, src in incoming if src != name]
        self.external_synapses = [(s, syn) for s, syn, _, _ in self.external]
        self.recurrent_synapses = [(s, syn) for s, syn, src in incoming if src == name]
        self._plan = plan
        self._events: dict[str, int] = {}

    def _arriving(self, spikes: np.ndarray, from_input: bool, delay: int) -> np.ndarray:
        """Source spikes as delivered: capped per presynaptic neuron, `delay` steps later."""
        capped = self.cap is not None and spikes.max(initial=0) > self.cap(from_input)
        return delayed(np.minimum(spikes, self.cap(from_input)) if capped else spikes, delay)

    def external_sums(self, dtype):
        """Per external synapse in delivery order: (synapse, delayed weight sums [B, T, n_post]) in
        `dtype`, or in int32 where the plan proves every sum fits (`Plan.accumulator`)."""
        for name, syn, src, from_input in self.external:
            acc = np.zeros(self.shape + (syn.out_size,), self._plan.accumulator(name, dtype))
            cap = -1 if self.cap is None else self.cap(from_input)
            self._events[name] = _accumulate(acc, src.spikes, syn.delay, cap, self._plan, name)
            conv = self._plan.convs.get(name)
            yield (syn if conv is None else conv.joined), acc   # a conv's sums join as its target says

    def joined_input(self, dtype, join):
        """(input [B, T, n], the synapse it holds or None). With exactly one external synapse: that
        synapse's sums as they are, and the synapse (the kind applies its output inside its loop: no
        second array); else every synapse's sums joined by `join(a_in, sums, synapse)` into one zero
        array of `dtype`, and None."""
        sums = self.external_sums(dtype)
        first, second = next(sums, None), next(sums, None)
        if first is not None and second is None:
            syn, acc = first
            return acc, syn
        a_in = np.zeros(self.shape + (self.size,), dtype)
        for syn, acc in [s for s in (first, second) if s is not None] + list(sums):
            join(a_in, acc, syn)
        return a_in, None

    def recurrent(self) -> Recurrent:
        """The population's one recurrent synapse (delay 0 and no fan-out when it has none)."""
        if len(self.recurrent_synapses) > 1:
            raise GraphError(f"population has {len(self.recurrent_synapses)} recurrent synapses; "
                             "this target allows one")
        if not self.recurrent_synapses:
            return Recurrent(_NO_FAN_OUT, 0, 0)
        name, syn = self.recurrent_synapses[0]
        return Recurrent(self._plan.fan_outs[name], syn.weight_exp, syn.delay)

    def merged_events(self) -> Events:
        """All external source spikes side by side along neurons (rows in delivery order), as events."""
        parts = [self._arriving(src.spikes, from_input, syn.delay) for _, syn, src, from_input in self.external]
        if len(parts) == 1:
            return events(parts[0])
        return events(np.concatenate([np.zeros(self.shape + (0,), np.int64), *parts], axis=2))

    @property
    def derived(self) -> dict:
        """What a neuron kind builds once per plan (keyed by the kind)."""
        return self._plan.derived

    def merged_fan_out(self, synapses: list[tuple[str, Synapse]], weight):
        """One CSR (indptr, post, weight, port) over the synapses' stacked presynaptic rows;
        `weight(w, weight_exp)` gives the value a spike adds. Built once per plan."""
        key = ("merged", tuple(name for name, _ in synapses), weight)
        if key not in self._plan.derived:
            self._plan.derived[key] = self._merge(synapses, weight)
        return self._plan.derived[key]

    def _merge(self, synapses, weight):
        indptr, post, weights, port = [np.zeros(1, np.int64)], [], [], []
        for name, syn in synapses:
            fo = self._plan.fan_outs[name]
            indptr.append(fo.indptr[1:] + indptr[-1][-1])
            post.append(fo.post)
            weights.append(weight(fo.weight, syn.weight_exp))
            port.append(np.full(fo.post.shape, syn.port, np.int64))
        cat = lambda parts: np.concatenate(parts) if parts else np.zeros(0, np.int64)  # noqa: E731
        return np.concatenate(indptr), cat(post), cat(weights), cat(port)

    def result(self, spikes, traces: dict[str, np.ndarray], overflow, loop_events=0) -> PopulationRun:
        """The population's run: spikes, the recorded traces, overflow events, and the synaptic
        events delivered here and inside the kind's loop (recurrent, or merged external)."""
        state = {var: tr for var, tr in traces.items() if var in self.record}
        return PopulationRun(spikes, state, int(overflow), {**self._events, "(loop)": int(loop_events)})


def _accumulate(acc, spikes, delay: int, cap: int, plan, syn_name) -> int:
    """Add every spike's fan-out (at most `cap` per presynaptic neuron and step; -1: no cap),
    `delay` steps later, into acc [B, T, n_post]; returns synaptic events."""
    if syn_name in plan.convs:   # a Conv2d walks its kernel (runtime/conv.py)
        return plan.convs[syn_name].deliver(acc, spikes, delay, cap)
    fo, nnz = plan.fan_outs[syn_name], plan.events_per_spike[syn_name]
    w_t, weight = plan.weights_as(syn_name, acc.dtype)
    w_t = np.zeros((0, acc.shape[2]), acc.dtype) if w_t is None else w_t
    spikes = np.ascontiguousarray(spikes, dtype=np.int64)
    return int(kernels.deliver(acc, spikes, delay, cap, fo.indptr, fo.post, weight, w_t, nnz))
