"""Integer graph IR: nodes, graph, checker and the `.snnc` file format."""
from snnc.compiler.ir.graph import Graph
from snnc.compiler.ir.nodes import (NODE_TYPES, FloatLIF, Input, LoihiLIF, Neuron, Node, Output,
                                    Synapse, XyloIAF)
from snnc.compiler.ir.serialize import load, save
from snnc.compiler.ir.verify import check_graph

__all__ = ["Graph", "Node", "Input", "Synapse", "Neuron", "LoihiLIF", "XyloIAF", "FloatLIF",
           "Output", "NODE_TYPES", "check_graph", "load", "save"]
