"""edge-int8's conv layers as TFLite builtins (compiler/ir/dense_conv.py): ConvGemm as a per-channel int8
CONV_2D (weights OHWI, one float32 scale per output channel whose QuantizeMultiplier is the node's
multiplier and shift: `prepared_multipliers`), a ConvGemm whose int32 sums feed a Step as one CONV_2D with
fused RELU6 (`conv_step`: tflite_export's Gemm -> Step form, per output channel), AvgPool as an int8
AVERAGE_POOL_2D (input and output share scale and zero point, as LiteRT's and TFLite Micro's Prepare require).
Activations are NHWC [1, H, W, C] tensors; the IR's flat images are channel-major, so a model's input goes in
as x.reshape(C, H, W).transpose(1, 2, 0) (`nhwc`) and a layer's output comes back with `channel_major`. In a
whole graph (tflite_export.build) flat [1, 1, 1, N] tensors become images by RESHAPE [-1, C, H, W] +
TRANSPOSE (0, 2, 3, 1) (`as_image`) and images flat again by the inverse (`as_flat`): data movement only."""
from __future__ import annotations

import numpy as np

from snnc.compiler.ir.dense import Step
from snnc.compiler.ir.dense_conv import AvgPool, ConvGemm
from snnc.errors import CompileError
from snnc.targets.edge_int8.arithmetic import quantize_multiplier
from snnc.targets.edge_int8.spec import INT32_MAX

PADDING = {"same": "SAME", "valid": "VALID"}   # schema.fbs Padding
STEP_SCALE = 6.0           # RELU6 on scale 6, zero point 0 clamps to [0, round(6 / 6)] = [0, 1]
STEP_FILTER_GAIN = 0.75    # the Step's effective scale S * f / 6: any value in [0.5, 1) (shift 0)


def prepared_multipliers(input_scale, filters, output_scale) -> tuple[np.ndarray, np.ndarray]:
    """(multiplier, shift) per channel as TFLite's Prepare computes them: QuantizeMultiplier(
    double(input_scale) * double(filter_scale_c) / double(output_scale)) (kernel_util.cc
    PopulateConvolutionQuantizationParams, CONV_2D's Prepare in LiteRT and TFLite Micro; float32
    tensor scales read as written)."""
    pairs = [quantize_multiplier(float(np.float32(input_scale)) * float(f) / float(np.float32(output_scale)))
             for f in np.asarray(filters, np.float32)]
    return np.array([p[0] for p in pairs], np.int64), np.array([p[1] for p in pairs], np.int64)


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


def tensor_scale(w, x: int) -> float:
    """The (first) float32 scale a tensor was written with."""
    return float(w.tensors[x].quantization.scale[0])


def as_image(w, x: int, shape) -> int:
    """Tensor x as an NHWC image of `shape` (C, H, W): itself when it is one, else RESHAPE + TRANSPOSE."""
    c, h, wd = shape
    t = w.tensors[x]
    if list(t.shape) == [1, h, wd, c]:
        return x
    if int(np.prod(t.shape)) != c * h * wd:
        raise CompileError(f"tensor '{t.name}' of shape {list(t.shape)} is no ({c}, {h}, {wd}) image")
    q = t.quantization
    chw = _moved(w, f"{t.name}/chw", x, [1, c, h, wd], "RESHAPE", [-1, c, h, wd], q)
    return _moved(w, f"{t.name}/nhwc", chw, [1, h, wd, c], "TRANSPOSE", [0, 2, 3, 1], q)


def as_flat(w, x: int) -> int:
    """An NHWC image tensor as a flat channel-major [1, 1, 1, C H W] one (TRANSPOSE + RESHAPE); flat: itself."""
    t = w.tensors[x]
    _, h, wd, c = t.shape
    if h * wd == 1:
        return x
    chw = _moved(w, f"{t.name}/chw", x, [1, c, h, wd], "TRANSPOSE", [0, 3, 1, 2], t.quantization)
    return _moved(w, f"{t.name}/flat", chw, [1, 1, 1, c * h * wd], "RESHAPE", [-1, 1, 1, c * h * wd],
                  t.quantization)


def _moved(w, name: str, x: int, shape, code: str, arg, q) -> int:
    """A RESHAPE (new shape) or TRANSPOSE (permutation) of x: the same values, scale and zero point."""
    t = w.tensors[x]
    dtype = {getattr(w.schema.TensorType, k): k for k in ("INT8", "INT16", "INT32", "FLOAT32")}[t.type]
    const = w.tensor(f"{name}/{code.lower()}_arg", [len(arg)], "INT32", data=np.asarray(arg, np.int32))
    y = w.tensor(name, shape, dtype, scale=None if q is None else q.scale,
                 zero_point=None if q is None else q.zeroPoint)
    w.op(code, [x, const], [y])
    return y


def conv_step(w, name: str, node: ConvGemm, step_name: str, step: Step, x: int, in_range) -> int:
    """ConvGemm -> Step as one int8 CONV_2D (tflite_export's Gemm -> Step form): bias - threshold per
    channel, filter scales whose multiplier is STEP_FILTER_GAIN in [0.5, 1) with shift 0 on an output of
    scale 6, zero point 0, fused RELU6 (clamp [0, 1]): acc - t >= 1 gives 1, acc - t <= 0 gives 0."""
    t = step.threshold.reshape(node.channels, -1)
    if not np.all(t == t[:, :1]):
        raise CompileError(f"node '{step_name}': its thresholds vary within a channel; a CONV_2D has one bias "
                           "per output channel")
    bias = node.bias - t[:, 0]
    lo, hi = in_range
    worst = (np.abs(node.weights).reshape(node.channels, -1).sum(axis=1)
             * max(abs(lo - node.input_zero_point), abs(hi - node.input_zero_point)) + np.abs(bias)).max()
    if worst > INT32_MAX:
        raise CompileError(f"node '{step_name}': accumulator - threshold can reach {int(worst)}, beyond int32; "
                           "the fused CONV_2D would wrap")
    in_scale = tensor_scale(w, x)
    f = np.full(node.channels, np.float32(STEP_FILTER_GAIN * STEP_SCALE / np.float32(in_scale)), np.float32)
    mult, shift = prepared_multipliers(in_scale, f, STEP_SCALE)
    if np.any(shift != 0) or np.any(mult < 2**30):
        raise CompileError(f"node '{step_name}': no weight scale gives the Step a multiplier in [0.5, 1)")
    fused = ConvGemm(node.weights, in_shape=node.in_shape, stride=node.stride, padding=node.padding, bias=bias,
                     multiplier=mult, shift=shift, input_zero_point=node.input_zero_point, act_min=0, act_max=1)
    y = conv2d(w, step_name, fused, x, in_scale, STEP_SCALE, f, "RELU6")
    return y
