"""Loihi's compile flow: the trained net with Loihi's dynamics and synaptic delays (float),
then Lava's integer formats and the design rules."""
from __future__ import annotations

from snnc.compiler.passes import AddLatency, DesignRules
from snnc.targets.loihi.passes import MapNeuronsLoihi
from snnc.targets.loihi.quantise import QuantiseLoihi


def flow():
    return [MapNeuronsLoihi(), AddLatency()], [QuantiseLoihi(), DesignRules()]
