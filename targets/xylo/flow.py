"""Xylo's compile flow: the trained net with Xylo's dynamics and delays, laid on its one
hidden population (float), then xylosim's integer formats and the design rules."""
from __future__ import annotations

from snnc.compiler.passes import AddLatency, DesignRules
from snnc.targets.xylo.layout import XyloLayout
from snnc.targets.xylo.passes import MapNeuronsXylo
from snnc.targets.xylo.quantise import QuantiseXylo


def flow():
    return [MapNeuronsXylo(), AddLatency(), XyloLayout()], [QuantiseXylo(), DesignRules()]
