"""`ideal`: float32, no quantisation; the yardstick for quantisation loss.

Per step: a = sum_syn scale * (W @ s_pre[t - delay]) (float64 sum, float32 result);
i <- alpha * i + a; v <- beta * v + i + bias; n spikes (n = 1 when v > vth,
more when v > k vth and max_spikes > 1); v <- v - vth * n (soft) or 0 (zero).
"""
from __future__ import annotations

import numpy as np

from snnc.targets.kernel import kernel

from snnc.compiler.ir import Graph, Synapse
from snnc.errors import DesignRuleError
from snnc.targets.base import EnergyConstant, Target
from snnc.targets.registry import register


@kernel
def spike_count(v, vth, max_spikes):
    """#{k in 1..max_spikes : v > k vth}, computed as the training neuron does:
    0 unless v > vth, else 1 + clip(ceil(v / vth) - 2, 0, max_spikes - 1) (float32)."""
    if not v > vth:
        return 0
    if max_spikes == 1:
        return 1
    extra = np.ceil(np.float32(v / vth)) - 2
    return 1 + int(min(max(extra, 0), max_spikes - 1))


@kernel
def float_lif_step(v, i_syn, a_in, beta, alpha, vth, bias, soft_reset, max_spikes):
    """One float32 CUBA LIF step in place on v, i_syn; returns (spike counts, 0)."""
    i_syn[:] = (alpha * i_syn + a_in.astype(np.float32)).astype(np.float32)
    v[:] = (beta * v + i_syn + bias).astype(np.float32)
    spikes = np.zeros(v.shape[0], np.int64)
    for j in range(v.shape[0]):
        n = spike_count(v[j], vth[j], max_spikes)
        spikes[j] = n
        if n > 0:
            v[j] = np.float32(v[j] - np.float32(vth[j] * np.float32(n))) if soft_reset else np.float32(0.0)
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
