"""FloatLIF as ONNX ops (`snnc export --format onnx`), in float32 as the ideal target
runs it (see compiler/export/onnx_kinds.py for the protocol)."""
from __future__ import annotations

import numpy as np

from snnc.compiler.export.onnx_kinds import Lowering, weighted_sum
from snnc.compiler.export.onnx_ops import Builder


def _ideal_states(node):
    return {"v": (np.float32, 0.0), "i_syn": (np.float32, 0.0)}


def _ideal_step(b: Builder, node, arriving, state):
    a = None
    for syn, s_pre, _ in arriving:  # float64 sums scaled by 2^weight_exp, as add_synaptic_input
        term = b.op("Mul", weighted_sum(b, syn, s_pre, None, float64=True),
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


def _ideal_conv_output(b: Builder, sums: str) -> str:
    """A float conv hands its sums on as they are (targets/ideal/conv.py)."""
    return sums


LOWERING = Lowering(_ideal_states, _ideal_step, np.float32, _ideal_conv_output)
