"""Quantise a dense float graph (Gemm, PWL, Relu, Step on `ideal`) for `edge-int8`.

TFLite's post-training integer scheme (quantization_spec), calibrated on
training samples (`--calibrate N`, the float graph run on them):

  input     analog: asymmetric int8, s = (hi - lo) / 255, zp = round(-128 - lo / s) over the
            calibration range [lo, hi] (0 included); integer input already in int8 (spikes):
            s = 1, zp = 0 (exact). Host-side: graph.metadata["input_quant"].
  weights   symmetric int8 per output channel: s_w[c] = max_i |W[c, i]| / 127, W_q = round(W / s_w);
            per tensor (one s_w) for the Gemm the Output reads, so its decoding gain is one number
  bias      int32: b_q = round(b / (s_in s_w[c])), the accumulator's scale
  outputs   a Gemm read by a Step or the Output keeps its int32 accumulator (requantise=False):
            a Step compares it with floor(zp + vth / s) (exact for an integer operand),
            the Output decodes gain s_in s_w acc + offset;
            any other Gemm requantises to int8 (asymmetric, calibrated range of its output, or of
            the Relu after it: then act_min = zp, the fused ReLU) with the per-channel fixed-point
            multiplier of M[c] = s_in s_w[c] / s_out (edge_int8.quantize_multiplier)
  ConvGemm  as a Gemm, per output channel (its weights' rows flattened); the int32 accumulator a Step
            reads carries its channel's scale at every pixel, so each threshold gets its own
  AvgPool   keeps its input's scale and zero point (TFLite's int8 AVERAGE_POOL_2D requires it)
  Relu      max(q, zp): the real zero of its input tensor
  PWL       knots in input LSBs K = round(t / s_in) (relative to the input's zero point);
            values and slopes int32 at an accumulator scale s_acc[q] at which the largest |acc|
            over the whole input range (the end segments extended to its ends) is int32 / PWL_HEADROOM
            (per tensor when the Output reads it): V = round(v / s_acc),
            slope = round((v[k+1] - v[k]) / (K[k+1] - K[k]) / s_acc) per input LSB (between integer
            knots: the integer line meets each rounded value up to the slope's rounding); bias
            likewise; kept as the accumulator when the Output reads it, else requantised as a
            Gemm, to the layer's exact output range over its input range (y is separable, so
            its extremes are the sums of the edges' extremes, each at a knot or a range end):
            not a calibrated range, so no input the previous layer can give saturates it

graph.metadata["activation_bits"] = 16 (set by a frontend) selects int16 activations and input
instead (symmetric, zp = 0, [-32767, 32767]: TFLite's 16x8 scheme) with the same int8 weights.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from snnc.compiler.ir import Graph, Input, Output
from snnc.compiler.ir.dense import PWL, DenseLayer, Gemm, Relu, Step
from snnc.compiler.ir.dense_conv import AvgPool, ConvGemm
from snnc.compiler.passes.base import Pass
from snnc.errors import CompileError
from snnc.runtime import dense
from snnc.targets import edge_int8
from snnc.targets.edge_int8 import INT32_MAX, INT32_MIN, quantize_multiplier

ACT_RANGE = {8: (-128, 127), 16: (-32767, 32767)}
# a PWL's largest |acc| over its input range is set to 2^31 / PWL_HEADROOM: room for the rounding
# of values and slopes (an estimate; the accumulator-headroom design rule checks the integer layer)
PWL_HEADROOM = 2
WEIGHT_MAX = 127   # symmetric int8 weights (TFLite quantization_spec)


@dataclass
class Quant:
    """How an integer tensor maps to reals: real = scale * (q - zero_point); q in [lo, hi]."""

    scale: np.ndarray   # [n] or a scalar
    zero_point: int
    lo: int
    hi: int


class QuantiseEdge(Pass):
    name = "quantise-edge"

    def run(self, graph: Graph, ctx) -> Graph:
        if not graph.of_type(DenseLayer) or graph.neurons:
            raise CompileError("edge-int8 quantises dense graphs (Gemm, PWL, Relu, Step); run dense-layers first")
        bits = int(graph.metadata.get("activation_bits", 8))
        if bits not in ACT_RANGE:
            raise CompileError(f"activation_bits must be 8 or 16, got {bits}")
        x = _calibration_input(graph, ctx)
        floats = dense.run(graph, x.astype(np.float32))
        out = Graph("edge-int8", metadata=dict(graph.metadata))
        (inp, node), = graph.inputs.items()
        quant = {inp: input_quant(x, bits)}
        out.add(inp, Input(node.size))
        out.metadata["input_quant"] = {"scale": float(quant[inp].scale), "zero_point": quant[inp].zero_point,
                                       "bits": bits}
        for name in dense.layer_order(graph):
            src = graph.predecessors(name)[0]
            layer, quant[name] = self._layer(graph, name, quant[src], floats, bits, ctx)
            out.add(name, layer, [src])
        for name, o in graph.outputs.items():
            src = graph.predecessors(name)[0]
            out.add(name, _output(name, o, quant[src]), [src])
        return out

    def _layer(self, graph, name, q_in: Quant, floats, bits, ctx):
        node = graph.nodes[name]
        if isinstance(node, (Gemm, ConvGemm)):
            return quantise_gemm(graph, name, q_in, floats, bits, ctx.layer(name))
        if isinstance(node, AvgPool):
            return quantise_avg_pool(name, node, q_in, ctx.layer(name)), q_in
        if isinstance(node, Relu):
            return Relu(node.size, zero_point=q_in.zero_point), Quant(q_in.scale, q_in.zero_point,
                                                                        max(q_in.lo, q_in.zero_point), q_in.hi)
        if isinstance(node, Step):
            return quantise_step(name, node, q_in, ctx.layer(name)), Quant(np.float64(1.0), 0, 0, 1)
        if isinstance(node, PWL):
            return quantise_pwl(graph, name, q_in, bits, ctx.layer(name))
        raise CompileError(f"node '{name}': {type(node).__name__} has no edge-int8 quantisation")


def _calibration_input(graph: Graph, ctx) -> np.ndarray:
    x = ctx.calib_x
    if x is None or len(x) == 0:
        raise CompileError("edge-int8 calibration needs at least one training sample (--calibrate N, N >= 1)")
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[1] != 1:
        raise CompileError(f"edge-int8 calibration input must be one step [N, 1, C], got shape {x.shape}")
    return x[:, 0].astype(np.float64)


def act_quant(values: np.ndarray, bits: int, nonnegative: bool = False) -> Quant:
    """Calibrated activation quantisation: asymmetric int8, or symmetric int16."""
    lo_q, hi_q = ACT_RANGE[bits]
    lo = 0.0 if nonnegative else min(float(values.min(initial=0.0)), 0.0)
    hi = max(float(values.max(initial=0.0)), 0.0)
    if bits == 16:
        scale = max(abs(lo), hi) / hi_q
        return Quant(np.float64(scale if scale > 0 else 1.0), 0, lo_q, hi_q)
    scale = (hi - lo) / (hi_q - lo_q)
    if scale == 0:
        return Quant(np.float64(1.0), 0, lo_q, hi_q)
    zp = int(np.clip(round(lo_q - lo / scale), lo_q, hi_q))
    return Quant(np.float64(scale), zp, lo_q, hi_q)


def input_quant(x: np.ndarray, bits: int) -> Quant:
    """Integer input already inside the range is taken as it is (spike counts); analog input calibrated."""
    lo_q, hi_q = ACT_RANGE[bits]
    if np.all(x == np.round(x)) and x.min() >= lo_q and x.max() <= hi_q:
        return Quant(np.float64(1.0), 0, lo_q, hi_q)
    return act_quant(x, bits)


def weight_scales(w: np.ndarray, per_tensor: bool) -> np.ndarray:
    peak = np.abs(w).max(axis=1).astype(np.float64)
    if per_tensor:
        peak = np.full_like(peak, peak.max())
    return np.where(peak > 0, peak / WEIGHT_MAX, 1.0)


def quantise_gemm(graph: Graph, name: str, q_in: Quant, floats: dict, bits: int, report: dict):
    """A Gemm or a ConvGemm (per output channel: the rows of its weights flattened)."""
    node, succ = graph.nodes[name], [graph.nodes[s] for s in graph.successors(name)]
    keep_acc = [isinstance(s, (Step, Output)) for s in succ]
    if any(keep_acc) and not all(keep_acc):
        raise CompileError(f"Gemm '{name}' feeds both a Step/Output and other layers; give each its own Gemm")
    rows = node.weights.reshape(node.weights.shape[0], -1)
    s_w = weight_scales(rows, any(isinstance(s, Output) for s in succ))
    w_q = np.clip(np.rint(rows / s_w[:, None]), -WEIGHT_MAX, WEIGHT_MAX).astype(np.int64).reshape(node.weights.shape)
    s_acc = float(q_in.scale) * s_w
    b_q = np.rint(node.bias.astype(np.float64) / s_acc)
    if np.abs(b_q).max(initial=0) > INT32_MAX:
        raise CompileError(f"Gemm '{name}': bias {node.bias[np.argmax(np.abs(b_q))]:.3g} does not fit int32 at "
                           f"the accumulator scale {s_acc.min():.3g}")
    report.update(weight_bits=8, weight_scale_max=float(s_w.max()), weight_rel_error=float(
        np.abs(rows - w_q.reshape(rows.shape) * s_w[:, None]).max() / max(np.abs(rows).max(), 1e-30)))
    if all(keep_acc) and succ:
        report.update(output="int32 accumulator")
        return (_integer_layer(node, w_q, b_q, input_zero_point=q_in.zero_point, requantise=False),
                Quant(_per_value(node, s_acc), 0, INT32_MIN, INT32_MAX))
    return _requantised(name, node, w_q, b_q, s_acc, q_in, succ, graph, floats, bits, report)


def _integer_layer(node, w_q, b_q, **fields):
    """The integer Gemm or ConvGemm (same geometry) of a float one."""
    if isinstance(node, ConvGemm):
        return ConvGemm(w_q, in_shape=node.in_shape, stride=node.stride, padding=node.padding,
                        bias=b_q.astype(np.int64), **fields)
    return Gemm(w_q, b_q.astype(np.int64), **fields)


def _per_value(node, scale: np.ndarray) -> np.ndarray:
    """Per-channel scales spread over a ConvGemm's flat channel-major output (a Step compares each value)."""
    return np.repeat(scale, node.out_size // node.channels) if isinstance(node, ConvGemm) else scale


def quantise_avg_pool(name: str, node: AvgPool, q_in: Quant, report: dict) -> AvgPool:
    """TFLite's int8 AVERAGE_POOL_2D keeps its input's scale and zero point; one scale per tensor."""
    if np.size(q_in.scale) != 1:
        raise CompileError(f"AvgPool '{name}' reads a tensor with per-channel scales (an int32 accumulator); "
                           "TFLite's int8 AVERAGE_POOL_2D needs one scale")
    report.update(output=f"int8 (input's scale {float(q_in.scale):.3g}, zero point {q_in.zero_point})")
    return AvgPool(node.in_shape, node.kernel, node.stride, node.padding, act_min=q_in.lo, act_max=q_in.hi,
                   integer_mode=True)


def _requantised(name, node, w_q, b_q, s_acc, q_in, succ, graph, floats, bits, report):
    relu = _relu_after(succ)
    values = floats[graph.successors(name)[0]] if relu else floats[name]   # the calibrated range
    fields, q_out = _output_fields(s_acc, values, relu, bits, report)
    return _integer_layer(node, w_q, b_q, **fields, input_zero_point=q_in.zero_point), q_out


def _relu_after(succ: list) -> bool:
    return bool(succ) and all(isinstance(s, Relu) for s in succ)


def _output_fields(s_acc, values, relu: bool, bits, report) -> tuple[dict, Quant]:
    """Requantisation of an int32 accumulator at scale s_acc to the output range that `values`
    span (int8 or int16; a Relu after the layer fused into the clamp): node fields and Quant."""
    q_out = act_quant(values, bits, nonnegative=relu)
    # the scale rounded to float32 first: a .tflite model stores it as a float32 weight scale, from
    # which TFLite's QuantizeMultiplier must give this multiplier back (tflite_export.py)
    pairs = [quantize_multiplier(float(np.float32(s / float(q_out.scale)))) for s in s_acc]
    mult, shift = (np.array(v, np.int64) for v in zip(*pairs))
    act_min = q_out.zero_point if relu else q_out.lo
    report.update(output=f"int{bits}", act_scale=float(q_out.scale), zero_point=q_out.zero_point,
                  shift_min=int(shift.min()), shift_max=int(shift.max()), fused_relu=relu)
    fields = dict(multiplier=mult, shift=shift, output_zero_point=q_out.zero_point, act_min=act_min,
                  act_max=q_out.hi)
    return fields, Quant(q_out.scale, q_out.zero_point, act_min, q_out.hi)


def pwl_range(node: PWL, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """The exact range [y_lo, y_hi] ([out] each) of a float PWL over the input box [lo, hi]^in:
    y_q = b_q + sum_p f_qp(x_p) is separable, so its extremes are the sums of each edge's,
    and an edge's extremes lie at a knot or at an end of the range (linear in between)."""
    probes = np.clip(np.concatenate([node.knots.T.astype(np.float64), [[lo] * node.in_size,
                                                                       [hi] * node.in_size]]), lo, hi)
    terms = edge_int8.pwl_terms(node, probes)                                  # [out, probes, in]
    bias = node.bias.astype(np.float64)
    return terms.min(axis=1).sum(axis=1) + bias, terms.max(axis=1).sum(axis=1) + bias


def quantise_pwl(graph: Graph, name: str, q_in: Quant, bits: int, report: dict):
    """Integer knots, values and slopes of a float PWL (see the module docstring)."""
    node, succ = graph.nodes[name], [graph.nodes[s] for s in graph.successors(name)]
    s_in = float(np.asarray(q_in.scale).max())
    knots = np.rint(node.knots.astype(np.float64) / s_in)
    if np.any(np.diff(knots, axis=1) <= 0):
        p = int(np.argmax(np.any(np.diff(knots, axis=1) <= 0, axis=1)))
        raise CompileError(f"PWL '{name}': knots of input {p} lie closer than one input step ({s_in:.3g}); "
                           "the integer layer cannot tell them apart (use fewer segments or 16-bit activations)")
    v = node.values.astype(np.float64)
    y_lo, y_hi = pwl_range(node, s_in * (q_in.lo - q_in.zero_point), s_in * (q_in.hi - q_in.zero_point))
    peak = np.maximum(np.abs(y_lo), np.abs(y_hi))
    to_output = any(isinstance(s, Output) for s in succ)
    if to_output:
        peak = np.full_like(peak, peak.max())
    s_acc = np.where(peak > 0, peak * PWL_HEADROOM / INT32_MAX, 1.0)
    values = np.rint(v / s_acc[:, None, None])
    slopes = np.rint((v[:, :, 1:] - v[:, :, :-1]) / np.diff(knots, axis=1)[None] / s_acc[:, None, None])
    bias = np.rint(node.bias.astype(np.float64) / s_acc)
    report.update(segments=node.segments, knot_step=s_in, acc_scale_max=float(s_acc.max()))
    ints = dict(knots=knots.astype(np.int64), values=values.astype(np.int64), slopes=slopes.astype(np.int64),
                bias=bias.astype(np.int64), input_zero_point=q_in.zero_point)
    if to_output:
        report.update(output="int32 accumulator")
        return PWL(**ints, requantise=False), Quant(s_acc, 0, INT32_MIN, INT32_MAX)
    # the output range is the layer's exact range over its input range, not a calibrated one:
    # no input the previous layer can give saturates it
    fields, q_out = _output_fields(s_acc, np.array([y_lo.min(), y_hi.max()]), _relu_after(succ), bits, report)
    return PWL(**ints, **fields), q_out


def quantise_step(name: str, node: Step, q_in: Quant, report: dict) -> Step:
    """x_real > vth  <=>  q > zp + vth / s  <=>  q > floor(zp + vth / s) for integer q."""
    t = np.floor(q_in.zero_point + node.threshold.astype(np.float64) / q_in.scale)
    t = np.clip(t, INT32_MIN, INT32_MAX).astype(np.int64)
    report.update(threshold=f"{t.min()}..{t.max()}" if t.min() != t.max() else int(t[0]))
    return Step(node.size, t)


def _output(name: str, out: Output, q: Quant) -> Output:
    """Decoding of the integer tensor the Output reads: gain s (q - zp) + offset."""
    scale = np.unique(np.asarray(q.scale, np.float64))
    if scale.size != 1:
        raise CompileError(f"Output '{name}' reads a tensor with per-channel scales; it needs one scale")
    gain = out.gain * float(scale[0])
    if not math.isfinite(gain) or gain <= 0:
        raise CompileError(f"Output '{name}': decoding gain {gain} is not a positive number")
    return Output(out.size, out.read, out.step, gain, out.offset - gain * q.zero_point)
