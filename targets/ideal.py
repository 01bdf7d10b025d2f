"""`ideal`: float32, no quantisation; the yardstick for quantisation loss.

Per step: a = sum_syn scale * (W @ s_pre[t - delay]) (float64 sum, float32 result);
v <- beta * v + a + bias; s = v > vth; v <- v - vth * s (soft) or 0 (zero).
"""
from __future__ import annotations

import numpy as np

from snnc.targets.kernel import kernel

from snnc.compiler.ir import Graph, Synapse
from snnc.errors import DesignRuleError
from snnc.targets.base import EnergyConstant, Target
from snnc.targets.registry import register


@kernel
def float_lif_step(v, a_in, beta, vth, bias, soft_reset):
    """One float32 LIF step in place; returns (spikes, 0)."""
    v[:] = (beta * v + a_in.astype(np.float32) + bias).astype(np.float32)
    spikes = v > vth
    if soft_reset:
        v[:] = np.where(spikes, v - vth, v).astype(np.float32)
    else:
        v[:] = np.where(spikes, np.float32(0.0), v)
    return spikes, 0


def rule_finite(graph: Graph) -> None:
    for name, syn in graph.of_type(Synapse).items():
        if not np.all(np.isfinite(syn.weights)):
            raise DesignRuleError("finite-weights", name, "weights must be finite")


_EST = "no hardware: ideal target reports synaptic ops only; per-op energy set to Loihi's 23.6 pJ for comparison"
IDEAL = register(Target(
    name="ideal",
    description="float32 reference, no quantisation (the yardstick for quantisation loss)",
    neuron_kinds=("FloatLIF",),
    widths={"weight": 32, "v": 32},
    overflow="none",
    limits={},
    energy={"synaptic_op": EnergyConstant(23.6e-12, _EST, estimate=True),
            "neuron_update": EnergyConstant(0.0, _EST, estimate=True),
            "spike_extra": EnergyConstant(0.0, _EST, estimate=True)},
    rules=(rule_finite,),
    reference_executor="none (float yardstick)",
))
