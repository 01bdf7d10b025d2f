"""`snnc export --format tflite`: an edge-int8 graph as a TensorFlow Lite flatbuffer.

Written with the schema's own object API (`ai_edge_litert.schema_py_generated`, the
generated code of tensorflow/compiler/mlir/lite/schema/schema.fbs) and `flatbuffers`;
no TensorFlow. One subgraph, batch 1, every activation tensor [1, 1, 1, N] (NHWC: a 1 x 1
image of N channels; the executor resizes the batch), one operator per graph layer:

  Gemm (requantise)        CONV_2D 1 x 1, int8 (int16: the 16x8 scheme, int32 bias with
                           quantized_bias_type INT32) with per-channel weight scales, fused
                           NONE or RELU where that is the node's clamp, else MAXIMUM / MINIMUM
                           with the clamp's bounds after it. A CONV_2D, not a FULLY_CONNECTED:
                           TFLite Micro's FULLY_CONNECTED (micro/kernels/fully_connected.cc,
                           reference_integer_ops::FullyConnectedPerChannel with per-channel
                           multipliers) and its CONV_2D (reference_integer_ops::ConvPerChannel)
                           both requantise with MultiplyByQuantizedMultiplier, as edge-int8 does,
                           but LiteRT's reference FULLY_CONNECTED (tflite/kernels/fully_connected.cc,
                           FullyConnectedPerChannelInt8 / FullyConnectedPerChannelInt16 under
                           kReference) calls the overload of reference_integer_ops::
                           FullyConnectedPerChannel that rounds double(acc) x scale once, half
                           away from zero; LiteRT's reference CONV_2D (tflite/kernels/conv.cc,
                           EvalQuantizedPerChannel / EvalQuantizedPerChannel16x8 with an int32
                           bias) calls ConvPerChannel with the multipliers of
                           PopulateConvolutionQuantizationParams. So a 1 x 1 CONV_2D is the form
                           whose arithmetic is one and the same in TFLite Micro, CMSIS-NN and
                           LiteRT's reference kernels (targets/edge_int8/spec.py: REFERENCE_EXECUTOR)
  Gemm -> Step             one FULLY_CONNECTED int8 (keep_num_dims): bias - threshold, a multiplier in [0.5, 1)
                           with shift 0 and fused RELU6 on an output of scale 6, zero point 0
                           (clamp [0, 1]: CalculateActivationRangeQuantized gives [zp, zp +
                           round(6 / scale)]): acc - t >= 1 gives >= 1, acc - t <= 0 gives
                           <= 0 under any rounding that keeps the sign, so the output is
                           acc > t. The Gemm's accumulator is no tensor (fused)
  Gemm -> Output           CAST to float32, then a float32 FULLY_CONNECTED (keep_num_dims) with the integer
                           weights and bias - input_zero_point * rowsum(W): every partial sum
                           is an integer below 2^24, so float32 holds the int32 accumulator
                           exactly (checked per layer; TFLite Micro's FULLY_CONNECTED has no
                           int32 output)
  Relu                     nothing where the clamp before it already is the ReLU, else MAXIMUM
  ConvGemm, AvgPool        CONV_2D / AVERAGE_POOL_2D on NHWC images (targets/edge_int8/tflite_conv.py; a
                           ConvGemm -> Step as the Gemm -> Step form above, per output channel); flat tensors
                           reshaped and transposed to images before them, and back before a Gemm
  PWL                      refused (no exact builtin form: see `_refuse_pwl`)

Scales (why these): the graph holds each layer's multiplier and shift, not the real scales
they came from, so every int8/int16 activation tensor is written with its input tensor's scale S
(the graph input's, or 6 after a Step)
and each weight channel with f_c = multiplier_c * 2^(shift_c - 31). TFLite's Prepare
(tflite/kernels/kernel_util.cc PopulateConvolutionQuantizationParams, also for one channel) computes
QuantizeMultiplier(double(S) * double(f_c) / double(S)); S * f_c is exact in double (two
24-bit significands) and dividing it by S gives f_c exactly, so QuantizeMultiplier(f_c)
returns the node's (multiplier_c, shift_c) whenever f_c is a float32, i.e. whenever the
multiplier has at most 24 significant bits (the quantiser rounds its scale to float32 first
for this). `prepared_multipliers` replays that computation and `build` refuses any layer
whose replay differs from the node, naming the node and channel.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snnc.compiler.ir import Graph, Output, check_graph
from snnc.compiler.ir.dense import PWL, Gemm, Relu, Step
from snnc.compiler.ir.dense_conv import AvgPool, ConvGemm
from snnc.errors import CompileError, InputError
from snnc.io import atomic_path
from snnc.runtime.dense import is_dense, layer_order
from snnc.targets.edge_int8.spec import INT32_MAX
from snnc.targets.edge_int8 import value_range
from snnc.targets.edge_int8 import tflite_conv
from snnc.targets.edge_int8.tflite_writer import NUMPY_TYPES, Writer, schema
from snnc.targets.edge_int8.tflite_conv import STEP_FILTER_GAIN, STEP_SCALE, prepared_multipliers, tensor_scale

FLOAT32_EXACT = 2**24      # integers up to here are exact in float32 (IEEE 754 binary32: 24-bit significand)


@dataclass
class TFLiteModel:
    """The flatbuffer, the tensor holding each layer's output (fused layers: none), the ops used."""

    content: bytes
    layer_tensors: dict[str, str | None]
    ops: tuple[str, ...]
    output: str


def export(graph: Graph, path, **options) -> Path:
    """Write the .tflite model of `graph` to `path`, atomically."""
    if options:
        raise InputError(f"tflite export takes no options, got {', '.join(options)}")
    model = build(graph)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(model.content)
    return Path(path)


def build(graph: Graph) -> TFLiteModel:
    check_graph(graph)
    if graph.target != "edge-int8" or not is_dense(graph):
        raise CompileError(f"tflite export writes edge-int8 dense graphs; this one is for '{graph.target}'")
    w = Writer(schema())
    (name, node), = graph.inputs.items()
    lo, hi = value_range(graph, name)
    quant = graph.metadata.get("input_quant", {"scale": 1.0, "zero_point": 0})
    scale = np.float32(quant["scale"])
    tensors = {name: w.tensor(name, act_shape(node.size), _int_type(lo, hi), scale=scale,
                              zero_point=int(quant.get("zero_point", 0)))}
    zero_points = {name: int(quant.get("zero_point", 0))}
    layer_tensors: dict[str, str | None] = {}
    for layer in layer_order(graph):
        src = graph.predecessors(layer)[0]
        if layer in tensors:             # a Step, written with its Gemm
            layer_tensors[layer] = w.tensors[tensors[layer]].name
            continue
        if src not in tensors:           # a fused Gemm feeds only its Step
            raise CompileError(f"node '{layer}': reads '{src}', whose int32 accumulator is fused into its Step")
        x = _laid_out(w, graph.nodes[layer], tensors[src])
        out = _layer(w, graph, layer, x, zero_points[src], tensor_scale(w, x))
        if out is not None:   # a Gemm fused with its Step gives the Step's tensor
            owner = fused_step(graph, layer) or layer
            tensors[owner], zero_points[owner] = out
        layer_tensors[layer] = w.tensors[tensors[layer]].name if layer in tensors else None
    (out_name, out_node), = graph.outputs.items()
    last = graph.predecessors(out_name)[0]
    content = w.finish([tensors[name]], [tensors[last]])
    return TFLiteModel(content, layer_tensors, tuple(w.codes), w.tensors[tensors[last]].name)


def _laid_out(w: Writer, node, x: int) -> int:
    """x as the layer reads it: an NHWC image for a conv or pool, flat for the other layers."""
    return tflite_conv.as_image(w, x, node.in_shape) if isinstance(node, (ConvGemm, AvgPool)) \
        else tflite_conv.as_flat(w, x)


def fused_step(graph: Graph, name: str) -> str | None:
    """The Step a Gemm or ConvGemm that keeps its accumulator is fused with, or None."""
    node, succ = graph.nodes[name], graph.successors(name)
    if isinstance(node, (Gemm, ConvGemm)) and not node.requantise and len(succ) == 1 and isinstance(graph.nodes[succ[0]], Step):
        return succ[0]
    return None


def _int_type(lo: int, hi: int) -> str:
    if -128 <= lo and hi <= 127:
        return "INT8"
    if -(2**15) <= lo and hi < 2**15:
        return "INT16"
    raise CompileError(f"values in [{lo}, {hi}] need more than 16 bits; TFLite's integer activations are int8 or int16")


def _layer(w: Writer, graph: Graph, name: str, x: int, zp: int, scale) -> tuple[int, int] | None:
    node = graph.nodes[name]
    if isinstance(node, PWL):
        _refuse_pwl(name)
    if isinstance(node, Relu):
        return _relu(w, graph, name, node, x, zp)
    if isinstance(node, Step):
        raise CompileError(f"node '{name}': a Step must read a Gemm that keeps its int32 accumulator")
    if isinstance(node, AvgPool):
        return tflite_conv.avg_pool(w, name, node, x, scale, zp), zp
    succ = [graph.nodes[s] for s in graph.successors(name)]
    if node.requantise:
        return _requantised(w, graph, name, node, x, zp, scale)
    step = fused_step(graph, name)
    if step is not None and isinstance(node, ConvGemm):
        _check_zero_point(name, node, zp)
        in_range = value_range(graph, graph.predecessors(name)[0])
        return tflite_conv.conv_step(w, name, node, step, graph.nodes[step], x, in_range), 0
    if step is not None:
        return _step(w, graph, name, node, step, graph.nodes[step], x, zp, scale)
    if succ and all(isinstance(s, Output) for s in succ):
        return _accumulator(w, graph, name, node, x, zp)
    raise CompileError(f"node '{name}': a Gemm that keeps its int32 accumulator must feed one Step or the Output "
                       "in a .tflite model (TFLite has no int32-output FULLY_CONNECTED)")


def _refuse_pwl(name: str):
    raise CompileError(f"node '{name}': a PWL layer has no exact TFLite builtin form (its per-edge segment search "
                       "and int32 value/slope tables need int32 GATHER and int32 multiply-adds that wrap, which "
                       "TFLite leaves undefined); compile with --kan-lowering gemm to export it")


def _check_zero_point(name: str, node, zp: int) -> None:
    if node.input_zero_point != zp:
        raise CompileError(f"node '{name}': input_zero_point {node.input_zero_point} differs from its input "
                           f"tensor's zero point {zp}; a TFLite tensor has one zero point")


def filter_scales(node: Gemm) -> np.ndarray:
    """f_c = multiplier_c * 2^(shift_c - 31), as float32 (the value TFLite reads back)."""
    return (node.multiplier.astype(np.float64) * np.exp2(node.shift.astype(np.float64) - 31)).astype(np.float32)


def _requantised(w: Writer, graph: Graph, name: str, node: Gemm, x: int, zp: int, scale) -> tuple[int, int]:
    _check_zero_point(name, node, zp)
    in_type, out_type = w.tensors[x].type, _int_type(node.act_min, node.act_max)
    if getattr(w.schema.TensorType, out_type) != in_type:
        raise CompileError(f"node '{name}': {out_type.lower()} output from a different input type; TFLite Micro's "
                           "FULLY_CONNECTED keeps one type (int8 or int16 throughout)")
    if out_type == "INT16" and (zp != 0 or node.output_zero_point != 0):
        raise CompileError(f"node '{name}': int16 tensors need zero point 0 (TFLite's 16x8 scheme)")
    f = filter_scales(node)
    mult, shift = prepared_multipliers(scale, f, scale)
    bad = np.flatnonzero((mult != node.multiplier) | (shift != node.shift))
    if bad.size:
        c = int(bad[0])
        raise CompileError(f"node '{name}': channel {c}'s multiplier {node.multiplier[c]} (shift {node.shift[c]}) "
                           f"is not what TFLite's QuantizeMultiplier gives for any float32 weight scale (it needs "
                           f"at most 24 significant bits; TFLite would use {mult[c]}, shift {shift[c]})")
    activation, clamp = _fused(node, out_type)
    if isinstance(node, ConvGemm):
        y = tflite_conv.conv2d(w, name, node, x, scale, scale, f, activation)
    else:
        y = _conv(w, name, node.weights, node.bias, f, x, scale, out_type, (scale, node.output_zero_point), activation)
    for code, bound in clamp:
        y = _clamp(w, name, code, bound, y, out_type, scale, node.output_zero_point)
    return y, node.output_zero_point


def _fused(node: Gemm, dtype: str) -> tuple[str, list]:
    """The fused activation that is the node's clamp (NONE: the type's range; RELU: [zp, max]),
    and the MAXIMUM / MINIMUM ops that finish it where no fused one is."""
    lo, hi = (-128, 127) if dtype == "INT8" else (-(2**15), 2**15 - 1)
    relu = node.act_min == node.output_zero_point
    start = node.output_zero_point if relu else lo
    extra = ([("MAXIMUM", node.act_min)] if node.act_min > start else []) \
        + ([("MINIMUM", node.act_max)] if node.act_max < hi else [])
    return ("RELU" if relu else "NONE"), extra


def act_shape(n: int) -> list[int]:
    """Every activation tensor: NHWC, batch 1, a 1 x 1 image of n channels (CONV_2D's layout;
    FULLY_CONNECTED reads it with keep_num_dims)."""
    return [1, 1, 1, n]


def _weights_and_bias(w: Writer, name: str, weights, bias, filters, in_scale, shape) -> tuple[int, int]:
    """int8 weights with one scale per output channel (dimension 0), int32 bias at in_scale x filter."""
    zeros = np.zeros(len(filters), np.int64)
    wt = w.tensor(f"{name}/weights", shape, "INT8", data=weights, scale=filters, zero_point=zeros)
    bias_scale = (np.float32(in_scale) * filters.astype(np.float64)).astype(np.float32)
    return wt, w.tensor(f"{name}/bias", [len(bias)], "INT32", data=bias, scale=bias_scale, zero_point=zeros)


def _conv(w: Writer, name: str, weights, bias, filters, x: int, in_scale, dtype: str, out_quant,
          activation: str) -> int:
    """A requantising Gemm as a 1 x 1 CONV_2D (module docstring: why not FULLY_CONNECTED)."""
    s = w.schema
    n_out, n_in = weights.shape
    wt, bt = _weights_and_bias(w, name, weights, bias, filters, in_scale, [n_out, 1, 1, n_in])
    y = w.tensor(name, act_shape(n_out), dtype, scale=out_quant[0], zero_point=out_quant[1])
    opt = s.Conv2DOptionsT()
    opt.padding, opt.strideW, opt.strideH, opt.dilationWFactor, opt.dilationHFactor = s.Padding.VALID, 1, 1, 1, 1
    opt.fusedActivationFunction = getattr(s.ActivationFunctionType, activation)
    if dtype == "INT16":
        opt.quantizedBiasType = s.TensorType.INT32     # 16x8 with an int32 bias and accumulator, as edge-int8's
    w.op("CONV_2D", [x, wt, bt], [y], (s.BuiltinOptions.Conv2DOptions, opt))
    return y


def _fc(w: Writer, name: str, weights, bias, filters, x: int, in_scale, out_quant, activation: str) -> int:
    """An int8 FULLY_CONNECTED (the Step's: any sign-keeping rounding gives the same 0/1)."""
    s = w.schema
    wt, bt = _weights_and_bias(w, name, weights, bias, filters, in_scale, weights.shape)
    y = w.tensor(name, act_shape(weights.shape[0]), "INT8", scale=out_quant[0], zero_point=out_quant[1])
    opt = s.FullyConnectedOptionsT()
    opt.fusedActivationFunction = getattr(s.ActivationFunctionType, activation)
    opt.keepNumDims = True
    w.op("FULLY_CONNECTED", [x, wt, bt], [y], (s.BuiltinOptions.FullyConnectedOptions, opt))
    return y


def _clamp(w: Writer, name: str, code: str, bound: int, x: int, dtype: str, scale, zp: int) -> int:
    const = w.tensor(f"{name}/{code.lower()}_bound", [1], dtype, data=[bound], scale=scale, zero_point=zp)
    w.tensors[x].name = f"{w.tensors[x].name}/unclamped_{code.lower()}"
    y = w.tensor(name, w.tensors[x].shape, dtype, scale=scale, zero_point=zp)
    w.op(code, [x, const], [y])
    return y


def _relu(w: Writer, graph: Graph, name: str, node: Relu, x: int, zp: int) -> tuple[int, int]:
    lo, _ = value_range(graph, graph.predecessors(name)[0])
    if lo >= node.zero_point:      # the clamp before it already is the ReLU: the same tensor
        return x, zp
    t = w.tensors[x]
    dtype = {getattr(w.schema.TensorType, k): k for k in NUMPY_TYPES}[t.type]
    q = t.quantization
    return _maximum(w, name, node.zero_point, x, dtype, q.scale[0], q.zeroPoint[0]), zp


def _maximum(w: Writer, name: str, bound: int, x: int, dtype: str, scale, zp: int) -> int:
    const = w.tensor(f"{name}/zero_point", [1], dtype, data=[bound], scale=scale, zero_point=zp)
    y = w.tensor(name, w.tensors[x].shape, dtype, scale=scale, zero_point=zp)
    w.op("MAXIMUM", [x, const], [y])
    return y


def _step(w: Writer, graph: Graph, name: str, node: Gemm, step_name: str, step: Step, x: int, zp: int,
          scale) -> tuple[int, int]:
    """Gemm + Step as one int8 FULLY_CONNECTED (module docstring); its output is the Step's."""
    _check_zero_point(name, node, zp)
    if w.tensors[x].type != w.schema.TensorType.INT8:
        raise CompileError(f"node '{step_name}': a Step after an int16 input has no int8 FULLY_CONNECTED form")
    bias = node.bias - step.threshold
    lo, hi = value_range(graph, graph.predecessors(name)[0])
    worst = (np.abs(node.weights).sum(axis=1) * max(abs(lo - zp), abs(hi - zp)) + np.abs(bias)).max()
    if worst > INT32_MAX:
        raise CompileError(f"node '{step_name}': accumulator - threshold can reach {int(worst)}, beyond int32; "
                           "the fused FULLY_CONNECTED would wrap")
    f = np.full(node.out_size, np.float32(STEP_FILTER_GAIN * STEP_SCALE / float(np.float32(scale))), np.float32)
    mult, shift = prepared_multipliers(scale, f, STEP_SCALE)
    if np.any(shift != 0) or np.any(mult < 2**30):
        raise CompileError(f"node '{step_name}': no weight scale gives the Step a multiplier in [0.5, 1)")
    _fc(w, step_name, node.weights, bias, f, x, scale, (STEP_SCALE, 0), "RELU6")
    w.tensors[-1].name = step_name
    return len(w.tensors) - 1, 0


def _accumulator(w: Writer, graph: Graph, name: str, node: Gemm, x: int, zp: int) -> tuple[int, int]:
    """The int32 accumulator the Output reads, exactly: float32 FULLY_CONNECTEDs over groups of
    input columns whose partial sums stay below 2^24 (the other columns' weights 0), each
    exact; more than one group: each CAST to int32 and summed by int32 ADDs."""
    s = w.schema
    _check_zero_point(name, node, zp)
    bias = node.bias - zp * node.weights.sum(axis=1)
    lo, hi = value_range(graph, graph.predecessors(name)[0])
    groups = _column_groups(np.abs(node.weights) * max(abs(lo), abs(hi)), np.abs(bias), name)
    xf = w.tensor(f"{name}/input_float", w.tensors[x].shape, "FLOAT32")
    w.op("CAST", [x], [xf])
    parts = []
    for i, cols in enumerate(groups):
        weights = np.zeros(node.weights.shape, np.float32)
        weights[:, cols] = node.weights[:, cols]
        suffix = "" if len(groups) == 1 else f"/part{i}"
        wt = w.tensor(f"{name}{suffix}/weights", node.weights.shape, "FLOAT32", data=weights)
        bt = w.tensor(f"{name}{suffix}/bias", [node.out_size], "FLOAT32", data=bias if i == 0 else 0 * bias)
        y = w.tensor(name + suffix, act_shape(node.out_size), "FLOAT32")
        opt = s.FullyConnectedOptionsT()
        opt.fusedActivationFunction, opt.keepNumDims = s.ActivationFunctionType.NONE, True
        w.op("FULLY_CONNECTED", [xf, wt, bt], [y], (s.BuiltinOptions.FullyConnectedOptions, opt))
        parts.append(y)
    if len(parts) == 1:
        return parts[0], 0
    total = None
    for i, part in enumerate(parts):
        as_int = w.tensor(f"{name}/part{i}_int32", act_shape(node.out_size), "INT32")
        w.op("CAST", [part], [as_int])
        if total is not None:
            summed = w.tensor(name if i == len(parts) - 1 else f"{name}/sum{i}", act_shape(node.out_size), "INT32")
            w.op("ADD", [total, as_int], [summed], (s.BuiltinOptions.AddOptions, s.AddOptionsT()))
            as_int = summed
        total = as_int
    return total, 0


def _column_groups(terms: np.ndarray, bias: np.ndarray, name: str) -> list[list[int]]:
    """Input columns in groups whose worst |partial sum| (terms [out, in]; the bias in the
    first group) stays below 2^24 in every channel."""
    groups, current, load = [], [], bias.astype(np.float64)
    for col in range(terms.shape[1]):
        if np.any(terms[:, col] + (bias if not groups and not current else 0) >= FLOAT32_EXACT):
            raise CompileError(f"node '{name}': input {col}'s products reach 2^24; no float32 sum holds them exactly")
        if np.any(load + terms[:, col] >= FLOAT32_EXACT):
            groups.append(current)
            current, load = [], np.zeros(len(bias))
        current.append(col)
        load = load + terms[:, col]
    return groups + [current]
