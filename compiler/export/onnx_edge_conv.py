"""edge-int8's conv layers (compiler/ir/dense_conv.py) in the dense ONNX model (onnx_edge.py), with the
integer ops targets/edge_int8/conv.py defines: a receptive-field Gather (the padding column reads a centred
0: TFLite skips padding taps) and one exact MatMul (`Builder.matmul`; onnxruntime's Conv and ConvInteger
would need float32 sums or uint8/int8 operands without the int32 wrap), the bias, wrap32 and the
per-channel MultiplyByQuantizedMultiplier (onnx_edge.requantise); AvgPool's rounding with Div on int64,
which truncates toward zero as C's '/' in TFLite's AveragePool."""
from __future__ import annotations

import numpy as np

from snnc.compiler.export.onnx_ops import Builder
from snnc.compiler.ir.dense_conv import AvgPool, ConvGemm, conv_index, window_index

FLOAT64 = 11


def _gathered(b: Builder, x: str, index: np.ndarray) -> str:
    """x [B, C H W] with a zero column appended, gathered at `index` (axis 1)."""
    return b.op("Gather", b.op("Pad", x, b.i64([0, 0, 0, 1])), b.i64(index, "window"), axis=1)


def _channel_major(b: Builder, rows: str) -> str:
    """[B, P, C_out] -> [B, C_out P]."""
    return b.op("Reshape", b.op("Transpose", rows, perm=[0, 2, 1]), b.i64([0, -1]))


def conv_accumulator(b: Builder, node: ConvGemm, x: str, worst_x: int) -> str:
    """wrap32(sum W (x - input_zero_point) + bias) [B, C_out P], int64 holding int32."""
    w = node.weights.reshape(node.channels, -1)
    patches = _gathered(b, b.op("Sub", x, b.i64(node.input_zero_point)), conv_index(node))
    rows = b.matmul(patches, b.i64(w.T, "w"), float(np.abs(w).sum(axis=1).max()) * worst_x)
    per = int(np.prod(node.out_shape[1:]))
    return b.wrap(b.op("Add", _channel_major(b, rows), b.i64(np.repeat(node.bias, per), "bias")), 32)


def per_pixel(node: ConvGemm, values: np.ndarray) -> np.ndarray:
    """A per-output-channel vector repeated over the channel's pixels (channel-major)."""
    return np.repeat(values, int(np.prod(node.out_shape[1:])))


def conv_float(b: Builder, node: ConvGemm, x: str) -> str:
    w = node.weights.reshape(node.channels, -1).astype(np.float64)
    rows = b.op("MatMul", _gathered(b, b.op("Cast", x, to=FLOAT64), conv_index(node)), b.const(w.T, np.float64, "w"))
    y = b.op("Add", _channel_major(b, rows), b.const(per_pixel(node, node.bias.astype(np.float64)), np.float64))
    return b.op("Cast", y, to=1)


def _pool_sums(b: Builder, node: AvgPool, x: str) -> tuple[str, np.ndarray]:
    idx = window_index(node)
    sums = b.op("ReduceSum", _gathered(b, x, idx), b.i64([3]), keepdims=0)
    return b.op("Reshape", sums, b.i64([0, -1])), (idx != node.in_size).sum(axis=2).reshape(-1)


def avg_pool_int(b: Builder, node: AvgPool, x: str) -> str:
    """acc > 0 ? (acc + count/2) / count : (acc - count/2) / count (Div truncates), then the clamp."""
    acc, count = _pool_sums(b, node, x)
    half, n = b.i64(count // 2, "half"), b.i64(count, "count")
    up, down = b.op("Div", b.op("Add", acc, half), n), b.op("Div", b.op("Sub", acc, half), n)
    return b.saturate(b.op("Where", b.op("Greater", acc, b.i64(0)), up, down), node.act_min, node.act_max)


def avg_pool_float(b: Builder, node: AvgPool, x: str) -> str:
    acc, count = _pool_sums(b, node, b.op("Cast", x, to=FLOAT64))
    return b.op("Cast", b.op("Div", acc, b.const(count.astype(np.float64), np.float64, "count")), to=1)
