"""The toy chip's flow: its synaptic delays (float), then its weight grid and design rules."""
from __future__ import annotations

import dataclasses

import numpy as np

from snnc.compiler.ir import Synapse
from snnc.compiler.passes import AddLatency, DesignRules, Pass, copy_graph
from tests.targets.toy_chip import WEIGHT_STEP


class QuantiseToy(Pass):
    name = "quantise-toy"

    def run(self, graph, ctx):
        out = copy_graph(graph, "toy")
        for name, syn in graph.of_type(Synapse).items():
            grid = (np.round(syn.weights / WEIGHT_STEP) * WEIGHT_STEP).astype(np.float32)
            out.nodes[name] = dataclasses.replace(syn, weights=grid)
            ctx.layer(name)["weight_step"] = WEIGHT_STEP
        return out


def flow():
    return [AddLatency()], [QuantiseToy(), DesignRules()]
