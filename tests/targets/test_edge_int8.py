"""`edge-int8` arithmetic against hard-coded values: TFLite's own test table
(tensorflow/lite/kernels/internal/quantization_util_test.cc) and hand-computed
ties, negative numbers, saturation, shift 0 and the largest shifts; its design
rules, each one line."""
import numpy as np
import pytest

import snnc
from snnc.compiler.ir import Graph, Input, Output
from snnc.compiler.ir.dense import Gemm, Step
from snnc.errors import DesignRuleError, GraphError
from snnc.targets import edge_int8
from snnc.targets.edge_int8 import (INT32_MAX, INT32_MIN, quantize_multiplier, requantise,
                                    rounding_divide_by_pot, saturating_rounding_doubling_high_mul)

H = 1 << 30   # multiplier 2^30 is x 0.5 with shift 0

# (acc, multiplier, shift, expected)
HAND = [
    (1, H, 0, 1),                 # 0.5 -> 1: the high mul rounds ties up ...
    (-1, H, 0, 0),                # -0.5 -> 0 ... toward +infinity (gemmlowp nudge 1 - 2^30)
    (3, H, 0, 2), (-3, H, 0, -1),  # 1.5 -> 2, -1.5 -> -1
    (10, H, -1, 3), (-10, H, -1, -3),   # 5 / 2: the shift rounds ties away from zero
    (6, H, -1, 2), (-6, H, -1, -2),     # 3 / 2 = 1.5 -> 2, -1.5 -> -2
    (-7, 2 * H - 1, 0, -7), (0, 2 * H - 1, -31, 0),
    (100, H, 1, 100),             # left shift 1, x 0.5
    (INT32_MAX, H, -31, 1),       # (2^31 - 1) / 2 rounds to 2^30, / 2^31 = 0.5 -> 1
    (INT32_MIN, H, -31, -1),      # -2^30 / 2^31 = -0.5 -> -1
    (1 << 30, H, 2, 1 << 30),     # 2^32 saturates to INT32_MAX before the high mul
    (-(1 << 30), H, 2, -(1 << 30)),  # -2^32 saturates to INT32_MIN: -2^30 exactly
    (INT32_MIN, INT32_MAX, 0, -INT32_MAX),
    (INT32_MAX, INT32_MAX, -3, 268435456), (-INT32_MAX, INT32_MAX, -3, -268435456),  # TFLite's "maximum" case
]

# TFLite MultiplyByQuantizedMultiplierInt32: (x, real multiplier, expected)
TFLITE = [(0, 0.1, 0), (1, 0.0, 0), (10000, 0.00097656, 10), (-10000, 0.00097656, -10),
          (INT32_MIN, 0.00001, -21475), (INT32_MAX, 0.00001, 21475)]

# TFLite QuantizeMultiplier / ...GreaterThanOne / ...Underflow / ...Array tests: real -> (multiplier, shift)
MULTIPLIERS = [(2.0**-31, (1073741824, -30)), (2.0**-32, (1073741824, -31)),
               (np.ldexp(np.float32(0.99), -32), (0, 0)), (2.0**-33, (0, 0)), (0.0, (0, 0)),
               (0.25, (1073741824, -1)), (0.75, (1610612736, 0)), (1 - 1e-9, (2147483646, 0)),
               (1.25, (1342177280, 1)), (1.5, (1610612736, 1)), (2 - 1e-9, (2147483647, 1)),
               (2 - 1e-11, (1073741824, 2)), (0.125, (1073741824, -2)), (4.0, (1073741824, 3))]


@pytest.mark.parametrize("acc, mult, shift, expected", HAND)
def test_requantise_hand_values(acc, mult, shift, expected):
    assert int(requantise(acc, mult, shift)) == expected


@pytest.mark.parametrize("x, real, expected", TFLITE)
def test_requantise_matches_tflite_table(x, real, expected):
    assert int(requantise(x, *quantize_multiplier(real))) == expected


@pytest.mark.parametrize("real, expected", MULTIPLIERS)
def test_quantize_multiplier_matches_tflite(real, expected):
    assert quantize_multiplier(float(real)) == expected


def test_kernels_vectorised_and_edge_cases():
    assert int(saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MIN)) == INT32_MAX   # the one saturation
    assert list(rounding_divide_by_pot([5, -5, 7, -7, 4, -4], [1, 1, 2, 2, 0, 0])) == [3, -3, 2, -2, 4, -4]
    assert list(edge_int8.wrap32([2**31, -(2**31) - 1, 5])) == [INT32_MIN, INT32_MAX, 5]
    got = requantise(np.array([10, -10, 3]), np.array([H, H, H]), np.array([-1, -1, 0]))
    assert list(got) == [3, -3, 2]


def test_quantize_multiplier_refuses_what_no_shift_holds():
    with pytest.raises(ValueError, match="shift 32"):
        quantize_multiplier(2.0**31)
    with pytest.raises(ValueError, match=">= 0"):
        quantize_multiplier(-1.0)


def _graph(w, bias=0, n_in=None, **gemm) -> Graph:
    w = np.asarray(w)
    g = Graph("edge-int8")
    g.add("input", Input(n_in or w.shape[1]))
    g.add("fc", Gemm(w, bias, **gemm), ["input"])
    g.add("output", Output(w.shape[0], read="v"), ["fc"])
    return g


def test_gemm_saturates_at_int8_edges():
    g = _graph([[127], [-127]], multiplier=H, shift=1)   # x 1: acc = +-127 x
    res = snnc.runtime.simulate(g, np.array([[[127]], [[-128]], [[1]]]))
    assert res.state["fc"]["v"][:, 0].tolist() == [[127, -128], [-128, 127], [127, -127]]
    assert res.totals["overflow_events"] == 4   # the clamps of the first two samples


def test_zero_points_and_accumulator_output():
    g = _graph([[2, -3]], bias=5, input_zero_point=-128, requantise=False)
    res = snnc.runtime.simulate(g, np.array([[[-128, 0]]]))
    assert res.state["fc"]["v"][0, 0, 0] == 2 * 0 - 3 * 128 + 5


def test_step_compares_the_accumulator():
    g = Graph("edge-int8")
    g.add("input", Input(2))
    g.add("fc", Gemm([[1, 1], [1, -1]], requantise=False), ["input"])
    g.add("step", Step(2, np.array([3, 0])), ["fc"])
    g.add("output", Output(2, read="v"), ["step"])
    res = snnc.runtime.simulate(g, np.array([[[2, 1]], [[2, 2]]]))
    assert res.state["step"]["v"][:, 0].tolist() == [[0, 1], [1, 0]]


def one_line(exc) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_flash_budget_is_one_line():
    g = _graph(np.ones((1100, 1000), np.int64), requantise=False)
    with pytest.raises(DesignRuleError) as exc:
        snnc.runtime.simulate(g, np.zeros((1, 1, 1000), np.int64))
    text = one_line(exc)
    assert "'flash-budget'" in text and "'fc'" in text and "1048576" in text
    assert "1104400" in text   # 1100 x 1000 int8 weights + 1100 int32 biases


def test_ram_budget_is_one_line_and_warn_runs_it():
    g = _graph(np.ones((1, 330000), np.int64), requantise=False)
    with pytest.raises(DesignRuleError) as exc:
        snnc.runtime.simulate(g, np.zeros((1, 1, 330000), np.int64))
    assert "'ram-budget'" in one_line(exc) and "330004" in str(exc.value) and "327680" in str(exc.value)
    with pytest.warns(UserWarning, match="ram-budget"):
        res = snnc.runtime.simulate(g, np.ones((1, 1, 330000), np.int64), check="warn")
    assert res.state["fc"]["v"][0, 0, 0] == 330000 and res.violations[0]["rule"] == "ram-budget"


@pytest.mark.parametrize("build, rule", [
    (lambda: _graph([[-128, 1]], requantise=False), "weight-range"),
    (lambda: _graph([[127, 127]], bias=INT32_MAX - 10, requantise=False), "accumulator-headroom"),
    (lambda: _graph(np.ones((2, 2), np.float32)), "integer-layers"),
    (lambda: _graph([[1]], multiplier=H, act_min=-1000, act_max=1000, output_zero_point=5), "activation-range"),
    (lambda: _graph([[127, 127]], multiplier=H, shift=17), "left-shift-headroom"),   # 254 x 128 x 2^17 > 2^31
])
def test_semantic_rules_are_one_line(build, rule):
    with pytest.raises(DesignRuleError) as exc:
        snnc.runtime.simulate(build(), np.zeros((1, 1, build().nodes["input"].size), np.int64), check="warn")
    assert f"'{rule}'" in one_line(exc) and "'fc'" in str(exc.value)


def test_node_checks_name_the_parameter():
    with pytest.raises(GraphError, match="'shift' must lie in \\[-31, 30\\]"):
        Gemm([[1]], multiplier=H, shift=31)
    with pytest.raises(GraphError, match="int8 values"):
        Gemm([[300]])
    with pytest.raises(GraphError, match="'multiplier'"):
        Gemm([[1]], multiplier=-1)


def test_input_outside_int8_is_refused():
    with pytest.raises(snnc.errors.InputError, match=r"\[-128, 127\]"):
        snnc.runtime.simulate(_graph([[1]], requantise=False), np.array([[[200]]]))


def test_target_lists_sources():
    t = snnc.targets.get("edge-int8")
    assert t.limits == {"flash_bytes": 1048576, "ram_bytes": 327680}
    assert all("DS10916" in s for s in t.limit_sources.values())
    assert all("Horowitz" in c.source for c in t.energy.values())
    assert t.energy["mac_int8"].joules == pytest.approx(0.3e-12)
