"""Declarative target specs: widths, limits, parameter ranges and energy constants
with sources, design rules, and the neuron kinds a target runs."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from snnc.errors import DesignRuleError

DesignRule = Callable[["object"], None]  # rule(graph) raises DesignRuleError
CHECK_MODES = ("error", "warn")


def capacity_rule(rule: DesignRule) -> DesignRule:
    """Mark `rule` as a capacity rule (sizes, fan-out, cores): the graph is still
    well defined when it breaks one, only too big for the chip, so a simulation
    may run it when asked (`check="warn"`). Other rules guard the semantics."""
    rule.capacity = True
    return rule


def is_capacity_rule(rule: DesignRule) -> bool:
    return getattr(rule, "capacity", False)


@dataclass(frozen=True)
class EnergyConstant:
    """One energy figure in joules, with where it comes from."""

    joules: float
    source: str
    estimate: bool = False  # True where no published measurement exists


@dataclass(frozen=True)
class TimeStep:
    """How long one algorithmic time step lasts on the chip, and where that comes from."""

    seconds: float
    source: str
    estimate: bool = False  # True where the chip's step is not a stated figure


@dataclass(frozen=True)
class Range:
    """Inclusive bounds of one integer parameter, and where they come from.

    `bits`: the field's width, by default the fewest bits (two's complement
    when lo < 0) that hold [lo, hi]; `register_bits` where the chip's field
    is known to be wider than the values it may hold.
    """

    lo: int
    hi: int
    source: str
    register_bits: int | None = None

    @property
    def bounds(self) -> tuple[int, int]:
        return self.lo, self.hi

    @property
    def bits(self) -> int:
        if self.register_bits is not None:
            return self.register_bits
        magnitude = max(self.hi.bit_length(), (-self.lo - 1).bit_length() if self.lo < 0 else 0)
        return magnitude + (self.lo < 0)

    def holds(self, values) -> bool:
        """Whether every value lies in [lo, hi] (an empty array does)."""
        arr = np.asarray(values)
        return arr.size == 0 or (arr.min() >= self.lo and arr.max() <= self.hi)

    def __str__(self) -> str:
        return f"[{self.lo}, {self.hi}]"


@dataclass(frozen=True)
class StateVar:
    """One state variable of a neuron kind: how the simulators hold it, how wide it is on the chip.

    Shape (size,), or (size, getattr(node, axis)) where `axis` names a node
    attribute (Xylo's n_syn synaptic states). `aliases`: other names
    `simulate(record=...)` accepts for it (Loihi's u is the synaptic current i_syn).
    """

    dtype: type
    bits: int
    axis: str | None = None
    aliases: tuple[str, ...] = ()
    initial: int | float = 0

    def shape(self, node) -> tuple[int, ...]:
        return (node.size,) if self.axis is None else (node.size, getattr(node, self.axis))


@dataclass(frozen=True)
class NeuronKind:
    """How one IR neuron class runs on its target; the target's file registers it.

    state: its state variables in order (the node class lists the same names
      as `state_vars`).
    run_events(node, pop) -> PopulationRun: the whole population over [B, T]
      in the event-driven engine. `pop` (runtime.event.Population) hands over
      the delayed external input and the recurrent synapses, counts the
      synaptic events and builds the result.
    step(node, state, arriving) -> (spikes [n], overflow events): one step of
      the dense reference, in place on `state`; `arriving` lists (synapse,
      presynaptic counts delivered now) in canonical delivery order.
    delivery_cap(from_input) -> int: the most spikes one presynaptic neuron
      delivers per step (None: no cap); both engines apply it before delivery.
    """

    node: type
    state: dict[str, StateVar]
    run_events: Callable
    step: Callable
    delivery_cap: Callable[[bool], int] | None = None
    onnx: str = ""   # "module:attribute" of its ONNX lowering (compiler/export/onnx_kinds.py), imported on use

    @property
    def name(self) -> str:
        return self.node.__name__

    def initial_state(self, node) -> dict[str, np.ndarray]:
        return {var: np.full(sv.shape(node), sv.initial, sv.dtype) for var, sv in self.state.items()}

    def own_name(self, var: str) -> str | None:
        """This kind's name for a requested state variable (itself or an alias), or None."""
        for name, sv in self.state.items():
            if var == name or var in sv.aliases:
                return name
        return None

    def recorded(self, requested) -> set[str]:
        """Own names of the requested state variables this kind has."""
        return {own for own in map(self.own_name, requested) if own is not None}

    def widths(self) -> dict[str, int]:
        return {var: sv.bits for var, sv in self.state.items()}


@dataclass(frozen=True)
class Target:
    """A compilation target: what each integer means on it and what fits on it."""

    name: str
    description: str
    neuron_kinds: tuple[str, ...]          # IR neuron classes this target runs
    widths: dict[str, int]                 # state/weight bit widths
    overflow: str                          # "wrap", "saturate" or "none"
    limits: dict[str, int]
    energy: dict[str, EnergyConstant]
    limit_sources: dict[str, str] = field(default_factory=dict)  # limit -> where it comes from
    ranges: dict[str, Range] = field(default_factory=dict)  # parameter -> allowed values, with source
    rules: tuple[DesignRule, ...] = field(default=())
    reference_executor: str = ""
    usage: Callable | None = None  # usage(graph) -> resources used and their limits ({"x": n, "x_limit": m})
    input_max: int | None = None   # largest input count per channel and step it accepts
    input_format: str = ""         # how its inputs are encoded, for the error message
    input_cap: int | None = None   # counts above this are clipped by the hardware (overflow events)
    time_step: TimeStep | None = None  # None: no clock (latency only in steps)
    # energy_counts(graph, spikes {node: [B, T, n]}) -> {term: {node: [B] counts}}, one term per
    # `energy` constant; None: per-operation counters (synaptic events, neuron updates, spikes)
    energy_counts: Callable | None = None
    # What its graphs are, and how they are built and checked. The flow and the executors
    # live in higher layers (passes, runners of other people's tools): they are named as
    # "module:attribute" and imported on use (`registry.resolve`), so a spec imports none.
    graphs: tuple[str, ...] = ("spiking",)  # "spiking" (neuron populations), "dense" (Gemm/PWL/Relu/Step)
    integer: bool = True                   # False: float32 arithmetic (ideal)
    analog_input: bool = False             # a binary net's first layer takes analog input (one step)
    flow: str = ""                         # -> () -> (float passes, integer passes)
    executors: dict[str, str] = field(default_factory=dict)  # backend -> run(graph, padded x [B, T, N]) ->
    #                                        {population: {"spikes", "v"}}: the independent executors (written by
    #                                        others: Lava, xylosim, onnxruntime), the first one the default
    # synapse_delay(from_input, recurrent) -> the delay every synapse gets on the chip, or None
    # (the trained one is kept); compiler/passes/latency.py pads the input to absorb it
    synapse_delay: Callable | None = None
    # backends that run an export in snnc's own simulator again (a round trip): they check the
    # export, not the arithmetic, and are reported apart from `executors`' agreement
    round_trips: dict[str, str] = field(default_factory=dict)
    float_form: Callable | None = None     # graph -> its float (ideal) equivalent, for NIR export
    exports: dict[str, str] = field(default_factory=dict)   # its own export formats -> writer module
    # weight_grid(compiled, hidden) -> {trained parameter: (step, lo, hi)}: the integer grid its quantiser
    # put each trained weight on (`snnc adapt` trains on it); "" where it has none
    weight_grid: str = ""
    # the fidelity gate: the largest test-accuracy drop (deployed against the PyTorch model) that
    # `compile` writes a graph for and `verify` passes; our choice per chip (--max-drop overrides)
    max_drop: float = 0.01
    # compile options its flow's passes read from CompileContext.options (loihi: "weight_split");
    # compile_net refuses any other in one line
    options: tuple[str, ...] = ()
    # what to try when the fidelity gate names quantisation (compile's refusal says it), e.g. Loihi's options
    precision_hint: str = ""

    capacity_rule = staticmethod(capacity_rule)  # `@Target.capacity_rule` where only Target is imported

    def check(self, graph, capacity: str = "error") -> list[DesignRuleError]:
        """Run every design rule and return the capacity violations.

        A broken non-capacity rule always raises DesignRuleError. A broken
        capacity rule raises too (capacity="error"), or is returned
        (capacity="warn"): the first violation of each such rule.
        """
        if capacity not in CHECK_MODES:
            raise ValueError(f"capacity must be one of {CHECK_MODES}, got {capacity!r}")
        for name, node in graph.neurons.items():
            if type(node).__name__ not in self.neuron_kinds:
                raise DesignRuleError("neuron-kind", name, f"{type(node).__name__} does not run on "
                                      f"'{self.name}' (expects {', '.join(self.neuron_kinds)})")
        violations = []
        for rule in self.rules:
            try:
                rule(graph)
            except DesignRuleError as exc:
                if capacity == "error" or not is_capacity_rule(rule):
                    raise
                violations.append(exc)
        return violations
