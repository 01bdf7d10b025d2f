"""Synaptic delays of the target, and the readout step that absorbs them.

Each target's record says what delay its synapses impose (`Target.synapse_delay`;
loihi: every synapse one step, as Lava's Dense; xylo: input synapses none,
hidden and readout synapses one). The trained net has no delay: the compiler
pads the input with `pad_steps` empty steps and reads the readout `latency`
steps later.
"""
from __future__ import annotations

import dataclasses

from snnc.compiler.ir import Input, Synapse
from snnc.compiler.passes.base import Pass, readout_name
from snnc.targets import get as get_target


def target_delay(target: str, from_input: bool, recurrent: bool) -> int | None:
    """The synaptic delay a target imposes (None: keep the trained one): its record's
    `synapse_delay`; a recurrent synapse delivers one step later everywhere."""
    if recurrent:
        return 1
    delay = get_target(target).synapse_delay
    return None if delay is None else delay(from_input)


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
        # a step counted from the end (a graph of any length) already names the last real step once
        # the input is padded by exactly the latency
        step = out.step if out.step < 0 else ctx.steps - 1 + latency
        graph.nodes[out_name] = dataclasses.replace(out, step=step)
        graph.metadata.update(steps=ctx.steps, pad_steps=latency, latency_steps=latency)
        if graph.metadata.get("bias_channels"):   # a key of its own: compile keeps the frontend's metadata
            graph.metadata["bias_inputs"] = [{"population": pop, "start": bias_start(graph, pop)}
                                             for pop in graph.metadata["bias_channels"]]
        return graph


def bias_start(graph, population: str) -> int:
    """The step from which a bias channel into `population` must be 1: the step at which the
    population reads its first real input (its path delay) less the bias synapse's own delay."""
    (inp,) = graph.inputs
    delays = [syn.delay for _, syn, src in graph.incoming(population) if src == inp]
    return path_delay(graph, population) - max(delays)


def path_delay(graph, population: str) -> int:
    """Largest sum of feed-forward delays from an Input to `population`."""
    best = 0
    for syn_name, syn, src in graph.incoming(population):
        if src == population:
            continue
        upstream = 0 if isinstance(graph.nodes[src], Input) else path_delay(graph, src)
        best = max(best, upstream + syn.delay)
    return best
