"""IR checker: structural rules every graph must obey, whatever its target."""
from __future__ import annotations

from snnc.compiler.ir.conv import Conv2d
from snnc.compiler.ir.graph import Graph
from snnc.compiler.ir.nodes import Input, Neuron, Output, Synapse
from snnc.compiler.ir.dense import DenseLayer
from snnc.errors import GraphError


def check_graph(graph: Graph) -> Graph:
    """Raise GraphError naming the first broken rule; return the graph."""
    if not graph.inputs:
        raise GraphError("graph has no Input node")
    for name, node in graph.nodes.items():
        node.check()
        _CHECKS.get(type(node), _check_neuron if isinstance(node, Neuron) else _no_check)(graph, name, node)
        if isinstance(node, DenseLayer):
            node.check_in_graph(graph, name)
    graph.neuron_order()
    return graph


def _no_check(graph, name, node):
    pass


def _check_input(graph: Graph, name: str, node: Input) -> None:
    if graph.predecessors(name):
        raise GraphError(f"Input '{name}' must have no incoming edges")


def _check_synapse(graph: Graph, name: str, syn: Synapse) -> None:
    preds, succs = graph.predecessors(name), graph.successors(name)
    if len(preds) != 1 or len(succs) != 1:
        raise GraphError(f"Synapse '{name}' needs exactly one source and one target, "
                         f"got {len(preds)} and {len(succs)}")
    src, dst = graph.nodes[preds[0]], graph.nodes[succs[0]]
    if not isinstance(src, (Input, Neuron)) or not isinstance(dst, Neuron):
        raise GraphError(f"Synapse '{name}' must connect an Input or neuron to a neuron")
    if syn.in_size != src.out_size:
        raise GraphError(f"Synapse '{name}' has {syn.in_size} inputs but source '{preds[0]}' has {src.out_size}")
    if syn.out_size != dst.in_size:
        raise GraphError(f"Synapse '{name}' has {syn.out_size} outputs but target '{succs[0]}' has {dst.in_size}")
    if syn.port >= dst.n_ports:
        raise GraphError(f"Synapse '{name}' targets port {syn.port} but '{succs[0]}' has {dst.n_ports}")
    if preds[0] == succs[0] and isinstance(syn, Conv2d):
        raise GraphError(f"Conv2d '{name}' connects '{preds[0]}' to itself; a recurrent synapse is dense")
    if preds[0] == succs[0] and syn.delay < 1:
        raise GraphError(f"recurrent Synapse '{name}' needs delay >= 1, got {syn.delay}")


def _check_neuron(graph: Graph, name: str, node: Neuron) -> None:
    for src in graph.predecessors(name):
        if not isinstance(graph.nodes[src], Synapse):
            raise GraphError(f"neuron '{name}' takes input only through Synapse nodes, not '{src}'")


def _check_output(graph: Graph, name: str, node: Output) -> None:
    preds = graph.predecessors(name)
    if len(preds) != 1 or not isinstance(graph.nodes[preds[0]], (Neuron, DenseLayer)):
        raise GraphError(f"Output '{name}' must read exactly one neuron population or dense layer")
    if graph.nodes[preds[0]].out_size != node.size:
        raise GraphError(f"Output '{name}' has size {node.size} but '{preds[0]}' has {graph.nodes[preds[0]].out_size}")


_CHECKS = {Input: _check_input, Synapse: _check_synapse, Conv2d: _check_synapse, Output: _check_output}
