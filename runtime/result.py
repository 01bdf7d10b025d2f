"""What a simulation returns (both engines, the dense executor too)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np


class DesignRuleWarning(UserWarning):
    """A capacity design rule is broken but the simulation runs (check="warn")."""


@dataclass
class SimResult:
    """Spikes, recorded states, counters and energy of one simulation."""

    target: str
    steps: int
    batch: int | None                         # None when the input was [T, N]
    spikes: dict[str, np.ndarray]             # node -> [T, n] or [B, T, n]
    state: dict[str, dict[str, np.ndarray]]   # node -> var -> [.., n] (values after each step)
    # (stats: node -> counters, totals: counter -> sum), or the function that computes them on the
    # first read of `stats` or `totals` (a run nobody asks the counters of does not pay for them)
    counters: tuple | Callable[[], tuple] = field(default=({}, {}), repr=False)
    # energy_per_inference_j, total_j (the run's), terms, per_node, sources: the dict, or the function that
    # computes it on the first read of `energy` (a run nobody asks the energy of does not pay for it)
    energy_report: dict | Callable[[], dict] = field(default_factory=dict, repr=False)
    latency: dict = field(default_factory=dict)  # latency_steps, latency_s at the target's time step
    violations: list[dict] = field(default_factory=list)  # capacity rules broken (check="warn"): rule, node, detail

    @property
    def stats(self) -> dict[str, dict[str, int]]:
        """Per node: spikes, synaptic_events, neuron_updates, overflow_events (the dense executor's
        own counters for its layers), computed once, when first read."""
        return self._counters()[0]

    @property
    def totals(self) -> dict[str, int]:
        """The counters summed over nodes (spikes: the populations' only)."""
        return self._counters()[1]

    def _counters(self) -> tuple:
        if callable(self.counters):
            self.counters = self.counters()
        return self.counters

    @property
    def energy(self) -> dict:
        """The run's energy report (`runtime.per_inference.energy_report`), computed once, when first read."""
        if callable(self.energy_report):
            self.energy_report = self.energy_report()
        return self.energy_report

    def __getstate__(self) -> dict:
        """Pickled with its counters and energy computed (the functions that compute them on first
        read are closures, which pickle cannot hold)."""
        self._counters()
        _ = self.energy
        return dict(self.__dict__)

    def rates(self) -> dict[str, float]:
        """Mean spikes per neuron per step, per population."""
        return {n: float(np.mean(s)) for n, s in self.spikes.items()}

    def summary(self) -> dict:
        """JSON-ready report without the big arrays."""
        return {"target": self.target, "steps": self.steps, "batch": self.batch,
                "rates": self.rates(), "stats": self.stats, "totals": self.totals, "energy": self.energy,
                "energy_per_inference_j": self.energy.get("energy_per_inference_j"), **self.latency,
                "violations": self.violations}
