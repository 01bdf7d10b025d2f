"""Declarative target specs: widths, limits, energy constants with sources, design rules."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from snnc.errors import DesignRuleError

DesignRule = Callable[["object"], None]  # rule(graph) raises DesignRuleError


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
    rules: tuple[DesignRule, ...] = field(default=())
    reference_executor: str = ""
    input_max: int | None = None   # largest input count per channel and step it accepts
    input_format: str = ""         # how its inputs are encoded, for the error message
    input_cap: int | None = None   # counts above this are clipped by the hardware (overflow events)

    def check(self, graph) -> None:
        """Run every design rule; the first violation raises DesignRuleError."""
        for name, node in graph.neurons.items():
            if type(node).__name__ not in self.neuron_kinds:
                raise DesignRuleError("neuron-kind", name, f"{type(node).__name__} does not run on "
                                      f"'{self.name}' (expects {', '.join(self.neuron_kinds)})")
        for rule in self.rules:
            rule(graph)
