"""Lowering passes, one small file each, grouped into one flow per target."""
from snnc.compiler.passes.base import CompileContext, Pass, copy_graph, run_flow
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



def run_target_flow(graph, ctx: CompileContext):
    """(mapped, deployed): `ctx.target`'s float passes on a copy of `graph` (the float net
    with the target's dynamics), then its integer passes on a copy of that."""
    float_passes, int_passes = FLOWS[ctx.target]
    mapped = run_flow(copy_graph(graph), float_passes, ctx)
    return mapped, run_flow(copy_graph(mapped), int_passes, ctx)


__all__ = ["CompileContext", "Pass", "run_flow", "run_target_flow", "FLOWS"]
