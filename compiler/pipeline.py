"""The one place a target's flow runs: its float passes, then its integer passes.

Passes up to the first quantiser keep the graph in float (on `ideal`): that
graph, the trained net with the target's dynamics, measures what mapping costs.
"""
from __future__ import annotations

from snnc.compiler.passes import CompileContext, copy_graph, run_flow
from snnc.errors import CompileError
from snnc.targets import all_targets
from snnc.targets.registry import resolve


def target_flow(target: str) -> tuple[list, list]:
    """(float passes, integer passes) of `target`, from its record (`Target.flow`)."""
    spec = all_targets().get(target)
    if spec is None or not spec.flow:
        with_flow = sorted(name for name, t in all_targets().items() if t.flow)
        raise CompileError(f"target '{target}' has no compile flow (choose from {', '.join(with_flow)})")
    return resolve(spec.flow)()


def run_target_flow(graph, ctx: CompileContext):
    """(mapped, deployed): `ctx.target`'s float passes on a copy of `graph` (the float net
    with the target's dynamics), then its integer passes on a copy of that."""
    float_passes, int_passes = target_flow(ctx.target)
    mapped = run_flow(copy_graph(graph), float_passes, ctx)
    return mapped, run_flow(copy_graph(mapped), int_passes, ctx)
