"""LoihiLIF as ONNX ops (`snnc export --format onnx`): Lava's PyLifModelBitAcc and
PyDenseModelBitAcc, op for op (see compiler/export/onnx_kinds.py for the protocol)."""
from __future__ import annotations

import numpy as np

from snnc.compiler.export.onnx_kinds import Lowering, weighted_sum
from snnc.compiler.export.onnx_ops import Builder
from snnc.targets.loihi import lif as loihi
from snnc.targets.loihi.conv import CONV_OUT_BITS


def _loihi_states(node):
    return {"u": (np.int64, 0), "v": (np.int64, 0)}


def _loihi_decay(b: Builder, x: str, d) -> str:
    """trunc0(x * (4096 - d) / 4096): Div on int64 rounds toward zero, as Lava's sign * (|p| >> 12)."""
    return b.trunc_div(b.op("Mul", x, b.i64(loihi.DECAY_UNITY - np.asarray(d, np.int64))), loihi.DECAY_UNITY)


def _loihi_dense(b: Builder, syn, s_pre: str, cap) -> str:
    """a_out = wrap32(W s << weight_exp), or floor shift right when weight_exp < 0 (int32 port); a Conv's
    wrapped sums join with weight_exp 0 (targets/loihi/conv.py)."""
    acc = weighted_sum(b, syn, s_pre, cap)
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


def _loihi_conv_output(b: Builder, sums: str) -> str:
    """PyConvModelFixed's clamp_precision: signed_clamp(x, 24), a 24-bit wrap (targets/loihi/conv.py)."""
    return b.wrap(sums, CONV_OUT_BITS)


LOWERING = Lowering(_loihi_states, _loihi_step, np.int32, _loihi_conv_output)
