"""`edge-int8`: an MCU-class integer pipeline (TFLite Micro / CMSIS-NN style) for
1-step binary nets and lowered KAN-MLPs, on a Cortex-M7 budget (STM32F746).

Integer semantics, per sample, for the dense layers of `snnc.compiler.ir.nodes`:

  Gemm  acc_c = wrap32(sum_i W[c, i] * (x_i - input_zero_point) + bias_c)
        requantise:  y_c = clamp(MBQM(acc_c, multiplier_c, shift_c) + output_zero_point,
                                 act_min, act_max)
        otherwise:   y_c = acc_c (the int32 accumulator, read by a Step or the Output)
  PWL   with x = x_in - input_zero_point, per input p the segment k_p = #{j = 1..n-1 :
        x_p >= knots[p, j]}, and acc_q = wrap32(bias_q + sum_p values[q, p, k_p]
        + slopes[q, p, k_p] * (x_p - knots[p, k_p])) (int32 tables, int64 products), then
        requantised or read as a Gemm's. No CMSIS-NN kernel does this: it is the loop a
        custom kernel runs (a binary search per input, a multiply-add per edge), counted so.
  Relu  y = max(x, zero_point)          (the quantised tensor's real zero)
  Step  y = 1 if x > threshold else 0   (int32 compare on the accumulator)

int8 weights (symmetric, [-127, 127], per output channel scale), int32 bias
and accumulators (two's-complement wrap, as the int32 adds of the MCU; the
design rule `accumulator-headroom` refuses any graph whose worst case could
wrap), int8 activations with saturation (int16 allowed by the node).

MBQM is TFLite's `MultiplyByQuantizedMultiplier` (tensorflow/lite/kernels/
internal/common.h, default double rounding) = CMSIS-NN's `arm_nn_requantize`
(Include/arm_nnsupportfunctions.h, without CMSIS_NN_USE_SINGLE_ROUNDING):

  left = max(shift, 0), right = max(-shift, 0)
  a = sat32(acc * 2^left)            TFLite computes x * (1 << left) in int32 (undefined
                                     on overflow); here it saturates, and the design rule
                                     left-shift-headroom refuses any graph where it could
                                     overflow, so the two meet only where TFLite is defined
  h = SaturatingRoundingDoublingHighMul(a, multiplier)      (gemmlowp fixedpoint.h)
    = INT32_MAX if a == b == INT32_MIN, else
      trunc0((a * b + nudge) / 2^31), nudge = 2^30 if a * b >= 0 else 1 - 2^30
      (a * b in int64; trunc0 rounds toward zero, C++ integer division):
      a * b / 2^31 rounded to nearest, ties toward +infinity (0.5 -> 1, -0.5 -> 0,
      -1.5 -> -1; ARM's VQRDMULH)
  y = RoundingDivideByPOT(h, right)                           (gemmlowp fixedpoint.h)
    = (h >> right) + (1 if (h & mask) > (mask >> 1) + (h < 0) else 0),  mask = 2^right - 1
      (>> arithmetic): round half away from zero of h / 2^right

so y ~ acc * multiplier * 2^(shift - 31), rounded twice (ties up, then ties away from zero).
The multiplier and shift of a real scale M come from TFLite's `QuantizeMultiplier`
(quantization_util.cc): M = q * 2^shift with q in [0.5, 1), multiplier =
round(q * 2^31) (half away from zero; 2^31 becomes 2^30 with shift + 1),
shift < -31 flushes to 0.

Memory: weights, biases, PWL tables and requantisation constants in flash; activations in
RAM, at most the largest input + output pair of one layer live at once
(TFLite Micro's arena plans a chain this way). Energy per inference from
counted operations and Horowitz's 45 nm figures (ISSCC 2014, "Computing's
energy problem", Fig. 1.1.9).
"""
from __future__ import annotations

import math

import numpy as np

from snnc.compiler.ir import Graph, Input
from snnc.compiler.ir.dense import PWL, DenseLayer, Gemm, Step
from snnc.errors import DesignRuleError
from snnc.targets.base import Target
from snnc.targets.registry import register
from snnc.targets.edge_int8.spec import *  # noqa: F401,F403  (widths, ranges, budgets, energy)
from snnc.targets.edge_int8.spec import (ENERGY, INT16_SYMMETRIC, INT32_MAX, INT32_MIN, LIMIT_SOURCES, LIMITS, RANGES,
                                         REFERENCE_EXECUTOR, TERM_COUNTERS)
from snnc.targets.edge_int8.arithmetic import *  # noqa: F401,F403  (the semantics: edge_int8.requantise, ...)
from snnc.targets.edge_int8.arithmetic import input_range, pwl_int_terms
from snnc.targets.edge_int8 import arithmetic as _arithmetic, conv as _conv
from snnc.compiler.ir.dense_conv import AvgPool, ConvGemm


def forward(node: DenseLayer, x: np.ndarray) -> np.ndarray:
    """One layer on a batch x [B, in] (arithmetic.forward; conv layers: targets/edge_int8/conv.py)."""
    if isinstance(node, (ConvGemm, AvgPool)):
        return _conv.forward(node, x)
    return _arithmetic.forward(node, x)


def saturations(node: DenseLayer, x: np.ndarray) -> int:
    """Clamped outputs of a requantising layer (arithmetic.saturations; a ConvGemm's the same way)."""
    if isinstance(node, ConvGemm) and node.integer and node.requantise:
        y = _conv.conv_unclamped(node, x)
        low = (y < node.act_min) if node.act_min != node.output_zero_point else np.zeros(y.shape, bool)
        return int(np.count_nonzero(low | (y > node.act_max)))
    return _arithmetic.saturations(node, x)


# --- value ranges, memory and operation counts ------------------------------------------

def value_range(graph: Graph, name: str) -> tuple[int, int]:
    """The integer range a node's output can take (for headroom and RAM widths)."""
    node = graph.nodes[name]
    if isinstance(node, Input):
        return input_range(graph)
    if isinstance(node, (Gemm, PWL, ConvGemm)):
        return (node.act_min, node.act_max) if node.requantise else (INT32_MIN, INT32_MAX)
    if isinstance(node, AvgPool):
        lo, hi = value_range(graph, graph.predecessors(name)[0])
        return max(lo, node.act_min), min(hi, node.act_max)
    if isinstance(node, Step):
        return 0, 1
    lo, hi = value_range(graph, graph.predecessors(name)[0])
    return max(lo, node.zero_point), max(hi, node.zero_point)


def value_bytes(graph: Graph, name: str) -> int:
    """Bytes of one element of a node's output: 1 (int8), 2 (int16) or 4 (int32)."""
    lo, hi = value_range(graph, name)
    return 1 if lo >= -128 and hi <= 127 else 2 if lo >= -(2**15) and hi < 2**15 else 4


def flash_bytes(node: DenseLayer) -> int:
    """Constants of one layer: int8 weights, int32 bias, int32 multiplier + int8 shift, int32 threshold
    (float32 parameters of a float layer: 4 bytes each)."""
    if isinstance(node, PWL):   # int32 knots, values, slopes (float32 knots and values on float layers)
        return 4 * (node.knots.size + node.values.size + (node.slopes.size if node.integer else 0)
                    + node.out_size) \
            + (5 * node.out_size if node.requantise and node.integer else 0)
    if isinstance(node, ConvGemm):   # per output channel: bias, multiplier, shift
        if not node.integer:
            return 4 * (node.weights.size + node.channels)
        return node.weights.size + node.channels * (4 + (5 if node.requantise else 0))
    if isinstance(node, Gemm) and not node.integer:
        return 4 * (node.weights.size + node.out_size)
    if isinstance(node, Gemm):
        return node.weights.size + node.out_size * (4 + (5 if node.requantise and node.integer else 0))
    return 4 * node.out_size if isinstance(node, Step) else 0


def dense_layers(graph: Graph) -> dict[str, DenseLayer]:
    return graph.of_type(DenseLayer)


def memory(graph: Graph) -> dict:
    """Flash (all constants) and RAM (the largest input + output pair of one layer), in bytes."""
    layers = dense_layers(graph)
    pairs = {name: graph.nodes[graph.predecessors(name)[0]].out_size * value_bytes(graph, graph.predecessors(name)[0])
             + node.out_size * value_bytes(graph, name) for name, node in layers.items()}
    largest = max(pairs, key=pairs.get) if pairs else None
    return {"flash_bytes": int(sum(flash_bytes(n) for n in layers.values())),
            "ram_bytes": int(pairs[largest]) if largest else 0, "ram_layer": largest}


def layer_details(node: DenseLayer) -> str:
    """One line for `snnc inspect`: what the layer's integers are."""
    if isinstance(node, Gemm) and node.integer and node.requantise:
        return (f"int8 weights, zp in {node.input_zero_point} out {node.output_zero_point}, clamp "
                f"[{node.act_min}, {node.act_max}], shift {node.shift.min()}..{node.shift.max()}")
    if isinstance(node, Gemm):
        return "int32 accumulator out" if node.integer else "float32"
    if isinstance(node, PWL):
        kind = "int32 knots/values/slopes" if node.integer else "float32"
        return f"{node.segments} segments per edge, {kind}" + (", int32 accumulator out" if node.integer
                                                               and not node.requantise else "")
    if isinstance(node, Step):
        return f"threshold {node.threshold.min()}..{node.threshold.max()}"
    if isinstance(node, ConvGemm):
        geometry = f"{node.window[0]}x{node.window[1]} stride {node.stride[0]} {node.padding.upper()}, "
        if not node.integer:
            return geometry + "float32"
        return geometry + (f"int8 per-channel weights, zp in {node.input_zero_point} out {node.output_zero_point}, "
                           f"shift {node.shift.min()}..{node.shift.max()}" if node.requantise
                           else f"int8 per-channel weights, zp in {node.input_zero_point}, int32 accumulator out")
    if isinstance(node, AvgPool):
        return f"{node.kernel[0]}x{node.kernel[1]} stride {node.stride[0]} {node.padding.upper()}, " \
               + ("TFLite int8 rounding" if node.integer else "float32")
    return f"zero point {node.zero_point}"


def layer_ops(node: DenseLayer) -> dict[str, int]:
    """Operations of one inference through one layer (the energy counters)."""
    if isinstance(node, Gemm):
        macs, n = node.weights.size, node.out_size
        requant = node.requantise and node.integer
        return {"macs": macs, "macs_int8": macs,
                "adds": n * (1 + (5 if requant else 0)),                 # bias; nudge, round, zero point, 2 clamps
                "mults_int32": n if requant else 0,
                "bytes_read": 2 * macs + flash_bytes(node)}              # a weight and an input byte per MAC
    if isinstance(node, ConvGemm):   # a Gemm's count per output pixel: kernel taps per output, padding taps included
        macs, n = node.weights[0].size * node.out_size, node.out_size
        requant = node.requantise and node.integer
        return {"macs": macs, "macs_int8": macs, "adds": n * (1 + (5 if requant else 0)),
                "mults_int32": n if requant else 0, "bytes_read": 2 * macs + flash_bytes(node)}
    if isinstance(node, AvgPool):    # per output: its window's adds, one rounding division
        taps = node.kernel[0] * node.kernel[1] * node.out_size
        return {"macs": 0, "macs_int8": 0, "adds": taps + 2 * node.out_size, "mults_int32": node.out_size,
                "bytes_read": taps}
    if isinstance(node, PWL):   # per input: zero point, a binary search over its knots, x - knot;
        edges, n = node.values.shape[0] * node.in_size, node.out_size   # per edge: value + slope * dx
        requant = node.requantise and node.integer
        search = node.in_size * max(1, math.ceil(math.log2(node.segments)))
        return {"macs": edges, "macs_int8": 0,                          # int32 multiply-adds, costed as such
                "adds": 2 * node.in_size + search + 2 * edges + n * (1 + (5 if requant else 0)),
                "mults_int32": edges + (n if requant else 0),
                "bytes_read": 4 * (search + node.in_size + 2 * edges + n) + 2 * node.in_size}
    return {"macs": 0, "macs_int8": 0, "adds": node.out_size, "mults_int32": 0,
            "bytes_read": node.out_size + flash_bytes(node)}


def energy_counts(graph: Graph, spikes: dict) -> dict[str, dict[str, np.ndarray]]:
    """term -> layer -> operations per sample [B] (runtime.energy's hook): the same every sample."""
    batch = len(next(iter(spikes.values())))
    ops = {name: layer_ops(node) for name, node in dense_layers(graph).items()}
    return {term: {name: np.full(batch, o[counter], np.int64) for name, o in ops.items()}
            for term, counter in TERM_COUNTERS.items()}


def usage(graph: Graph) -> dict:
    mem = memory(graph)
    ops = [layer_ops(n) for n in dense_layers(graph).values()]
    return {"flash_bytes": mem["flash_bytes"], "flash_bytes_limit": LIMITS["flash_bytes"],
            "ram_bytes": mem["ram_bytes"], "ram_bytes_limit": LIMITS["ram_bytes"],
            "macs": int(sum(o["macs"] for o in ops)), "layers": len(ops)}


# --- design rules ----------------------------------------------------------------------

def rule_integer_layers(graph: Graph) -> None:
    for name, node in dense_layers(graph).items():
        if isinstance(node, (Gemm, Step, PWL)) and not node.integer:
            raise DesignRuleError("integer-layers", name, f"{type(node).__name__} holds float32 parameters; "
                                  "edge-int8 runs integer layers only (quantise first)")


def rule_weight_range(graph: Graph) -> None:
    r = RANGES["weight"]
    for name, node in graph.of_type(Gemm).items():
        if not r.holds(node.weights):
            raise DesignRuleError("weight-range", name, f"weights span [{node.weights.min()}, "
                                  f"{node.weights.max()}], int8 symmetric allows {r}")


def rule_activation_range(graph: Graph) -> None:
    """int8 activations, or int16 ones with zero point 0 (TFLite's 16x8 scheme)."""
    r, (lo16, hi16) = RANGES["activation"], INT16_SYMMETRIC
    for name, node in {**graph.of_type(Gemm), **graph.of_type(PWL)}.items():
        int8 = r.lo <= node.act_min and node.act_max <= r.hi
        int16 = lo16 <= node.act_min and node.act_max <= hi16 and node.output_zero_point == 0
        if node.requantise and not (int8 or int16):
            raise DesignRuleError("activation-range", name, f"activations clamp to [{node.act_min}, "
                                  f"{node.act_max}] (zero point {node.output_zero_point}); int8 allows {r}, "
                                  f"int16 [{lo16}, {hi16}] with zero point 0")


def worst_accumulators(node: Gemm | PWL, lo: int, hi: int) -> np.ndarray:
    """The largest |accumulator| [out] (before the int32 wrap) any input in [lo, hi] can give each
    channel. Gemm: sum |W| * max|x - zp| + |b|. PWL: each term is linear between knots, so its
    largest |term| is at a range end or on either side of a knot."""
    a, z = lo - node.input_zero_point, hi - node.input_zero_point
    if isinstance(node, Gemm):
        return np.abs(node.weights).sum(axis=1) * max(abs(a), abs(z)) + np.abs(node.bias)
    ends = np.concatenate([node.knots, node.knots[:, 1:] - 1, np.tile([[a, z]], (node.in_size, 1))], axis=1)
    terms = pwl_int_terms(node, np.clip(ends, a, z).T)                  # [out, probes, in]
    return np.abs(terms).max(axis=1).sum(axis=1) + np.abs(node.bias)


def rule_accumulator_headroom(graph: Graph) -> None:
    """No input can make an int32 accumulator (of a Gemm or a PWL) wrap."""
    for name, node in {**graph.of_type(Gemm), **graph.of_type(PWL)}.items():
        lo, hi = value_range(graph, graph.predecessors(name)[0])
        worst = int(worst_accumulators(node, lo, hi).max(initial=0))
        if worst > INT32_MAX:
            raise DesignRuleError("accumulator-headroom", name, f"worst-case |accumulator| {worst} exceeds "
                                  f"int32 ({INT32_MAX}) for inputs in [{lo}, {hi}]")


def rule_left_shift_headroom(graph: Graph) -> None:
    """No input can make acc * 2^shift overflow int32 in a channel with a left shift (shift > 0):
    TFLite Micro computes x * (1 << left_shift) in int32 (tensorflow/lite/kernels/internal/common.cc
    MultiplyByQuantizedMultiplier, double rounding), undefined on overflow, where edge_int8.requantise
    saturates; with this rule the two never meet a value on which they could differ."""
    for name, node in {**graph.of_type(Gemm), **graph.of_type(PWL)}.items():
        if not node.requantise or not np.any(node.shift > 0):
            continue
        lo, hi = value_range(graph, graph.predecessors(name)[0])
        shifted = worst_accumulators(node, lo, hi) * np.exp2(np.maximum(node.shift, 0))
        c = int(np.argmax(shifted))
        if shifted[c] > INT32_MAX:
            raise DesignRuleError("left-shift-headroom", name, f"channel {c}: worst-case |accumulator| "
                                  f"{int(shifted[c] / 2.0 ** node.shift[c])} x 2^{int(node.shift[c])} exceeds int32 "
                                  f"({INT32_MAX}) for inputs in [{lo}, {hi}]; TFLite's left shift would overflow")


@Target.capacity_rule
def rule_flash_budget(graph: Graph) -> None:
    mem = memory(graph)
    if mem["flash_bytes"] > LIMITS["flash_bytes"]:
        big = max(dense_layers(graph).items(), key=lambda kv: flash_bytes(kv[1]))
        raise DesignRuleError("flash-budget", big[0], f"constants need {mem['flash_bytes']} bytes of flash, "
                              f"the STM32F746 has {LIMITS['flash_bytes']} (largest layer {flash_bytes(big[1])})")


@Target.capacity_rule
def rule_ram_budget(graph: Graph) -> None:
    mem = memory(graph)
    if mem["ram_bytes"] > LIMITS["ram_bytes"]:
        raise DesignRuleError("ram-budget", mem["ram_layer"], f"input + output activations need "
                              f"{mem['ram_bytes']} bytes of RAM, the STM32F746 has {LIMITS['ram_bytes']}")


EDGE_INT8 = register(Target(
    name="edge-int8",
    description="MCU-class integer pipeline (TFLite Micro / CMSIS-NN arithmetic) on an STM32F746 "
                "(Cortex-M7) budget: int8 weights, int32 accumulators, fixed-point requantisation",
    neuron_kinds=(),
    widths={"weight": 8, "bias": 32, "accumulator": 32, "multiplier": 32, "shift": 6, "activation": 8},
    overflow="saturate",
    limits=LIMITS,
    limit_sources=LIMIT_SOURCES,
    energy=ENERGY,
    ranges=RANGES,
    rules=(rule_integer_layers, rule_weight_range, rule_activation_range, rule_accumulator_headroom,
           rule_left_shift_headroom,
           rule_flash_budget, rule_ram_budget),
    reference_executor=REFERENCE_EXECUTOR,
    usage=usage,
    energy_counts=energy_counts,
    input_max=127,
    input_format="int8 values in [-128, 127] (the host quantises analog input with the graph's input_quant)",
    graphs=("dense",),
    analog_input=True,
    flow="snnc.targets.edge_int8.flow:flow",
    weight_grid="snnc.targets.edge_int8.grid:weight_grid",
    executors={"onnx": "snnc.compiler.export:run_onnx",
               "tflite": "snnc.targets.edge_int8.tflite_exec:run_reference",
               "tflite-opt": "snnc.targets.edge_int8.tflite_exec:run_optimized"},
    exports={"tflite": "snnc.targets.edge_int8.tflite_export",   # TFLite flatbuffer (LiteRT, TFLite Micro)
             "c": "snnc.targets.edge_int8.tflite_c"},            # the same as a C array for TFLite Micro
))
