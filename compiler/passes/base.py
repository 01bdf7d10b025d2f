"""Pass machinery: small passes, run in named flows, the IR checker between them.

A pass either rewrites matching nodes one at a time (`match(graph, name, node)`
and `transform(graph, name, node, ctx)`) or, where it needs the whole graph at
once (calibration, layout), overrides `run`. Every pass records what it did in
the shared `CompileContext`, which becomes the compile report.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snnc.compiler.ir import Graph, check_graph


@dataclass
class CompileContext:
    """What passes share: the target, the trained time base, calibration input, the report."""

    target: str
    steps: int
    calib_x: np.ndarray | None = None            # [N, T, C] training samples, or None (bounds)
    layers: dict[str, dict] = field(default_factory=dict)   # per population: choices and errors
    notes: list[str] = field(default_factory=list)          # dynamics that changed, and why
    blocks: dict[str, tuple[int, int]] = field(default_factory=dict)  # layer -> rows in a merged population
    options: dict = field(default_factory=dict)   # compile options the target's passes read (Target.options)

    def layer(self, name: str) -> dict:
        return self.layers.setdefault(name, {})


class Pass:
    """Base pass: by default transform every matching node once."""

    name = "pass"

    def match(self, graph: Graph, name: str, node) -> bool:
        return False

    def transform(self, graph: Graph, name: str, node, ctx: CompileContext) -> None:
        raise NotImplementedError

    def run(self, graph: Graph, ctx: CompileContext) -> Graph:
        for name, node in list(graph.nodes.items()):
            if self.match(graph, name, node):
                self.transform(graph, name, node, ctx)
        return graph


def run_flow(graph: Graph, passes: list[Pass], ctx: CompileContext, check: bool = True) -> Graph:
    """Apply `passes` in order; the IR checker runs after each one (check=True)."""
    for p in passes:
        graph = p.run(graph, ctx)
        if check:
            check_graph(graph)
    return graph


def copy_graph(graph: Graph, target: str | None = None) -> Graph:
    """A shallow copy (nodes shared: they are replaced, never mutated, by passes)."""
    return Graph(target or graph.target, dict(graph.nodes), list(graph.edges), dict(graph.metadata))


def readout_name(graph: Graph) -> str:
    (out,) = graph.outputs
    return graph.predecessors(out)[0]
