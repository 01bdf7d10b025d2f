"""A loihi graph's float (`ideal`) equivalent, for NIR export (`Target.float_form`).

Lava's integers rescaled to one float scale: weights W 2^(weight_exp + 6) (the
6-bit MSB alignment of a_in), vth << 6, bias_mant << bias_exp; v decays by
1 - dv/4096, u by 1 - (du + 1)/4096; zero reset. The synaptic delay of one step
stays on each synapse.
"""
from __future__ import annotations

import numpy as np

from snnc.compiler.ir import Graph, Synapse, check_graph
from snnc.compiler.ir.nodes import NON_SPIKING
from snnc.targets.ideal import FloatLIF
from snnc.targets.loihi.lif import RANGES, LoihiLIF


def float_graph(graph: Graph) -> Graph:
    out = Graph("ideal", {}, list(graph.edges), {**graph.metadata, "rescaled_from": "loihi"})
    readouts = {graph.predecessors(o)[0] for o, node in graph.outputs.items() if node.read == "v"}
    for name, node in graph.nodes.items():
        if isinstance(node, Synapse):
            node = Synapse((node.weights * 2.0 ** (node.weight_exp + 6)).astype(np.float32), 0, node.delay)
        elif isinstance(node, LoihiLIF):
            node = FloatLIF(node.size, beta=1.0 - node.dv / 4096.0, alpha=1.0 - (node.du + 1) / 4096.0,
                            vth=_rescaled_vth(node, name in readouts),
                            bias=(node.bias_mant << node.bias_exp).astype(np.float32), reset="zero")
        out.nodes[name] = node
    return check_graph(out)


def _rescaled_vth(node, read_as_v: bool) -> np.ndarray:
    """vth << 6; the quantiser's non-spiking readout (read as v, vth at its 17-bit maximum, above
    every state calibration saw) is NON_SPIKING, so that it exports as a non-spiking NIR node."""
    if read_as_v and np.all(node.vth == RANGES["vth"].hi):
        return np.full(node.size, NON_SPIKING, np.float32)
    return (node.vth * 64.0).astype(np.float32)
