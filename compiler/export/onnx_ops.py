"""A small ONNX graph builder and the integer idioms the exporters share.

Every integer value lives in int64 inside the model, so that each idiom below
is exact under onnxruntime (checked there, opset 18: Div on int64 truncates
toward zero, Mod with fmod=0 on int64 takes the divisor's sign, Clip, Min,
Max, Where, MatMul on int64):

    wrap(x, bits)      = Mod(x + 2^(bits-1), 2^bits) - 2^(bits-1)   two's-complement wrap
    floor_shift(x, k)  = (x - Mod(x, 2^k)) / 2^k                    arithmetic x >> k (floor)
    trunc_div(x, d)    = Div(x, d)                                  round toward zero
    shift_left(x, k)   = x * 2^k
    saturate(x, lo, hi)= Clip(x, lo, hi)
    matmul(s, w, bound)= MatMul in float64 where no |partial sum| can reach 2^53, else int64
"""
from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

INT = TensorProto.INT64
DTYPES = {np.dtype(np.int64): TensorProto.INT64, np.dtype(np.int32): TensorProto.INT32,
          np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE,
          np.dtype(np.bool_): TensorProto.BOOL}


class Builder:
    """Collects nodes and initializers of one ONNX graph; every op returns its output's name."""

    def __init__(self, prefix: str = ""):
        self.prefix, self.nodes, self.initializers, self._count = prefix, [], [], 0

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{self.prefix}{hint}_{self._count}"

    def const(self, value, dtype, hint: str = "c") -> str:
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def i64(self, value, hint: str = "c") -> str:
        return self.const(value, np.int64, hint)

    def op(self, op_type: str, *inputs: str, out: str | None = None, **attrs) -> str:
        out = out or self.fresh(op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], **attrs))
        return out

    def ops(self, op_type: str, inputs: list[str], n_out: int, **attrs) -> list[str]:
        outs = [self.fresh(op_type.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, **attrs))
        return outs

    # --- integer idioms (int64 operands) ---------------------------------

    def wrap(self, x: str, bits: int) -> str:
        half = 1 << (bits - 1)
        return self.op("Sub", self.op("Mod", self.op("Add", x, self.i64(half)), self.i64(2 * half), fmod=0),
                       self.i64(half))

    def floor_shift(self, x: str, k) -> str:
        """x >> k, arithmetic (floor for negative x); k a scalar or per-neuron vector, >= 0."""
        p = self.i64(np.left_shift(1, np.asarray(k, np.int64)), "pow2")
        return self.op("Div", self.op("Sub", x, self.op("Mod", x, p, fmod=0)), p)

    def shift_left(self, x: str, k) -> str:
        return self.op("Mul", x, self.i64(np.left_shift(1, np.asarray(k, np.int64)), "pow2"))

    def trunc_div(self, x: str, d) -> str:
        return self.op("Div", x, self.i64(d))

    def matmul(self, s: str, w: str, bound: float) -> str:
        """s @ w on int64 operands, exactly: in float64 (onnxruntime's fast kernel) where
        `bound`, the largest |partial sum| possible, is below 2^53 (every sum of integers is
        then exact in any order), else in int64."""
        if bound >= 2.0**53:
            return self.op("MatMul", s, w)
        return self.op("Cast", self.op("MatMul", self.op("Cast", s, to=11), self.op("Cast", w, to=11)), to=7)

    def saturate(self, x: str, lo: int, hi: int) -> str:
        return self.op("Clip", x, self.i64(lo), self.i64(hi))
