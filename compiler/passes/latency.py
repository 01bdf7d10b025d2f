"""Synaptic delays of the target, and the readout step that absorbs them.

loihi: Lava's Dense delivers one step late, every synapse (an L-layer chain
answers L steps late). xylo: input spikes reach the hidden population in the
same step; hidden spikes reach hidden and readout neurons one step later, so
every layer laid on the hidden population after the first adds a step, and so
does the readout. The trained net has no delay: the compiler pads the input
with `pad_steps` empty steps and reads the readout `latency` steps later.
"""
from __future__ import annotations

import dataclasses

from snnc.compiler.ir import Input, Synapse
from snnc.compiler.passes.base import Pass, readout_name


def target_delay(target: str, from_input: bool, recurrent: bool) -> int | None:
    """The synaptic delay a target imposes (None: keep the trained one)."""
    if recurrent:
        return 1
    if target == "loihi":
        return 1
    if target == "xylo":
        return 0 if from_input else 1
    return None


class AddLatency(Pass):
    name = "latency"

    def run(self, graph, ctx):
        for name, syn in list(graph.of_type(Synapse).items()):
            src, (dst,) = graph.synapse_source(name), graph.successors(name)
            delay = target_delay(ctx.target, isinstance(graph.nodes[src], Input), src == dst)
            if delay is not None and delay != syn.delay:
                graph.nodes[name] = dataclasses.replace(syn, delay=delay)
        latency = path_delay(graph, readout_name(graph))
        (out_name,) = graph.outputs
        out = graph.nodes[out_name]
        graph.nodes[out_name] = dataclasses.replace(out, step=ctx.steps - 1 + latency)
        graph.metadata.update(steps=ctx.steps, pad_steps=latency, latency_steps=latency)
        return graph


def path_delay(graph, population: str) -> int:
    """Largest sum of feed-forward delays from an Input to `population`."""
    best = 0
    for syn_name, syn, src in graph.incoming(population):
        if src == population:
            continue
        upstream = 0 if isinstance(graph.nodes[src], Input) else path_delay(graph, src)
        best = max(best, upstream + syn.delay)
    return best
