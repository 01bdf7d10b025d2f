"""Declarative target specs: widths, limits, energy constants with sources, design rules."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

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
    rules: tuple[DesignRule, ...] = field(default=())
    reference_executor: str = ""
    input_max: int | None = None   # largest input count per channel and step it accepts
    input_format: str = ""         # how its inputs are encoded, for the error message
    input_cap: int | None = None   # counts above this are clipped by the hardware (overflow events)

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
