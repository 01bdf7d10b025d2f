"""edge-int8's conv layers as TFLite builtins (compiler/ir/dense_conv.py): ConvGemm as a per-channel int8
CONV_2D (weights OHWI, one float32 scale per output channel whose QuantizeMultiplier is the node's
multiplier and shift: tflite_export.prepared_multipliers), AvgPool as an int8 AVERAGE_POOL_2D (input and
output share scale and zero point, as LiteRT's and TFLite Micro's Prepare require). Activations are NHWC
[1, H, W, C] tensors; the IR's flat images are channel-major, so a model's input goes in as
x.reshape(C, H, W).transpose(1, 2, 0) (`nhwc`) and a layer's output comes back with `channel_major`."""
from __future__ import annotations

import numpy as np

from snnc.compiler.ir.dense_conv import AvgPool, ConvGemm
from snnc.errors import CompileError

PADDING = {"same": "SAME", "valid": "VALID"}   # schema.fbs Padding


def nhwc(x: np.ndarray, shape) -> np.ndarray:
    """[B, C H W] channel-major -> [B, H, W, C]."""
    return np.asarray(x).reshape(len(x), *shape).transpose(0, 2, 3, 1)


def channel_major(y: np.ndarray) -> np.ndarray:
    """[B, H, W, C] -> [B, C H W]."""
    return np.asarray(y).transpose(0, 3, 1, 2).reshape(len(y), -1)


def conv2d(w, name: str, node: ConvGemm, x: int, in_scale, out_scale, filters, activation: str = "NONE") -> int:
    """A requantising ConvGemm as one CONV_2D; `filters` the per-channel float32 weight scales."""
    s = w.schema
    if not node.requantise:
        raise CompileError(f"node '{name}': a ConvGemm without requantisation (an int32 output) has no int8 "
                           "CONV_2D form")
    zeros = np.zeros(node.channels, np.int64)
    wt = w.tensor(f"{name}/weights", [node.channels, *node.window, node.in_shape[0]], "INT8",
                  data=node.weights.transpose(0, 2, 3, 1), scale=filters, zero_point=zeros)
    bias_scale = (np.float32(in_scale) * np.asarray(filters, np.float64)).astype(np.float32)
    bt = w.tensor(f"{name}/bias", [node.channels], "INT32", data=node.bias, scale=bias_scale, zero_point=zeros)
    c, h, wd = node.out_shape
    y = w.tensor(name, [1, h, wd, c], "INT8", scale=out_scale, zero_point=node.output_zero_point)
    opt = s.Conv2DOptionsT()
    opt.padding = getattr(s.Padding, PADDING[node.padding])
    opt.strideH, opt.strideW = node.stride
    opt.dilationHFactor = opt.dilationWFactor = 1
    opt.fusedActivationFunction = getattr(s.ActivationFunctionType, activation)
    w.op("CONV_2D", [x, wt, bt], [y], (s.BuiltinOptions.Conv2DOptions, opt))
    return y


def avg_pool(w, name: str, node: AvgPool, x: int, scale, zero_point: int) -> int:
    """An AvgPool as one AVERAGE_POOL_2D (no fused activation: its clamp is the int8 range)."""
    s = w.schema
    if (node.act_min, node.act_max) != (-128, 127):
        raise CompileError(f"node '{name}': AvgPool clamps to [{node.act_min}, {node.act_max}]; TFLite's int8 "
                           "AVERAGE_POOL_2D without a fused activation clamps to [-128, 127]")
    c, h, wd = node.out_shape
    y = w.tensor(name, [1, h, wd, c], "INT8", scale=scale, zero_point=zero_point)
    opt = s.Pool2DOptionsT()
    opt.padding = getattr(s.Padding, PADDING[node.padding])
    opt.strideH, opt.strideW = node.stride
    opt.filterHeight, opt.filterWidth = node.kernel
    opt.fusedActivationFunction = s.ActivationFunctionType.NONE
    w.op("AVERAGE_POOL_2D", [x], [y], (s.BuiltinOptions.Pool2DOptions, opt))
    return y
