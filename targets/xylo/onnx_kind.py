"""XyloIAF as ONNX ops (`snnc export --format onnx`): xylosim's XyloLayer.evolve, op for
op (see compiler/export/onnx_kinds.py for the protocol)."""
from __future__ import annotations

import numpy as np

from snnc.compiler.export.onnx_kinds import Lowering, sum_bound
from snnc.compiler.export.onnx_ops import Builder
from snnc.targets import xylo


def _xylo_states(node):
    return {"v": (np.int64, 0), **{f"i_syn{k}": (np.int64, 0) for k in range(node.n_syn)}}


def _bitshift_decay(b: Builder, x: str, dash) -> str:
    """x >> dash (arithmetic, floor), or sign(x) where that is 0 (the minimum step)."""
    d = b.floor_shift(x, dash)
    return b.op("Where", b.op("Equal", d, b.i64(0)), b.op("Sign", x), d)


def _xylo_weights(b: Builder, syn) -> str:
    """int16(w << weight_shift), as [n_pre, n_post], from the stored int8 weights."""
    return b.wrap(b.shift_left(b.i64(syn.weights.T, "w"), syn.weight_exp), 16)


def no_saturation(node, arriving_bounds) -> np.ndarray:
    """Per port: whether no ordered synaptic add can saturate from the reset state.

    `arriving_bounds`: (synapse, most spikes it delivers per presynaptic
    neuron). With A+ (A-) the most a step adds (subtracts) on a neuron, the
    states reachable from 0 stay in [-A- 2^dash, A+ 2^dash]: the decay
    x - max(x >> dash, sign x) is monotone and takes at least A+ (A-) off the
    bound. Where both ends fit in 16 bits every partial sum does too, and
    the ordered saturating adds equal one unsaturated sum (a MatMul).
    """
    pos, neg = np.zeros((node.size, node.n_syn)), np.zeros((node.size, node.n_syn))
    for syn, cap in arriving_bounds:
        w = xylo.synaptic_weight(syn.weights, syn.weight_exp).astype(np.float64)
        pos[:, syn.port] += cap * np.clip(w, 0, None).sum(axis=1)
        neg[:, syn.port] -= cap * np.clip(w, None, 0).sum(axis=1)
    scale = 2.0 ** node.dash_syn
    return ((pos * scale).max(axis=0, initial=0) <= xylo.STATE_MAX) & \
           ((neg * scale).max(axis=0, initial=0) <= -xylo.STATE_MIN)


def _deliver_ordered(b: Builder, i: str, syn, s_pre: str) -> str:
    """Each presynaptic neuron in turn adds count x weight, saturating after every add."""
    w = xylo.synaptic_weight(syn.weights, syn.weight_exp)
    cols = b.ops("Split", [s_pre], syn.weights.shape[1], axis=1, num_outputs=syn.weights.shape[1])
    w_rows = _xylo_weights(b, syn)
    for j in np.flatnonzero(np.any(w != 0, axis=0)):  # an all-zero column adds nothing
        row = b.op("Gather", w_rows, b.i64(int(j)), axis=0)
        i = b.saturate(b.op("Add", i, b.op("Mul", cols[j], row)), xylo.STATE_MIN, xylo.STATE_MAX)
    return i


def _xylo_step(b: Builder, node, arriving, state):
    ports = {k: state[f"i_syn{k}"] for k in range(node.n_syn)}
    unsaturated = no_saturation(node, [(syn, cap) for syn, _, cap in arriving])
    for syn, s_pre, cap in arriving:
        if unsaturated[syn.port]:
            bound = sum_bound(xylo.synaptic_weight(syn.weights, syn.weight_exp), cap)
            ports[syn.port] = b.op("Add", ports[syn.port], b.matmul(s_pre, _xylo_weights(b, syn), bound))
        else:
            ports[syn.port] = _deliver_ordered(b, ports[syn.port], syn, s_pre)
    nxt, i_sum = {}, None
    for k, i in ports.items():
        i = b.op("Sub", i, _bitshift_decay(b, i, node.dash_syn[:, k]))
        nxt[f"i_syn{k}"] = i
        i_sum = i if i_sum is None else b.op("Add", i_sum, i)
    lo, hi = xylo.STATE_MIN, xylo.STATE_MAX
    dv0 = b.wrap(b.op("Neg", _bitshift_decay(b, state["v"], node.dash_mem)), 16)
    dv1 = b.saturate(b.op("Add", dv0, i_sum), lo, hi)
    dv2 = b.saturate(b.op("Add", dv1, b.i64(node.bias, "bias")), lo, hi)
    v = b.saturate(b.op("Add", state["v"], dv2), lo, hi)
    th = b.i64(node.threshold, "threshold")
    n = b.op("Min", b.op("Div", v, th), b.i64(node.max_spikes))  # v >= th >= 1 where used: Div floors
    spikes = b.op("Where", b.op("GreaterOrEqual", v, th), n, b.i64(0))
    v = b.op("Sub", v, b.op("Mul", spikes, th))
    return spikes, v, {"v": v, **nxt}


LOWERING = Lowering(_xylo_states, _xylo_step, np.int32)
