"""Lay the hidden layers of a float graph onto Xylo's single hidden population.

Xylo has one recurrent hidden population (input weights 16 x 1000, recurrent
weights 1000 x 1000, readout weights 1000 x 8). A stack of hidden layers maps
onto it as block matrices: the first layer's input synapse becomes rows of
`w_in`; every later feed-forward synapse (layer k -> k+1) and every recurrent
synapse becomes a block of `w_rec`; the last layer's readout synapse becomes
columns of `w_out`. Hidden spikes travel through `w_rec` with a one-step delay,
so each layer after the first answers one step later (the latency pass has
already set those delays). The merged population keeps per-neuron parameters;
`ctx.blocks` remembers which rows each original layer occupies.
"""
from __future__ import annotations

import numpy as np

from snnc.compiler.ir import FloatLIF, Graph, Input, Output, Synapse
from snnc.compiler.passes.base import Pass, readout_name
from snnc.errors import CompileError

HIDDEN, READOUT = "hidden", "readout"


class XyloLayout(Pass):
    name = "layout-xylo"

    def run(self, graph: Graph, ctx) -> Graph:
        readout = readout_name(graph)
        layers = [n for n in graph.neuron_order() if n != readout]
        (inp,) = graph.inputs
        starts = np.cumsum([0] + [graph.nodes[n].size for n in layers])
        ctx.blocks = {n: (int(a), int(b)) for n, a, b in zip(layers, starts[:-1], starts[1:])}
        n_hid = int(starts[-1])
        w_in = np.zeros((n_hid, graph.nodes[inp].size), np.float32)
        w_rec = np.zeros((n_hid, n_hid), np.float32)
        w_out = np.zeros((graph.nodes[readout].size, n_hid), np.float32)
        graph = _fold_readout_bias(graph, readout, ctx)
        for name in layers + [readout]:
            for syn_name, syn, src in graph.incoming(name):
                self._place(graph, ctx, name, src, syn_name, syn, w_in, w_rec, w_out, readout)
        merged = _merge([graph.nodes[n] for n in layers])
        ctx.layers[HIDDEN] = {"layers": layers}
        return _xylo_float_graph(graph, inp, readout, merged, w_in, w_rec, w_out)

    def _place(self, graph, ctx, dst, src, syn_name, syn, w_in, w_rec, w_out, readout):
        if isinstance(graph.nodes[src], Input):
            if dst == readout and not ctx.blocks:
                raise CompileError(
                    f"synapse '{syn_name}': '{dst}' is the graph's only population, but on Xylo input weights "
                    "reach only the hidden population and outputs come only from readout neurons fed by hidden "
                    "spikes; an identity relay through a hidden neuron is not exact (its synaptic current, "
                    "dash_syn >= 1, carries part of each input into later steps: xylosim XyloIAFNeuron). "
                    "Add a hidden layer, or compile for loihi")
            if dst == readout or ctx.blocks[dst][0] != 0:
                raise CompileError(f"synapse '{syn_name}': Xylo's input weights reach the hidden population "
                                   f"only; '{dst}' is not the first hidden layer")
            w_in[slice(*ctx.blocks[dst])] = syn.weights
        elif dst == readout:
            w_out[:, slice(*ctx.blocks[src])] = syn.weights
        else:
            w_rec[slice(*ctx.blocks[dst]), slice(*ctx.blocks[src])] = syn.weights


def _fold_readout_bias(graph: Graph, readout: str, ctx) -> Graph:
    """A bias channel into the readout (a NIR Affine bias into a CubaLIF readout): Xylo's
    readout takes no input synapse, so its steady state b / (1 - alpha) becomes the readout's
    v bias. Not exact: the current reaches it after 1 / (1 - alpha) steps; the bias acts at
    once (the compile report measures it; the note says so)."""
    (inp,) = graph.inputs
    bias_syns = [(n, syn) for n, syn, src in graph.incoming(readout) if src == inp]
    if not bias_syns or not graph.metadata.get("bias_channels"):
        return graph
    n_data = graph.nodes[inp].size - len(graph.metadata["bias_channels"])
    node = graph.nodes[readout]
    total = node.bias.astype(np.float64)
    for name, syn in bias_syns:
        if np.any(syn.weights[:, :n_data]):
            return graph   # a data synapse into the readout: _place refuses it
        total = total + syn.weights.sum(axis=1) / (1.0 - node.alpha.astype(np.float64))
    gone = {name for name, _ in bias_syns}
    g = Graph(graph.target, {n: x for n, x in graph.nodes.items() if n not in gone},
              [e for e in graph.edges if not gone & set(e)], dict(graph.metadata))
    g.nodes[readout] = FloatLIF(node.size, beta=node.beta, vth=node.vth, bias=total.astype(np.float32),
                                reset=node.reset, alpha=node.alpha, max_spikes=node.max_spikes)
    ctx.notes.append(f"{readout}: its bias into the synaptic current -> a v bias of its steady state b / (1 - alpha) "
                     "(Xylo's readout takes no input synapse; the first steps differ)")
    return g


def _merge(nodes: list[FloatLIF]) -> FloatLIF:
    cat = lambda field: np.concatenate([getattr(n, field) for n in nodes])  # noqa: E731
    resets = {n.reset for n in nodes}
    if len(resets) > 1:
        raise CompileError(f"hidden layers mix resets {sorted(resets)}; one Xylo population has one reset")
    return FloatLIF(int(sum(n.size for n in nodes)), beta=cat("beta"), vth=cat("vth"), bias=cat("bias"),
                    reset=nodes[0].reset, alpha=cat("alpha"), max_spikes=max(n.max_spikes for n in nodes))


def _xylo_float_graph(graph, inp, readout, hidden, w_in, w_rec, w_out) -> Graph:
    """input -> w_in -> hidden (-> w_rec ->) -> w_out -> readout -> output, xylosim's shape."""
    (out_name,) = graph.outputs
    g = Graph(graph.target, metadata=dict(graph.metadata))
    g.add("input", Input(graph.nodes[inp].size))
    g.add(HIDDEN, hidden)
    g.add(READOUT, graph.nodes[readout])
    g.add("w_in", Synapse(w_in, delay=0), ["input"])
    g.connect("w_in", HIDDEN)
    if np.any(w_rec):
        g.add("w_rec", Synapse(w_rec, delay=1), [HIDDEN])
        g.connect("w_rec", HIDDEN)
    g.add("w_out", Synapse(w_out, delay=1), [HIDDEN])
    g.connect("w_out", READOUT)
    g.add("output", graph.nodes[out_name], [READOUT])
    return g
