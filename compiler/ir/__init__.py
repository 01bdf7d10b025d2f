"""Integer graph IR: nodes, graph, checker and the `.snnc` file format.

The neuron kinds live in their targets' files (`snnc.targets.loihi.LoihiLIF`,
...) and register as nodes like every other; they are exported here as well,
looked up on first use because the targets import this package.
"""
from snnc.compiler.ir import dense, dense_conv  # noqa: F401  (registers the dense layers as node types)
from snnc.compiler.ir.conv import Conv2d
from snnc.compiler.ir.graph import Graph
from snnc.compiler.ir.nodes import NODE_TYPES, Input, Neuron, Node, Output, Synapse
from snnc.compiler.ir.serialize import load, save
from snnc.compiler.ir.verify import check_graph

__all__ = ["Graph", "Node", "Input", "Synapse", "Conv2d", "Neuron", "LoihiLIF", "XyloIAF", "FloatLIF",
           "Output", "NODE_TYPES", "check_graph", "load", "save"]


def __getattr__(name: str):
    """A neuron kind registered by a target file (`from snnc.compiler.ir import LoihiLIF`)."""
    if name.startswith("__"):  # import machinery and tools probing for module attributes
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name in NODE_TYPES:   # registered by the targets, which `import snnc` loads before anything runs
        return NODE_TYPES[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
