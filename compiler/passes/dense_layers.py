"""One-step spiking float graph -> dense float graph (Gemm + Step), exact.

A 1-step net (the binary SBNN of configs/digits_binary.toml) starts every
population from zero state and runs it once, so a FloatLIF's step reduces
to its first one: i = a, v = a + bias, s = v > vth, whatever beta, alpha or
the reset (max_spikes = 1). With delay-0 synapses that is

    hidden population:  Gemm(W 2^weight_exp, bias) -> Step(vth)
    non-spiking readout: Gemm(W 2^weight_exp, bias), read as v by the Output

and recurrent synapses (delay >= 1) deliver nothing within the one step.
Names: the hidden Gemm takes its synapse's name, the Step and the readout
Gemm their population's, so the Output still reads `readout`. Dense graphs
pass through unchanged.
"""
from __future__ import annotations

from snnc.compiler.ir import FloatLIF, Graph, Input
from snnc.compiler.ir.nodes import NON_SPIKING
from snnc.compiler.ir.dense import DenseLayer, Gemm, Step
from snnc.compiler.passes.base import Pass
from snnc.errors import CompileError


class DenseLayers(Pass):
    name = "dense-layers"

    def run(self, graph: Graph, ctx) -> Graph:
        if graph.of_type(DenseLayer):
            return graph
        steps = ctx.steps + int(graph.metadata.get("pad_steps", 0))
        out = dense_graph(graph, steps)
        ctx.notes.append("1-step net run as dense layers: each population's first step is Gemm (+ Step "
                         "for spiking populations); recurrent synapses deliver nothing within one step")
        return out


def dense_graph(graph: Graph, steps: int) -> Graph:
    """The dense form of a one-step FloatLIF graph (CompileError naming what does not fit)."""
    if steps != 1:
        raise CompileError(f"edge-int8 runs one-step nets only (dense layers, no time); this net runs "
                           f"{steps} steps")
    if len(graph.inputs) != 1:
        raise CompileError(f"edge-int8 takes one input node, this graph has {len(graph.inputs)}")
    out = Graph(graph.target, metadata=dict(graph.metadata))
    for name, node in graph.inputs.items():
        out.add(name, Input(node.size))
    for pop in graph.neuron_order():
        _population(graph, out, pop)
    for name, node in graph.outputs.items():
        out.add(name, node, graph.predecessors(name))
    return out


def _population(graph: Graph, out: Graph, pop: str) -> None:
    node = graph.nodes[pop]
    if not isinstance(node, FloatLIF):
        raise CompileError(f"population '{pop}': {type(node).__name__} has no dense form (FloatLIF only)")
    feeds = [(s, syn, src) for s, syn, src in graph.incoming(pop) if syn.delay == 0]
    if len(feeds) != 1:
        raise CompileError(f"population '{pop}' needs exactly one same-step synapse for a dense layer, "
                           f"has {len(feeds)}")
    syn_name, syn, src = feeds[0]
    weights = syn.weights * 2.0 ** syn.weight_exp
    if (node.vth >= NON_SPIKING).all():
        out.add(pop, Gemm(weights, node.bias), [src])
        return
    if node.max_spikes != 1:
        raise CompileError(f"population '{pop}' emits up to {node.max_spikes} spikes a step; a Step unit one")
    out.add(syn_name, Gemm(weights, node.bias), [src])
    out.add(pop, Step(node.size, node.vth), [syn_name])

