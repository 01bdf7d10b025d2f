"""Lowering passes, one small file each, grouped into one flow per target."""
from snnc.compiler.passes.base import CompileContext, Pass, run_flow
from snnc.compiler.passes.dense_layers import DenseLayers
from snnc.compiler.passes.design_rules import DesignRules
from snnc.compiler.passes.latency import AddLatency
from snnc.compiler.passes.layout_xylo import XyloLayout
from snnc.compiler.passes.map_neurons import MapNeuronsLoihi, MapNeuronsXylo
from snnc.compiler.passes.quantise_edge import QuantiseEdge
from snnc.compiler.passes.quantise_loihi import QuantiseLoihi
from snnc.compiler.passes.quantise_xylo import QuantiseXylo

# Passes up to the first quantiser keep the graph in float (on `ideal`): that
# graph, the trained net with the target's dynamics, measures what mapping costs.
# FLOWS[target] = (float passes, integer passes).
FLOWS = {
    "loihi": ([MapNeuronsLoihi(), AddLatency()], [QuantiseLoihi(), DesignRules()]),
    "xylo": ([MapNeuronsXylo(), AddLatency(), XyloLayout()], [QuantiseXylo(), DesignRules()]),
    "ideal": ([], [DesignRules()]),
    "edge-int8": ([DenseLayers()], [QuantiseEdge(), DesignRules()]),
}

__all__ = ["CompileContext", "Pass", "run_flow", "FLOWS"]
