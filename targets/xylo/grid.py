"""The integer grid Xylo's quantiser (`quantise.py`) put each trained weight on, in the trained
net's own units, for `snnc adapt` (the record's `weight_grid`).

QuantiseXylo stores w_int = round(W_trained * S_k / 2^shift), clipped to int8, where S_k is the
scale of the population the weight feeds (one per original hidden layer, one for the readout)
and `shift` the matrix's weight shift (w_in, w_rec or w_out): whatever decay the mapping gave
the synaptic state, the quantiser divides it out again, so the grid step is 2^shift / S_k.
"""
from __future__ import annotations

from snnc.targets.xylo import RANGES

READOUT = "readout"   # the readout population's name in the float graph and in the quantiser's records


def weight_grid(compiled, layers) -> dict[str, tuple[float, int, int]]:
    """{trained parameter: (step, lo, hi)} for `layers`, a list of (parameter, float-graph synapse,
    population it feeds) of a compiled checkpoint (`compiler.compile.Compiled`)."""
    front, records, graph = compiled.front.graph, compiled.records, compiled.graph
    lo, hi = RANGES["weight"].lo, RANGES["weight"].hi
    grid = {}
    for param, synapse, post in layers:
        from_input = synapse in front.nodes and front.synapse_source(synapse) in front.inputs
        matrix = "w_out" if post == READOUT else "w_in" if from_input else "w_rec"
        grid[param] = (2.0 ** graph.nodes[matrix].weight_exp / records[post]["scale"], lo, hi)
    return grid
