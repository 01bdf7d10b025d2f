"""One-step spiking float graph -> dense float graph (Gemm + Step), exact.

A 1-step net (the binary SBNN of configs/digits_binary.toml) starts every
population from zero state and runs it once, so a FloatLIF's step reduces
to its first one: i = a, v = a + bias, s = v > vth, whatever beta, alpha or
the reset (max_spikes = 1). With delay-0 synapses that is

    hidden population:  Gemm(W 2^weight_exp, bias) -> Step(vth)
    non-spiking readout: Gemm(W 2^weight_exp, bias), read as v by the Output

and recurrent synapses (delay >= 1) deliver nothing within the one step. A Conv2d synapse
(groups 1, dilation 1) becomes a ConvGemm (compiler/ir/dense_conv.py) with its population's
bias per channel, where its PyTorch zero padding is one of TFLite's geometries ("valid":
padding 0; "same": the output size and padding before the image TFLite's SAME gives,
e.g. k // 2 at stride 1 for odd k); any other is refused in one line naming the synapse.
Names: the hidden Gemm takes its synapse's name, the Step and the readout
Gemm their population's, so the Output still reads `readout`. Dense graphs
pass through unchanged.
"""
from __future__ import annotations

import numpy as np

from snnc.compiler.ir import Conv2d, FloatLIF, Graph, Input
from snnc.compiler.ir.dense_conv import ConvGemm, tflite_geometry
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
        why = (f"it sums {len(feeds)} spike sources ({', '.join(src for _, _, src in feeds)}: a residual spike add), "
               "and the dense layers run as a chain (no Add node yet); train with model.shortcut = 'none', "
               "or deploy on a spiking chip") if len(feeds) > 1 else "it has none"
        raise CompileError(f"population '{pop}' needs exactly one same-step synapse for a dense layer: {why}")
    syn_name, syn, src = feeds[0]
    weights = syn.weights * 2.0 ** syn.weight_exp
    layer = _conv_gemm(syn_name, syn, weights, node.bias) if isinstance(syn, Conv2d) else Gemm(weights, node.bias)
    if (node.vth >= NON_SPIKING).all():
        out.add(pop, layer, [src])
        return
    if node.max_spikes != 1:
        raise CompileError(f"population '{pop}' emits up to {node.max_spikes} spikes a step; a Step unit one")
    out.add(syn_name, layer, [src])
    out.add(pop, Step(node.size, node.vth), [syn_name])



def _conv_gemm(name: str, syn: Conv2d, weights, bias) -> ConvGemm:
    """The ConvGemm of a Conv2d synapse into a population with `bias` per neuron (module docstring)."""
    if syn.groups != 1 or syn.dilation != (1, 1):
        raise CompileError(f"synapse '{name}': groups {syn.groups}, dilation {syn.dilation}; edge-int8's "
                           "ConvGemm is TFLite's CONV_2D with groups 1 and dilation 1")
    padding = _tflite_padding(syn)
    if padding is None:
        raise CompileError(f"synapse '{name}': padding {syn.padding} at stride {syn.stride} on a "
                           f"{syn.in_shape[1]}x{syn.in_shape[2]} image is neither TFLite's VALID nor its SAME "
                           "(SAME pads (k - 1) // 2 before the image only where the sizes allow)")
    per_channel = np.asarray(bias, np.float32).reshape(syn.out_shape[0], -1)
    if not np.all(per_channel == per_channel[:, :1]):
        raise CompileError(f"synapse '{name}': its population's bias varies within a channel; a ConvGemm "
                           "has one bias per output channel")
    return ConvGemm(weights.astype(np.float32), in_shape=syn.in_shape, stride=syn.stride, padding=padding,
                    bias=per_channel[:, 0])


def _tflite_padding(syn: Conv2d) -> str | None:
    """The TFLite padding whose output size and padding before the image are the synapse's, or None."""
    want = [(o, p) for o, p in zip(syn.out_hw, syn.padding)]
    for padding in ("valid", "same"):
        got = [tflite_geometry(n, k, s, padding) for n, k, s in zip(syn.in_shape[1:], syn.kernel_size, syn.stride)]
        if got == want:
            return padding
    return None
