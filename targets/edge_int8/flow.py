"""edge-int8's compile flow: spiking layers as dense Gemm + Step layers (float), then int8
quantisation with fixed-point requantisation and the design rules."""
from __future__ import annotations

from snnc.compiler.passes import DenseLayers, DesignRules
from snnc.targets.edge_int8.quantise import QuantiseEdge


def flow():
    return [DenseLayers()], [QuantiseEdge(), DesignRules()]
