"""edge-int8's conv layers (compiler/ir/dense_conv.py): ConvGemm as TFLite's per-channel int8 CONV_2D
(reference_integer_ops::ConvPerChannel: centred inputs, padding taps skipped, int32 accumulator + bias,
MultiplyByQuantizedMultiplier per output channel, output zero point, clamp), and AvgPool as TFLite's
int8 AVERAGE_POOL_2D (reference/integer_ops/pooling.h AveragePool: round half away from zero over the
taps inside the image). Float forms for ideal. One definition: the dense executor, the ONNX checks and
the tests call these."""
from __future__ import annotations

import numpy as np

from snnc.compiler.ir.dense_conv import AvgPool, ConvGemm, conv_index, window_index
from snnc.targets.edge_int8.arithmetic import exact_matmul, requantise, wrap32


def _patches(node: ConvGemm, x: np.ndarray) -> np.ndarray:
    """[B P, C kh kw] receptive fields of x [B, C H W]; padding taps read 0."""
    padded = np.concatenate([x, np.zeros((x.shape[0], 1), x.dtype)], axis=1)
    return padded[:, conv_index(node)].reshape(-1, node.weights[0].size)


def _channel_major(node: ConvGemm, rows: np.ndarray, batch: int) -> np.ndarray:
    """[B P, C_out] -> [B, C_out P] (flat channel-major images)."""
    return rows.reshape(batch, -1, node.channels).transpose(0, 2, 1).reshape(batch, -1)


def conv_accumulator(node: ConvGemm, x: np.ndarray) -> np.ndarray:
    """acc [B, C_out P]: wrap32(sum W (x - input_zero_point) + bias), padding taps skipped (a zero centred value)."""
    acc = exact_matmul(_patches(node, x - node.input_zero_point), node.weights.reshape(node.channels, -1))
    return wrap32(_channel_major(node, acc, x.shape[0]) + np.repeat(node.bias, np.prod(node.out_shape[1:])))


def conv_unclamped(node: ConvGemm, x: np.ndarray) -> np.ndarray:
    acc = conv_accumulator(node, x)
    if not node.requantise:
        return acc
    per = int(np.prod(node.out_shape[1:]))
    return requantise(acc, np.repeat(node.multiplier, per), np.repeat(node.shift, per)) + node.output_zero_point


def conv_int(node: ConvGemm, x: np.ndarray) -> np.ndarray:
    y = conv_unclamped(node, x)
    return np.clip(y, node.act_min, node.act_max) if node.requantise else y


def conv_float(node: ConvGemm, x: np.ndarray) -> np.ndarray:
    rows = _patches(node, x.astype(np.float64)) @ node.weights.reshape(node.channels, -1).T.astype(np.float64)
    per = int(np.prod(node.out_shape[1:]))
    return (_channel_major(node, rows, x.shape[0]) + np.repeat(node.bias.astype(np.float64), per)).astype(np.float32)


def pool_sums(node: AvgPool, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sum over each window's taps inside the image [B, C P], their count [C P])."""
    idx = window_index(node)
    padded = np.concatenate([x, np.zeros((x.shape[0], 1), x.dtype)], axis=1)
    sums = padded[:, idx].sum(axis=3).reshape(x.shape[0], -1)
    return sums, (idx != node.in_size).sum(axis=2).reshape(-1)


def avg_pool_int(node: AvgPool, x: np.ndarray) -> np.ndarray:
    """TFLite: acc > 0 ? (acc + count/2) / count : (acc - count/2) / count, C's '/' truncating; clamp."""
    acc, count = pool_sums(node, x.astype(np.int64))
    half = count // 2
    up = (acc + half) // count                     # acc > 0: truncation is floor
    down = -((-acc + half) // count)               # acc <= 0: truncation toward zero
    return np.clip(np.where(acc > 0, up, down), node.act_min, node.act_max)


def avg_pool_float(node: AvgPool, x: np.ndarray) -> np.ndarray:
    acc, count = pool_sums(node, x.astype(np.float64))
    return (acc / count).astype(np.float32)


def forward(node, x: np.ndarray) -> np.ndarray:
    if isinstance(node, ConvGemm):
        return conv_int(node, x) if x.dtype == np.int64 else conv_float(node, x)
    return avg_pool_int(node, x) if x.dtype == np.int64 else avg_pool_float(node, x)
