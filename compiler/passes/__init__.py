"""Generic lowering passes, one small file each; each chip's own passes and its flow live
in its folder (`targets/<chip>/flow.py`), and `snnc.compiler.pipeline` runs them."""
from snnc.compiler.passes.base import CompileContext, Pass, copy_graph, run_flow
from snnc.compiler.passes.dense_layers import DenseLayers
from snnc.compiler.passes.design_rules import DesignRules
from snnc.compiler.passes.latency import AddLatency

__all__ = ["AddLatency", "CompileContext", "DenseLayers", "DesignRules", "Pass", "copy_graph", "run_flow"]
