"""Any compiled Loihi graph as a Lava network: the plain arrays `lava_network.py` builds Lava
processes from (the Lava executor and the exported Lava program both read them).

A Loihi graph is one Input, LoihiLIF populations, Synapses (each from the Input or a
population into one population: forward, recurrent, skip, bias channel) and Output markers.
Each population becomes `pop{k}__*` (its LIF parameters per neuron), each Synapse one Lava
Dense `dense{j}__*` (weights, weight_exp, the sign mode under which Lava keeps the weights as
they are, source -1 for the input or a population index, target population), and a SplitDense
two: its high and low parts (`split_parts`), which Lava's LIF adds at a_in as it adds every
Dense connected there.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snnc.compiler.ir import Graph, Input, Output, Synapse
from snnc.errors import GraphError
from snnc.targets.loihi.lava_layers import SplitDense, lava_sign_mode, split_parts
from snnc.targets.loihi.lif import DENSE_DELAY, LIF_PARAMS, LoihiLIF


@dataclass
class LavaNet:
    n_in: int
    pops: list[str]                    # population k: its LoihiLIF node
    dense: list[tuple[str, str]]       # Dense j: (Synapse node, part: "" whole, "hi" or "lo" of a SplitDense)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)   # n_pops, pop{k}__*, n_dense, dense{j}__*
    shifts: dict[str, int] = field(default_factory=dict)          # SplitDense node -> its shift


def lava_net(graph: Graph) -> LavaNet:
    """The Lava network of a compiled Loihi graph; GraphError naming the node Lava cannot run."""
    if graph.target != "loihi":
        raise GraphError(f"graph is compiled for '{graph.target}', not 'loihi'")
    inputs = list(graph.inputs)
    if len(inputs) != 1:
        raise GraphError(f"a Lava network has one input (a RingBuffer), this graph has {len(inputs)}: {inputs}")
    for name, node in graph.nodes.items():
        if not isinstance(node, (Input, Output, Synapse, LoihiLIF)) or \
                isinstance(node, Synapse) and type(node) not in (Synapse, SplitDense):
            raise GraphError(f"node '{name}': a {type(node).__name__} has no Lava Dense/LIF form")
    pops = list(graph.neuron_order())
    if not pops:
        raise GraphError(f"node '{inputs[0]}': no LoihiLIF population follows the input")
    net = LavaNet(graph.nodes[inputs[0]].size, pops, [])
    net.arrays["n_pops"] = np.int64(len(pops))
    for k, pop in enumerate(pops):
        node = graph.nodes[pop]
        for key in LIF_PARAMS:
            net.arrays[f"pop{k}__{key}"] = np.broadcast_to(np.asarray(getattr(node, key), np.int64), (node.size,))
    for name, node in graph.of_type(Synapse).items():
        src, dst = _ends(graph, name, node, pops)
        parts = split_parts(node) if isinstance(node, SplitDense) else [(node.weights, node.weight_exp)]
        if isinstance(node, SplitDense):
            net.shifts[name] = node.shift
        for part, (weights, exp) in zip(("hi", "lo") if len(parts) == 2 else ("",), parts):
            _add_dense(net, (name, part), weights, exp, src, dst)
    net.arrays["n_dense"] = np.int64(len(net.dense))
    return net


def _ends(graph: Graph, name: str, node: Synapse, pops: list[str]) -> tuple[int, int]:
    """(source: -1 for the input, else its population index; target population index)."""
    preds, succs = graph.predecessors(name), graph.successors(name)
    if len(preds) != 1 or not isinstance(graph.nodes[preds[0]], (Input, LoihiLIF)):
        raise GraphError(f"node '{name}': a Lava Dense has one source, the input or a LoihiLIF; got {preds}")
    if len(succs) != 1 or not isinstance(graph.nodes[succs[0]], LoihiLIF):
        raise GraphError(f"node '{name}' must feed exactly one LoihiLIF, feeds {succs}")
    if node.delay != DENSE_DELAY or node.port != 0:
        raise GraphError(f"node '{name}': delay {node.delay}, port {node.port}; Lava's Dense is delay 1, port 0")
    return (pops.index(preds[0]) if preds[0] in pops else -1), pops.index(succs[0])


def _add_dense(net: LavaNet, name: tuple[str, str], weights, exp: int, src: int, dst: int) -> None:
    j = len(net.dense)
    where = f"node '{name[0]}'" + (f" ({name[1]} part)" if name[1] else "")
    net.arrays.update({f"dense{j}__weights": np.asarray(weights, np.int64).copy(),
                       f"dense{j}__weight_exp": np.int64(exp),
                       f"dense{j}__sign_mode": np.int64(lava_sign_mode(weights, where)),
                       f"dense{j}__src": np.int64(src), f"dense{j}__dst": np.int64(dst)})
    net.dense.append(name)
