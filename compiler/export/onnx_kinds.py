"""One step of each neuron kind as ONNX ops: the targets' arithmetic, op for op.

A lowering takes the builder, the node, what arrives this step — a list of
(synapse, presynaptic values [B, n_pre], the most count one presynaptic
neuron can deliver) in the graph's canonical delivery order (int64 counts,
delivery caps applied; the Input's float32 values on `ideal`) — and the
population's state tensors by name; it returns (spike counts int64 [B, n],
membrane v [B, n], next state by name). `states(node)` lists the state
tensors ([B, n] each; Xylo's synaptic states are one tensor per port) with
their dtype and reset value.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from snnc.compiler.export.onnx_ops import Builder
from snnc.targets import ideal, loihi, xylo


class Lowering(NamedTuple):
    states: Callable   # node -> {state name: (numpy dtype, reset value)}
    step: Callable     # (builder, node, arriving, state) -> (spikes, v, next state)
    v_dtype: type      # dtype of the exported v


# --- Loihi: Lava's PyLifModelBitAcc and PyDenseModelBitAcc -------------------

def _loihi_states(node):
    return {"u": (np.int64, 0), "v": (np.int64, 0)}


def _loihi_decay(b: Builder, x: str, d) -> str:
    """trunc0(x * (4096 - d) / 4096): Div on int64 rounds toward zero, as Lava's sign * (|p| >> 12)."""
    return b.trunc_div(b.op("Mul", x, b.i64(loihi.DECAY_UNITY - np.asarray(d, np.int64))), loihi.DECAY_UNITY)


def sum_bound(weights, cap) -> float:
    """The largest |W s| over counts s in [0, cap]: what `Builder.matmul` needs to choose float64."""
    return float(np.abs(np.asarray(weights, np.float64)).sum(axis=1).max(initial=0)) * cap


def _loihi_dense(b: Builder, syn, s_pre: str, cap) -> str:
    """a_out = wrap32(W s << weight_exp), or floor shift right when weight_exp < 0 (int32 port)."""
    acc = b.matmul(s_pre, b.i64(syn.weights.T, "w"), sum_bound(syn.weights, cap))
    if syn.weight_exp >= 0:
        return b.wrap(b.shift_left(acc, syn.weight_exp), 32)
    return b.wrap(b.floor_shift(acc, -syn.weight_exp), 32)


def _loihi_step(b: Builder, node, arriving, state):
    a = None
    for syn, s_pre, cap in arriving:  # dense_input: each Dense joins in int32
        out = _loihi_dense(b, syn, s_pre, cap)
        a = out if a is None else b.wrap(b.op("Add", a, out), 32)
    a = b.i64(np.zeros(node.size, np.int64), "a0") if a is None else a
    half, full = loihi.MAX_UV, 2 * loihi.MAX_UV
    # u: Lava's literal 24-bit wrap; its second test reads the wrapped value, its branch the unwrapped c
    c = b.wrap(b.op("Add", _loihi_decay(b, state["u"], node.du + 1),
                    b.wrap(b.shift_left(a, loihi.ACT_SHIFT), 32)), 32)
    w = b.op("Where", b.op("Greater", c, b.i64(half)), b.op("Sub", c, b.i64(full)), c)
    w = b.op("Where", b.op("LessOrEqual", w, b.i64(-half)), b.op("Add", c, b.i64(full)), w)
    u = b.wrap(w, 32)
    bias = b.wrap(b.shift_left(b.i64(node.bias_mant, "bias_mant"), node.bias_exp), 32)
    upd = b.wrap(b.op("Add", b.wrap(b.op("Add", _loihi_decay(b, state["v"], node.dv), u), 32), bias), 32)
    v = b.saturate(upd, -half + 1, half - 1)
    fired = b.op("Greater", v, b.shift_left(b.i64(node.vth, "vth"), loihi.ACT_SHIFT))
    v = b.op("Where", fired, b.i64(0), v)
    return b.op("Cast", fired, to=7), v, {"u": u, "v": v}


# --- Xylo: xylosim's XyloLayer.evolve ----------------------------------------

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


# --- ideal: float32 FloatLIF -------------------------------------------------

def _ideal_states(node):
    return {"v": (np.float32, 0.0), "i_syn": (np.float32, 0.0)}


def _ideal_step(b: Builder, node, arriving, state):
    a = None
    for syn, s_pre, _ in arriving:  # float64 sums scaled by 2^weight_exp, as add_synaptic_input
        s = b.op("Cast", s_pre, to=11)
        term = b.op("Mul", b.op("MatMul", s, b.const(syn.weights.T, np.float64, "w")),
                    b.const(2.0 ** syn.weight_exp, np.float64, "scale"))
        a = term if a is None else b.op("Add", a, term)
    a = b.const(np.zeros(node.size), np.float32, "a0") if a is None else b.op("Cast", a, to=1)
    f32 = lambda value, hint: b.const(value, np.float32, hint)  # noqa: E731
    i = b.op("Add", b.op("Mul", f32(node.alpha, "alpha"), state["i_syn"]), a)
    v = b.op("Add", b.op("Add", b.op("Mul", f32(node.beta, "beta"), state["v"]), i), f32(node.bias, "bias"))
    vth = f32(node.vth, "vth")
    fired = b.op("Greater", v, vth)
    if node.max_spikes == 1:
        n = b.op("Cast", fired, to=7)
    else:  # 1 + clip(ceil(v / vth) - 2, 0, max_spikes - 1), in float32 as the training neuron
        extra = b.op("Clip", b.op("Sub", b.op("Ceil", b.op("Div", v, vth)), f32(2.0, "two")),
                     f32(0.0, "zero"), f32(node.max_spikes - 1, "most"))
        n = b.op("Where", fired, b.op("Add", b.op("Cast", extra, to=7), b.i64(1)), b.i64(0))
    if node.reset == "soft":
        v = b.op("Sub", v, b.op("Mul", vth, b.op("Cast", n, to=1)))
    else:
        v = b.op("Where", fired, f32(0.0, "zero"), v)
    return n, v, {"v": v, "i_syn": i}


LOWERINGS = {
    "LoihiLIF": Lowering(_loihi_states, _loihi_step, np.int32),
    "XyloIAF": Lowering(_xylo_states, _xylo_step, np.int32),
    "FloatLIF": Lowering(_ideal_states, _ideal_step, np.float32),
}
