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
        for name in layers + [readout]:
            for syn_name, syn, src in graph.incoming(name):
                self._place(graph, ctx, name, src, syn_name, syn, w_in, w_rec, w_out, readout)
        merged = _merge([graph.nodes[n] for n in layers])
        ctx.layers[HIDDEN] = {"layers": layers}
        return _xylo_float_graph(graph, inp, readout, merged, w_in, w_rec, w_out)

    def _place(self, graph, ctx, dst, src, syn_name, syn, w_in, w_rec, w_out, readout):
        if isinstance(graph.nodes[src], Input):
            if dst == readout or ctx.blocks[dst][0] != 0:
                raise CompileError(f"synapse '{syn_name}': Xylo's input weights reach the hidden population "
                                   f"only; '{dst}' is not the first hidden layer")
            w_in[slice(*ctx.blocks[dst])] = syn.weights
        elif dst == readout:
            w_out[:, slice(*ctx.blocks[src])] = syn.weights
        else:
            w_rec[slice(*ctx.blocks[dst]), slice(*ctx.blocks[src])] = syn.weights


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
