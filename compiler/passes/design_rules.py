"""The target's design rules, last: `compile` never writes a graph that breaks one."""
from __future__ import annotations

from snnc.compiler.passes.base import Pass
from snnc.targets import get as get_target


class DesignRules(Pass):
    name = "design-rules"

    def run(self, graph, ctx):
        get_target(graph.target).check(graph)  # raises DesignRuleError(rule, node, numbers)
        return graph
