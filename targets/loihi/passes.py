"""Loihi's float pass: its decays, zero reset, one spike per step.

Lava PyLifModelBitAcc: v decays by (4096 - dv)/4096, u by (4096 - (du + 1))/4096
(12-bit du, dv), zero reset, strict `>`, one spike.
"""
from __future__ import annotations

import numpy as np

from snnc.compiler.passes.map_neurons import MapNeurons, note_change
from snnc.targets.loihi import DECAY_UNITY as LOIHI_DECAY_UNITY   # 12-bit du, dv (Lava PyLifModelBitAcc)


class MapNeuronsLoihi(MapNeurons):
    name = "map-neurons-loihi"
    reset, hidden_spikes = "zero", 1
    why_reset, why_spikes = "Loihi sets v to 0 after a spike", "Loihi's LIF spikes once per step"

    def decays(self, ctx, name, beta, alpha):
        dv = int(np.clip(round((1.0 - beta) * LOIHI_DECAY_UNITY), 0, LOIHI_DECAY_UNITY - 1))
        du = int(np.clip(round((1.0 - alpha) * LOIHI_DECAY_UNITY) - 1, 0, LOIHI_DECAY_UNITY - 1))
        beta_hat, alpha_hat = 1.0 - dv / LOIHI_DECAY_UNITY, 1.0 - (du + 1) / LOIHI_DECAY_UNITY
        ctx.layer(name).update(dv=dv, du=du)
        note_change(ctx, name, "beta", beta, beta_hat, f"dv = {dv}")
        note_change(ctx, name, "alpha", alpha, alpha_hat, f"du = {du}")
        return beta_hat, alpha_hat, 1.0   # Loihi's u <- decay(u) + a is the float i <- alpha i + a
