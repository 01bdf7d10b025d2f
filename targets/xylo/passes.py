"""Xylo's float pass: bit-shift decays, subtractive reset, up to 31 spikes per step.

xylosim XyloIAFNeuron: x <- x - max(x >> dash, sign(x)), i.e. beta = 1 - 2^-dash
(4-bit dash), subtractive reset, `>=`, up to 31 hidden spikes per step, and a
synaptic state that cannot be switched off: the current decays before it reaches
v, so dash_syn = 0 would zero it; dash_syn >= 1 means every input passes a filter
i <- alpha (i + W x) with alpha = 1 - 2^-dash_syn. A spiking readout (the Output's
population) emits at most one spike a step (xylosim MAX_NUM_OUT_SPIKES).
"""
from __future__ import annotations

import math

import numpy as np

from snnc.compiler.passes.base import readout_name
from snnc.compiler.passes.map_neurons import MapNeurons, note_change
from snnc.targets import xylo

XYLO_DASH_MAX = xylo.RANGES["dash_mem"].hi          # 4-bit dash fields
XYLO_HIDDEN_SPIKES = xylo.MAX_HIDDEN_SPIKES         # xylosim MAX_NUM_SPIKES


class MapNeuronsXylo(MapNeurons):
    name = "map-neurons-xylo"
    reset, hidden_spikes = "soft", XYLO_HIDDEN_SPIKES
    why_reset, why_spikes = "Xylo subtracts the threshold", "Xylo hidden neurons emit up to 31"

    def transform(self, graph, name, node, ctx):
        readout = name == readout_name(graph)
        self.hidden_spikes = 1 if readout else XYLO_HIDDEN_SPIKES
        self.why_spikes = "Xylo's output neurons emit one" if readout else "Xylo hidden neurons emit up to 31"
        super().transform(graph, name, node, ctx)

    def decays(self, ctx, name, beta, alpha):
        dash_mem, beta_hat = _dash(beta, 0)
        dash_syn, alpha_hat = _dash(alpha, 1)
        ctx.layer(name).update(dash_mem=dash_mem, dash_syn=dash_syn)
        if dash_mem == XYLO_DASH_MAX and beta >= 1.0:
            ctx.notes.append(f"{name}: beta 1 (no leak) -> dash_mem = 15: Xylo still moves v one LSB toward 0 "
                             "per step (x >> 15 is 0 for 16-bit states and the minimum step is 1)")
        else:
            note_change(ctx, name, "beta", beta, beta_hat, f"dash_mem = {dash_mem}")
        note_change(ctx, name, "alpha", alpha, alpha_hat, f"dash_syn = {dash_syn}")
        return beta_hat, alpha_hat, alpha_hat / (alpha if alpha > 0 else 1.0)


def _dash(decay: float, dash_min: int) -> tuple[int, float]:
    """The bit-shift decay 1 - 2^-dash nearest to `decay` (dash in [dash_min, 15])."""
    if decay >= 1.0:
        dash = XYLO_DASH_MAX
    elif decay <= 0.0:
        dash = dash_min
    else:
        dash = int(np.clip(round(-math.log2(1.0 - decay)), dash_min, XYLO_DASH_MAX))
    return dash, 1.0 - 2.0 ** -dash
