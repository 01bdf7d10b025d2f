"""ONNX export of dense (Gemm/PWL/Relu/Step) graphs: the edge-int8 requantisation in integer ops.

One model per graph (opset 18): input `input` [B, 1, N] (int32 int8 values on
edge-int8, float32 on ideal), one output `<layer>.y` [B, 1, n] per dense
layer (int32; float32 on ideal); on edge-int8 the metadata `snnc.input_range`
holds the input values the graph takes, [lo, hi], which `snnc export --run`
checks. Inside, every integer is int64 and the arithmetic of
`snnc.targets.edge_int8` is written with exact integer ops
(no float scale anywhere: ONNX's QLinearMatMul / QuantizeLinear requantise
through a float32 scale and do not reproduce a fixed-point multiplier bit
for bit):

    acc   = wrap32(MatMul(x - zp_in, W^T) + b)          (MatMul exact: see onnx_ops.matmul)
    a     = Clip(acc * 2^left, INT32_MIN, INT32_MAX)
    ab    = a * multiplier                              (|ab| < 2^62: int64 exact)
    h     = Div(ab + Where(ab < 0, 1 - 2^30, 2^30), 2^31)   Div on int64 truncates toward zero
    fl    = (h - Mod(h, 2^r)) / 2^r                      floor(h / 2^r), Mod fmod=0: remainder >= 0
    y     = fl + (Mod(h, 2^r) > (2^r - 1) / 2 + (h < 0))  (integer halving of the mask)
    y     = Clip(y + zp_out, act_min, act_max)
    Relu  = Max(x, zero_point);  Step = Cast(Greater(x, threshold))
    PWL   k = ReduceSum(Cast(GreaterOrEqual(x - zp_in, inner knots)));  the knot, value and
          slope of segment k by Gather on the flattened tables;  acc = wrap32(ReduceSum(
          V + S (x - zp_in - K)) + b), then requantised like a Gemm (float: the interpolation
          in float64, as edge_int8.pwl_float)

The multiplier is >= 0 (node range), so gemmlowp's one saturating case
(both factors INT32_MIN) cannot occur. `run_model` runs it in onnxruntime.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from snnc.compiler.export.onnx_ops import Builder
from snnc.compiler.ir import Graph, check_graph
from snnc.compiler.export import onnx_edge_conv as edge_conv
from snnc.compiler.ir.dense import PWL, Gemm, Relu, Step
from snnc.compiler.ir.dense_conv import AvgPool, ConvGemm
from snnc.errors import CompileError, InputError
from snnc.io import atomic_path
from snnc.runtime.dense import is_dense, is_integer, layer_order
from snnc.targets.edge_int8 import INT32_MAX, INT32_MIN, input_range, value_range

OPSET = 18
INT64, FLOAT64 = 7, 11


def export(graph: Graph, path, **options) -> Path:
    """Write the model of `graph` to `path`, atomically."""
    if options:
        raise InputError(f"dense ONNX export takes no options, got {', '.join(options)}")
    model = build(graph)
    with atomic_path(path) as tmp:
        onnx.save(model, str(tmp))
    return Path(path)


def build(graph: Graph) -> onnx.ModelProto:
    check_graph(graph)
    if not is_dense(graph):
        raise CompileError("onnx_edge exports dense (Gemm/PWL/Relu/Step) graphs; this one has neuron populations")
    b, integer = Builder(), is_integer(graph)
    flat = b.op("Squeeze", "input", b.i64([1]))
    values, start = {}, 0
    for name, node in graph.inputs.items():
        cols = b.op("Slice", flat, b.i64([start]), b.i64([start + node.size]), b.i64([1]))
        values[name] = b.op("Cast", cols, to=INT64) if integer else cols
        start += node.size
    outs = []
    for name in layer_order(graph):
        src = graph.predecessors(name)[0]
        values[name] = _layer(b, graph, name, values[src], integer)
        outs.append(b.op("Unsqueeze", b.op("Cast", values[name], to=TensorProto.INT32 if integer else 1),
                         b.i64([1]), out=f"{name}.y"))
    return _model(graph, b, outs, integer)


def _model(graph: Graph, b: Builder, outs: list[str], integer: bool) -> onnx.ModelProto:
    dtype = TensorProto.INT32 if integer else TensorProto.FLOAT
    n_in = sum(node.size for node in graph.inputs.values())
    g = helper.make_graph(
        b.nodes, f"{graph.target}_dense", [helper.make_tensor_value_info("input", dtype, ["B", 1, n_in])],
        [helper.make_tensor_value_info(o, dtype, ["B", 1, graph.nodes[o[:-2]].out_size]) for o in outs],
        b.initializers)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="snnc")
    model.ir_version = 9
    props = {"snnc.target": graph.target, "snnc.model": "dense", "snnc.steps": "1", "snnc.pad_steps": "0"}
    if integer:  # the input values the graph takes (int8, or int16 per its input_quant): --run checks them
        props["snnc.input_range"] = json.dumps(list(input_range(graph)))
    helper.set_model_props(model, props)
    onnx.checker.check_model(model, full_check=True)
    return model


def _layer(b: Builder, graph: Graph, name: str, x: str, integer: bool) -> str:
    node = graph.nodes[name]
    if isinstance(node, Gemm):
        return _gemm_int(b, graph, name, node, x) if integer else _gemm_float(b, node, x)
    if isinstance(node, PWL):
        return _pwl_int(b, node, x) if integer else _pwl_float(b, node, x)
    if isinstance(node, ConvGemm):
        return _conv_int(b, graph, name, node, x) if integer else edge_conv.conv_float(b, node, x)
    if isinstance(node, AvgPool):
        return edge_conv.avg_pool_int(b, node, x) if integer else edge_conv.avg_pool_float(b, node, x)
    if isinstance(node, Relu):
        zero = b.i64(node.zero_point) if integer else b.const(node.zero_point, np.float32)
        return b.op("Max", x, zero)
    if isinstance(node, Step):
        thr = b.i64(node.threshold) if integer else b.const(node.threshold, np.float32)
        return b.op("Cast", b.op("Greater", x, thr), to=INT64 if integer else 1)
    raise CompileError(f"node '{name}': dense ONNX export has no lowering for {type(node).__name__}")


def _gemm_float(b: Builder, node: Gemm, x: str) -> str:
    w = b.const(node.weights.T, np.float64)
    y = b.op("Add", b.op("MatMul", b.op("Cast", x, to=FLOAT64), w), b.const(node.bias, np.float64))
    return b.op("Cast", y, to=1)


def _gemm_int(b: Builder, graph: Graph, name: str, node: Gemm, x: str) -> str:
    lo, hi = value_range(graph, graph.predecessors(name)[0])
    worst_x = max(abs(lo - node.input_zero_point), abs(hi - node.input_zero_point))
    centred = b.op("Sub", x, b.i64(node.input_zero_point))
    acc = b.matmul(centred, b.i64(node.weights.T), float(np.abs(node.weights).sum(axis=1).max()) * worst_x)
    return _output(b, node, b.wrap(b.op("Add", acc, b.i64(node.bias)), 32))


def _conv_int(b: Builder, graph: Graph, name: str, node: ConvGemm, x: str) -> str:
    lo, hi = value_range(graph, graph.predecessors(name)[0])
    acc = edge_conv.conv_accumulator(b, node, x, max(abs(lo - node.input_zero_point), abs(hi - node.input_zero_point)))
    return _output(b, node, acc, edge_conv.per_pixel)


def _output(b: Builder, node, acc: str, per=lambda node, v: v) -> str:
    """A Gemm's, PWL's or ConvGemm's int32 accumulator, requantised and clamped (as it is if it does not);
    `per` spreads per-channel vectors over a conv's pixels."""
    if not node.requantise:
        return acc
    y = b.op("Add", requantise(b, acc, per(node, node.multiplier), per(node, node.shift)),
             b.i64(node.output_zero_point))
    return b.saturate(y, node.act_min, node.act_max)


def _segments(b: Builder, x: str, knots: np.ndarray, const) -> str:
    """k [B, in]: #{j = 1..n-1 : x >= knots[p, j]} (edge_int8.pwl_segments)."""
    if knots.shape[1] == 2:   # one segment: k = 0
        return b.op("Cast", b.op("Mul", x, const(np.zeros(()))), to=INT64)
    above = b.op("GreaterOrEqual", b.op("Unsqueeze", x, b.i64([2])), const(knots[:, 1:-1]))
    return b.op("ReduceSum", b.op("Cast", above, to=INT64), b.i64([2]), keepdims=0)


def _table(b: Builder, table: np.ndarray, k: str, const) -> str:
    """table[..., p, k[b, p]] for a table [..., in, width]: [B, in], or [out, B, in] for a
    3-D one (a Gather on the flattened last two axes)."""
    *lead, inputs, width = table.shape
    index = b.op("Add", k, b.i64(np.arange(inputs) * width))
    return b.op("Gather", const(table.reshape(*lead, inputs * width)), index, axis=len(lead))


def _edge_sum(b: Builder, terms: str, bias: str) -> str:
    """bias + sum over the inputs of the terms [out, B, in]: [B, out]."""
    return b.op("Add", b.op("Transpose", b.op("ReduceSum", terms, b.i64([2]), keepdims=0), perm=[1, 0]), bias)


def _pwl_int(b: Builder, node: PWL, x: str) -> str:
    centred = b.op("Sub", x, b.i64(node.input_zero_point))
    k = _segments(b, centred, node.knots, b.i64)
    dx = b.op("Sub", centred, _table(b, node.knots, k, b.i64))                  # [B, in]
    terms = b.op("Add", _table(b, node.values, k, b.i64), b.op("Mul", _table(b, node.slopes, k, b.i64), dx))
    return _output(b, node, b.wrap(_edge_sum(b, terms, b.i64(node.bias)), 32))


def _pwl_float(b: Builder, node: PWL, x: str) -> str:
    f64 = lambda v: b.const(np.asarray(v, np.float64), np.float64)   # noqa: E731
    x = b.op("Cast", x, to=FLOAT64)
    t, v = node.knots.astype(np.float64), node.values.astype(np.float64)
    k = _segments(b, x, t, f64)
    frac = b.op("Div", b.op("Sub", x, _table(b, t, k, f64)), _table(b, np.diff(t, axis=1), k, f64))   # [B, in]
    start = _table(b, v, k, f64)
    terms = b.op("Add", start, b.op("Mul", b.op("Sub", _table(b, v[:, :, 1:], k, f64), start), frac))
    return b.op("Cast", _edge_sum(b, terms, f64(node.bias)), to=1)


def requantise(b: Builder, acc: str, multiplier: np.ndarray, shift: np.ndarray) -> str:
    """MultiplyByQuantizedMultiplier (edge_int8.requantise) on int64 values holding int32."""
    left, right = np.maximum(shift, 0), np.maximum(-shift, 0)
    a = b.saturate(b.shift_left(acc, left), INT32_MIN, INT32_MAX)
    ab = b.op("Mul", a, b.i64(multiplier))
    negative = b.op("Less", ab, b.i64(0))
    nudge = b.op("Where", negative, b.i64(1 - (1 << 30)), b.i64(1 << 30))
    h = b.trunc_div(b.op("Add", ab, nudge), 1 << 31)
    pow2 = b.i64(np.left_shift(1, right.astype(np.int64)), "pow2")
    remainder = b.op("Mod", h, pow2, fmod=0)
    floor = b.op("Div", b.op("Sub", h, remainder), pow2)
    threshold = b.op("Add", b.i64((np.left_shift(1, right.astype(np.int64)) - 1) >> 1),
                     b.op("Cast", b.op("Less", h, b.i64(0)), to=INT64))
    return b.op("Add", floor, b.op("Cast", b.op("Greater", remainder, threshold), to=INT64))


def run_model(graph: Graph, x, model: onnx.ModelProto | None = None) -> dict:
    """The model in onnxruntime on x [B, 1, N]: {layer: {"v": output}} [B, 1, n], and "spikes"
    (the same 0/1 output) for Step layers, as snnc.runtime.dense reports them."""
    from snnc.compiler.export.onnx import check_batch, session

    x = np.asarray(x)
    if x.ndim != 3 or x.shape[1] != 1:
        raise InputError(f"dense ONNX input must be [B, 1, N], got shape {x.shape}")
    check_batch(x, "[B, 1, N]")
    integer = is_integer(graph)
    sess = session(model if model is not None else build(graph))
    feed = x.astype(np.int32) if integer else x.astype(np.float32)
    out = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"input": feed})))
    cast = (lambda a: a.astype(np.int64)) if integer else (lambda a: a)
    result = {n: {"v": cast(out[f"{n}.y"])} for n in layer_order(graph)}
    for n in graph.of_type(Step):
        result[n]["spikes"] = result[n]["v"]
    return result
