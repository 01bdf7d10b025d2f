"""Any compiled Loihi graph as a Lava network: the plain arrays `lava_network.py` builds Lava
processes from (the Lava executor and the exported Lava program both read them).

A Loihi graph is one Input, LoihiLIF populations, Synapses (each from the Input or a
population into one population: forward, recurrent, skip, bias channel) and Output markers.
Each population becomes `pop{k}__*` (its LIF parameters per neuron), each Synapse one Lava
Dense `dense{j}__*` (weights, weight_exp, the sign mode under which Lava keeps the weights as
they are, source -1 for the input or a population index, target population), and a SplitDense
two: its high and low parts (`split_parts`), which Lava's LIF adds at a_in as it adds every
Dense connected there. A Conv2d becomes one Lava Conv `conv{i}__*` (`targets/loihi/conv.py:
lava_params`: the kernel pre-shifted and flipped, (x, y) order); every population (or input) a
Conv2d reads or writes is held in Lava's (W, H, C) order (`pop{k}__order`, `in_order`: for each
Lava index the graph's index; per-neuron parameters and Dense rows and columns permuted to it).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snnc.compiler.ir import Conv2d, Graph, Input, Output, Synapse
from snnc.errors import GraphError
from snnc.targets.loihi.conv import lava_order, lava_params
from snnc.targets.loihi.lava_layers import SplitDense, lava_sign_mode, split_parts
from snnc.targets.loihi.lif import DENSE_DELAY, LIF_PARAMS, LoihiLIF


@dataclass
class LavaNet:
    n_in: int
    pops: list[str]                    # population k: its LoihiLIF node
    dense: list[tuple[str, str]]       # Dense j: (Synapse node, part: "" whole, "hi" or "lo" of a SplitDense)
    convs: list[str] = field(default_factory=list)                # Conv i: its Conv2d node
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
                isinstance(node, Synapse) and type(node) not in (Synapse, SplitDense, Conv2d):
            raise GraphError(f"node '{name}': a {type(node).__name__} has no Lava Dense/Conv/LIF form")
    pops = list(graph.neuron_order())
    if not pops:
        raise GraphError(f"node '{inputs[0]}': no LoihiLIF population follows the input")
    net = LavaNet(graph.nodes[inputs[0]].size, pops, [])
    orders = _lava_orders(graph)
    net.arrays["n_pops"] = np.int64(len(pops))
    for k, pop in enumerate(pops):
        node, order = graph.nodes[pop], orders.get(pop)
        for key in LIF_PARAMS:
            values = np.broadcast_to(np.asarray(getattr(node, key), np.int64), (node.size,))
            net.arrays[f"pop{k}__{key}"] = values if order is None else values[order]
        if order is not None:
            net.arrays[f"pop{k}__order"] = order
    if inputs[0] in orders:
        net.arrays["in_order"] = orders[inputs[0]]
    for name, node in graph.of_type(Synapse).items():
        src, dst = _ends(graph, name, node, pops)
        if isinstance(node, Conv2d):
            _add_conv(net, name, node, src, dst)
            continue
        parts = split_parts(node) if isinstance(node, SplitDense) else [(node.weights, node.weight_exp)]
        if isinstance(node, SplitDense):
            net.shifts[name] = node.shift
        rows, cols = orders.get(pops[dst]), orders.get(graph.predecessors(name)[0])
        for part, (weights, exp) in zip(("hi", "lo") if len(parts) == 2 else ("",), parts):
            w = np.asarray(weights) if rows is None else np.asarray(weights)[rows]
            _add_dense(net, (name, part), w if cols is None else w[:, cols], exp, src, dst)
    net.arrays["n_dense"] = np.int64(len(net.dense))
    net.arrays["n_conv"] = np.int64(len(net.convs))
    return net


LAVA_INT8 = 127   # PyConvModelFixed holds kernel_size, stride, padding, dilation and groups as np.int8


def _lava_orders(graph: Graph) -> dict[str, np.ndarray]:
    """For each node a Conv2d reads or writes, `lava_order` of its (C, H, W) image; GraphError
    naming the conv whose image disagrees with another's view of the same population."""
    shapes: dict[str, tuple] = {}
    for name, node in graph.of_type(Conv2d).items():
        ends = [(p, node.in_shape) for p in graph.predecessors(name)]
        ends += [(s, node.out_shape) for s in graph.successors(name)]
        for end, shape in ends:
            if shapes.setdefault(end, shape) != shape:
                raise GraphError(f"node '{name}': sees '{end}' as a {shape} image, another conv as {shapes[end]}")
    return {end: lava_order(shape) for end, shape in shapes.items()}


def _add_conv(net: LavaNet, name: str, node: Conv2d, src: int, dst: int) -> None:
    params = lava_params(node)
    small = {"groups": params["groups"], "kernel": max(node.kernel_size), "stride": max(node.stride),
             "padding": max(node.padding), "dilation": max(node.dilation)}
    big = {k: v for k, v in small.items() if v > LAVA_INT8}
    if big:
        raise GraphError(f"node '{name}': {big} beyond {LAVA_INT8}; Lava's Conv holds them as int8")
    if any(np.unique(net.arrays[f"pop{dst}__{p}"]).size > 1 for p in ("du", "dv", "vth")):
        raise GraphError(f"node '{name}': feeds '{net.pops[dst]}', whose neurons differ in du, dv or vth; Lava's "
                         "Conv feeds one LIF, which holds one of each")
    i = len(net.convs)
    net.arrays.update({f"conv{i}__weight": params["weight"].astype(np.int64),
                       f"conv{i}__input_shape": np.array(params["input_shape"], np.int64),
                       **{f"conv{i}__{key}": np.array(params[key], np.int64) for key in ("padding", "stride", "dilation")},
                       f"conv{i}__groups": np.int64(params["groups"]),
                       f"conv{i}__src": np.int64(src), f"conv{i}__dst": np.int64(dst)})
    net.convs.append(name)


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
