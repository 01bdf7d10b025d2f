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
                                     on overflow); here it saturates, equal wherever TFLite is defined
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
from snnc.compiler.ir.nodes import PWL, DenseLayer, Gemm, Relu, Step
from snnc.errors import DesignRuleError
from snnc.targets.base import EnergyConstant, Range, Target
from snnc.targets.registry import register

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT8 = (-128, 127)
INT16_SYMMETRIC = (-32767, 32767)   # TFLite 16x8: int16 activations, zero point 0
_TFLITE_SPEC = ("TensorFlow Lite 8-bit quantization specification "
                "(tensorflow.org/lite/performance/quantization_spec)")
RANGES = {
    "weight": Range(-127, 127, f"int8 symmetric weights, zero point 0, -128 unused: {_TFLITE_SPEC}",
                    register_bits=8),
    "bias": Range(INT32_MIN, INT32_MAX, f"int32 bias, scale = input scale x weight scale: {_TFLITE_SPEC}"),
    "multiplier": Range(0, INT32_MAX, "Q0.31 multiplier >= 0: tensorflow/lite/kernels/internal/common.h "
                                      "MultiplyByQuantizedMultiplier"),
    "shift": Range(-31, 30, "TFLITE_DCHECK(shift >= -31 && shift <= 30): tensorflow/lite/kernels/internal/"
                            "common.h MultiplyByQuantizedMultiplier"),
    "activation": Range(*INT8, f"int8 activations with a zero point (int16 with zero point 0, the 16x8 "
                               f"scheme): {_TFLITE_SPEC}"),
}
_DS = ("STM32F745xx/STM32F746xx datasheet DS10916 (ST), features: up to 1 Mbyte of Flash, "
       "320 Kbytes of SRAM (incl. 64 Kbytes DTCM)")
LIMITS = {"flash_bytes": 1024 * 1024, "ram_bytes": 320 * 1024}
LIMIT_SOURCES = {"flash_bytes": _DS, "ram_bytes": _DS}

_H = "Horowitz, ISSCC 2014, 'Computing's energy problem', Fig. 1.1.9 (45 nm, 0.9 V)"
ENERGY = {
    "mac_int8": EnergyConstant(0.2e-12 + 0.1e-12, f"8-bit multiply 0.2 pJ + 32-bit add 0.1 pJ: {_H}"),
    "add_int32": EnergyConstant(0.1e-12, f"32-bit add 0.1 pJ (also each compare and clamp): {_H}"),
    "mul_int32": EnergyConstant(3.1e-12, f"32-bit multiply 3.1 pJ (the requantisation high mul, a PWL "
                                         f"slope product): {_H}"),
    "sram_read_byte": EnergyConstant(20e-12 / 8, f"64-bit read of a 32 KB SRAM 20 pJ, per byte; flash reads "
                                                 f"counted at this figure too (no flash figure given): {_H}",
                                     estimate=True),
}
# energy term -> the per-inference counter it multiplies
TERM_COUNTERS = {"mac_int8": "macs_int8", "add_int32": "adds", "mul_int32": "mults_int32",
                 "sram_read_byte": "bytes_read"}


# --- the integer arithmetic (one definition: simulator and tests use it) ----------

def wrap32(x: np.ndarray) -> np.ndarray:
    """Two's-complement wrap of int64 values to int32."""
    return ((np.asarray(x, np.int64) + 2**31) & (2**32 - 1)) - 2**31


def sat32(x: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(x, np.int64), INT32_MIN, INT32_MAX)


def saturating_rounding_doubling_high_mul(a, b) -> np.ndarray:
    """gemmlowp SaturatingRoundingDoublingHighMul on int32 values (held int64)."""
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    ab = a * b
    q = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    high = np.where(q >= 0, q >> 31, -((-q) >> 31))   # C++ '/' truncates toward zero
    return np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, high)


def rounding_divide_by_pot(x, exponent) -> np.ndarray:
    """gemmlowp RoundingDivideByPOT: x / 2^exponent rounded half away from zero, exponent in [0, 31]."""
    x, exponent = np.asarray(x, np.int64), np.asarray(exponent, np.int64)
    mask = (np.int64(1) << exponent) - 1
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + ((x & mask) > threshold)


def requantise(acc, multiplier, shift) -> np.ndarray:
    """TFLite MultiplyByQuantizedMultiplier (module docstring: the rounding, exactly)."""
    shift = np.asarray(shift, np.int64)
    left, right = np.maximum(shift, 0), np.maximum(-shift, 0)
    a = sat32(np.asarray(acc, np.int64) << left)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(a, multiplier), right)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """(multiplier, shift) of a real scale >= 0, as TFLite's QuantizeMultiplier."""
    if real < 0 or not math.isfinite(real):
        raise ValueError(f"requantisation scale must be finite and >= 0, got {real}")
    if real == 0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = int(math.floor(abs(q) * 2**31 + 0.5))   # TfLiteRound: half away from zero
    if q_fixed == 2**31:
        q_fixed, shift = q_fixed // 2, shift + 1
    if shift < -31:
        return 0, 0
    if shift > RANGES["shift"].hi:
        raise ValueError(f"requantisation scale {real:.3g} needs shift {shift} > {RANGES['shift'].hi}")
    return q_fixed, shift


def input_range(graph: Graph) -> tuple[int, int]:
    """The integer input a graph takes: int8, or int16 (symmetric) where its input_quant says 16 bits."""
    bits = int(graph.metadata.get("input_quant", {}).get("bits", 8))
    return INT16_SYMMETRIC if bits == 16 else INT8


def quantise_input(x: np.ndarray, scale: float, zero_point: int, bounds=INT8) -> np.ndarray:
    """Host-side encoding of float input: clamp(round_half_even(x / scale) + zero_point) to the input range."""
    q = np.rint(np.asarray(x, np.float64) / scale) + zero_point
    return np.clip(q, *bounds).astype(np.int64)


# --- layer semantics, integer and float (the dense executor calls these) -------------

def exact_matmul(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """x @ w.T of int64 operands, exactly: in float64 (BLAS) where no partial sum can reach
    2^53 (every sum of integers is then exact in any order), else in int64."""
    bound = float(np.abs(w).sum(axis=1).max(initial=0)) * float(np.abs(x).max(initial=0))
    if bound < 2.0**53:
        return (x.astype(np.float64) @ w.T.astype(np.float64)).astype(np.int64)
    return x @ w.T


def gemm_unclamped(node: Gemm, x: np.ndarray) -> np.ndarray:
    """The integer Gemm before its output clamp (the accumulator when it does not requantise)."""
    return _requantised(node, wrap32(exact_matmul(x - node.input_zero_point, node.weights) + node.bias))


def _requantised(node, acc: np.ndarray) -> np.ndarray:
    """A Gemm's or PWL's int32 accumulator requantised, before the clamp (as it is if it does not)."""
    if not node.requantise:
        return acc
    return requantise(acc, node.multiplier, node.shift) + node.output_zero_point


def gemm_int(node: Gemm, x: np.ndarray) -> np.ndarray:
    return _clamped(node, gemm_unclamped(node, x))


def pwl_segments(knots: np.ndarray, x: np.ndarray) -> np.ndarray:
    """k [B, in]: the segment of each x [B, in] (#{j = 1..n-1 : x >= knots[p, j]}), by binary
    search in each input's inner knots (strictly increasing, as the PWL node checks): memory
    B x in, not B x in x n."""
    inner = knots[:, 1:-1]
    k = np.empty(x.shape, np.int64)
    for p in range(knots.shape[0]):
        k[:, p] = np.searchsorted(inner[p], x[:, p], side="right")
    return k


def pwl_int_terms(node: PWL, x: np.ndarray) -> np.ndarray:
    """values + slope * (x - knot) [out, B, in] of an integer PWL at centred inputs x [B, in]
    (int64: |slope * dx| < 2^63 for int32 operands)."""
    k = pwl_segments(node.knots, x)                                   # [B, in]
    p = np.arange(node.in_size)
    return node.values[:, p, k] + node.slopes[:, p, k] * (x - node.knots[p, k])


def pwl_accumulator(node: PWL, x: np.ndarray) -> np.ndarray:
    """acc [B, out] of an integer PWL, wrapped to int32."""
    return wrap32(pwl_int_terms(node, x - node.input_zero_point).sum(axis=2).T + node.bias)


def pwl_unclamped(node: PWL, x: np.ndarray) -> np.ndarray:
    return _requantised(node, pwl_accumulator(node, x))


def pwl_int(node: PWL, x: np.ndarray) -> np.ndarray:
    return _clamped(node, pwl_unclamped(node, x))


def pwl_terms(node: PWL, x: np.ndarray) -> np.ndarray:
    """f_qp(x_p) [out, B, in] of a float PWL: linear between the knots, the end segments
    extended, in float64."""
    x = x.astype(np.float64)
    t, v = node.knots.astype(np.float64), node.values.astype(np.float64)
    k = pwl_segments(t, x)
    p = np.arange(node.in_size)
    left, width = t[p, k], t[p, k + 1] - t[p, k]
    frac = (x - left) / width                                         # [B, in]
    return v[:, p, k] + (v[:, p, k + 1] - v[:, p, k]) * frac


def pwl_float(node: PWL, x: np.ndarray) -> np.ndarray:
    return (pwl_terms(node, x).sum(axis=2).T + node.bias).astype(np.float32)


def _clamped(node, y: np.ndarray) -> np.ndarray:
    return np.clip(y, node.act_min, node.act_max) if node.requantise else y


def _unclamped(node, x: np.ndarray) -> np.ndarray:
    return gemm_unclamped(node, x) if isinstance(node, Gemm) else pwl_unclamped(node, x)


def saturations(node: DenseLayer, x: np.ndarray) -> int:
    """How many outputs of an integer Gemm or PWL saturated: a requantised value above act_max,
    or below act_min where act_min is not a fused ReLU's clamp at the zero point (that one is
    the ReLU)."""
    if not (isinstance(node, (Gemm, PWL)) and node.integer and node.requantise):
        return 0
    y = _unclamped(node, x)
    low = (y < node.act_min) if node.act_min != node.output_zero_point else np.zeros(y.shape, bool)
    return int(np.count_nonzero(low | (y > node.act_max)))


def gemm_float(node: Gemm, x: np.ndarray) -> np.ndarray:
    return (x.astype(np.float64) @ node.weights.T.astype(np.float64) + node.bias).astype(np.float32)


def relu(node: Relu, x: np.ndarray) -> np.ndarray:
    return np.maximum(x, np.asarray(node.zero_point, x.dtype))


def step(node: Step, x: np.ndarray) -> np.ndarray:
    return (x > node.threshold).astype(x.dtype)


def forward(node: DenseLayer, x: np.ndarray) -> np.ndarray:
    """One layer on a batch x [B, in]: int64 values on integer graphs, float32 on float ones."""
    if isinstance(node, Gemm):
        return gemm_int(node, x) if x.dtype == np.int64 else gemm_float(node, x)
    if isinstance(node, PWL):
        return pwl_int(node, x) if x.dtype == np.int64 else pwl_float(node, x)
    return {Relu: relu, Step: step}[type(node)](node, x)


# --- value ranges, memory and operation counts ------------------------------------------

def value_range(graph: Graph, name: str) -> tuple[int, int]:
    """The integer range a node's output can take (for headroom and RAM widths)."""
    node = graph.nodes[name]
    if isinstance(node, Input):
        return input_range(graph)
    if isinstance(node, (Gemm, PWL)):
        return (node.act_min, node.act_max) if node.requantise else (INT32_MIN, INT32_MAX)
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


def worst_accumulator(node: Gemm | PWL, lo: int, hi: int) -> int:
    """The largest |accumulator| (before the int32 wrap) any input in [lo, hi] can give.
    Gemm: sum |W| * max|x - zp| + |b|. PWL: each term is linear between knots, so its
    largest |term| is at a range end or on either side of a knot."""
    a, z = lo - node.input_zero_point, hi - node.input_zero_point
    if isinstance(node, Gemm):
        return int((np.abs(node.weights).sum(axis=1) * max(abs(a), abs(z)) + np.abs(node.bias)).max())
    ends = np.concatenate([node.knots, node.knots[:, 1:] - 1, np.tile([[a, z]], (node.in_size, 1))], axis=1)
    terms = pwl_int_terms(node, np.clip(ends, a, z).T)                  # [out, probes, in]
    return int((np.abs(terms).max(axis=1).sum(axis=1) + np.abs(node.bias)).max())


def rule_accumulator_headroom(graph: Graph) -> None:
    """No input can make an int32 accumulator (of a Gemm or a PWL) wrap."""
    for name, node in {**graph.of_type(Gemm), **graph.of_type(PWL)}.items():
        lo, hi = value_range(graph, graph.predecessors(name)[0])
        worst = worst_accumulator(node, lo, hi)
        if worst > INT32_MAX:
            raise DesignRuleError("accumulator-headroom", name, f"worst-case |accumulator| {worst} exceeds "
                                  f"int32 ({INT32_MAX}) for inputs in [{lo}, {hi}]")


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
           rule_flash_budget, rule_ram_budget),
    reference_executor="onnxruntime on the exported integer ONNX model (snnc export --format onnx)",
    usage=usage,
    energy_counts=energy_counts,
    input_max=127,
    input_format="int8 values in [-128, 127] (the host quantises analog input with the graph's input_quant)",
    graphs=("dense",),
    analog_input=True,
    flow="snnc.targets.edge_int8.flow:flow",
    executors={"onnx": "snnc.compiler.export:run_onnx"},
))
