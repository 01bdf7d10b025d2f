"""PWL nodes (a lowered KAN layer as knots and values): the node's checks, its float and
integer arithmetic against direct formulas, the KAN lowering against the PyTorch model,
the integer ONNX model bit for bit under onnxruntime, the accumulator design rule."""
import numpy as np
import pytest
import torch

from snnc.compiler.export.onnx_edge import run_model
from snnc.compiler.frontend.kan import kan_graph, torch_values
from snnc.compiler.ir import Graph, Input, Output, load, save
from snnc.compiler.ir.dense import PWL, Relu
from snnc.errors import DesignRuleError, GraphError
from snnc.runtime import deploy, dense
from snnc.targets import edge_int8
from snnc.train.kan import KAN, SplineKANLayer, uniform_knots
from tests.backends import fresh_seed

F64 = torch.float64
FRESH_SEED = fresh_seed()   # a new seed each run; SNNC_TEST_SEED=N replays one


def test_float_pwl_interpolates_and_extends_the_end_segments():
    """Knots 0, 0.5, 1 and values 1, 3, 2: slope 4 on the left, -2 on the right."""
    node = PWL(np.array([[0.0, 0.5, 1.0]]), np.array([[[1.0, 3.0, 2.0]]]), bias=[0.25])
    x = np.array([[0.0], [0.25], [0.5], [0.75], [1.0], [-0.5], [1.5]], np.float32)
    want = np.array([1.0, 2.0, 3.0, 2.5, 2.0, -1.0, 1.0]) + 0.25
    np.testing.assert_allclose(edge_int8.pwl_float(node, x)[:, 0], want, atol=1e-6)


def _integer_reference(node: PWL, x: np.ndarray) -> tuple[np.ndarray, bool]:
    """The node docstring's formula, one element at a time in Python ints; and whether any
    accumulator wrapped."""
    out, wrapped = np.zeros((len(x), node.out_size), np.int64), False
    for b, row in enumerate(x):
        for q in range(node.out_size):
            acc = int(node.bias[q])
            for p, xin in enumerate(row):
                v = int(xin) - node.input_zero_point
                k = sum(v >= int(t) for t in node.knots[p, 1:-1])
                acc += int(node.values[q, p, k]) + int(node.slopes[q, p, k]) * (v - int(node.knots[p, k]))
            out[b, q] = (acc + 2**31) % 2**32 - 2**31
            wrapped |= out[b, q] != acc
    return out, wrapped


def random_pwl(rng, n_out, n_in, zp_in, requantise):
    n = int(rng.integers(1, 6))
    knots = np.sort(rng.choice(np.arange(-300, 300), (n_in, n + 1), replace=False), axis=1)
    values = rng.integers(-(2**31), 2**31, (n_out, n_in, n + 1)) >> rng.integers(0, 31)
    slopes = rng.integers(-(2**31), 2**31, (n_out, n_in, n)) >> rng.integers(10, 31)
    bias = rng.integers(-(2**31), 2**31, n_out) >> rng.integers(0, 31)
    edge = rng.random(n_out) < 0.5       # biases at the int32 edges: the accumulator wraps
    bias[edge] = rng.choice([-1, 1], edge.sum()) * (2**31 - 1 - rng.integers(0, 1000, edge.sum()))
    mult = rng.choice([0, 1, 1 << 30, 2**31 - 1, *rng.integers(0, 2**31, 3)], n_out)
    act = [(-128, 127), (-32767, 32767)][rng.integers(2)]
    zp_out = int(rng.integers(act[0], act[1] + 1)) if act[0] == -128 else 0
    return PWL(knots, values, slopes, bias, mult, rng.integers(-31, 31, n_out), zp_in, zp_out, *act,
               requantise=requantise)


def random_chain(rng) -> Graph:
    """int8 input -> PWL (-> Relu) -> PWL (int32 accumulator) -> Output."""
    g, n = Graph("edge-int8"), int(rng.integers(1, 5))
    prev = g.add("input", Input(n))
    m = int(rng.integers(1, 6))
    prev = g.add("pwl0", random_pwl(rng, m, n, int(rng.integers(-128, 128)), True), [prev])
    zp = g.nodes["pwl0"].output_zero_point
    if rng.random() < 0.5:
        prev = g.add("relu0", Relu(m, zero_point=zp), [prev])
    prev = g.add("pwl1", random_pwl(rng, int(rng.integers(1, 4)), m, zp if g.nodes["pwl0"].act_min == -128 else 0,
                                    False), [prev])
    g.add("output", Output(g.nodes["pwl1"].out_size, read="v"), [prev])
    return g


@pytest.mark.parametrize("seed", [0, pytest.param(FRESH_SEED, id="fresh")])
def test_integer_pwl_is_its_formula_and_onnxruntime_agrees(seed):
    rng = np.random.default_rng(seed)
    wrapped = 0
    for case in range(8):
        g = random_chain(rng)
        x = rng.integers(-128, 128, (48, 1, g.nodes["input"].size))
        x[:6] = rng.choice(np.array([-128, 127, 0]), (6, 1, x.shape[2]))
        ours = dense.run(g, x[:, 0])
        node = g.nodes["pwl0"]
        acc, wraps = _integer_reference(node, x[:, 0])
        np.testing.assert_array_equal(edge_int8.pwl_accumulator(node, x[:, 0]), acc, err_msg=f"seed {seed}")
        wrapped += wraps
        theirs = run_model(g, x)
        for layer, values in ours.items():
            where = np.argwhere(values != theirs[layer]["v"][:, 0])
            assert where.size == 0, f"seed {seed} case {case} layer {layer} differs at {tuple(where[0])}"
    assert wrapped > 0, f"seed {seed}: no accumulator wrapped"     # the int32 wrap is exercised


def _random_kan(seed, widths=(2, 4, 1), intervals=6):
    gen = torch.Generator().manual_seed(seed)
    layers = []
    for i, (d_in, d_out) in enumerate(zip(widths[:-1], widths[1:])):
        t = uniform_knots(d_in, intervals, (0.0, 1.0) if i == 0 else (-1.0, 1.0))
        h = t[0, 1] - t[0, 0]
        t[:, 1:-1] += (torch.rand(d_in, intervals - 1, generator=gen, dtype=F64) - 0.5) * h / 2
        coef = 0.5 * torch.randn(d_out, d_in, intervals + 1, generator=gen, dtype=F64)
        layers.append(SplineKANLayer(knots=t, out_features=d_out, order=2, coef=coef))
    return KAN(layers)


def test_kan_pwl_graph_is_the_model_and_the_gemm_graph():
    """Inside the domain and beyond both ends (the linear extension), to float32 round-off."""
    model = _random_kan(3)
    x = np.random.default_rng(0).uniform(-0.5, 1.5, (400, 2))
    pwl, gemm = kan_graph(model, "pwl"), kan_graph(model, "gemm")
    assert [type(n).__name__ for n in pwl.nodes.values()] == ["Input", "PWL", "PWL", "Output"]
    got, _ = deploy.run(pwl, x[:, None, :].astype(np.float32))
    ref, _ = deploy.run(gemm, x[:, None, :].astype(np.float32))
    want = torch_values(model, x)
    np.testing.assert_allclose(got, want, atol=2e-5 * np.abs(want).max())
    np.testing.assert_allclose(got, ref, atol=2e-5 * np.abs(want).max())
    theirs = run_model(pwl, x[:, None, :].astype(np.float32))
    for layer, values in dense.run(pwl, x.astype(np.float32)).items():
        np.testing.assert_array_equal(theirs[layer]["v"][:, 0], values)       # float ONNX: the same sums


def test_serialised_pwl_round_trips(tmp_path):
    g = random_chain(np.random.default_rng(4))
    save(g, tmp_path / "p.snnc")
    back = load(tmp_path / "p.snnc")
    for name in ("pwl0", "pwl1"):
        for field in ("knots", "values", "slopes", "bias", "multiplier", "shift"):
            np.testing.assert_array_equal(getattr(back.nodes[name], field), getattr(g.nodes[name], field))


@pytest.mark.parametrize("kwargs, needle", [
    (dict(knots=[[0.0, 0.0, 1.0]], values=[[[0, 1, 2]]]), "knots of input 0 must be strictly increasing"),
    (dict(knots=[[0.0, 1.0]], values=[[[0, 1, 2]]]), "knots must have shape (in, n+1) = (1, 3)"),
    (dict(knots=[[0.0, 1.0]], values=[[0.0, 1.0]]), "'values' must be a non-empty 3-D array"),
    (dict(knots=[[0.0, 1.0]], values=[[[0.0, 1.0]]], slopes=[[[1.0]]]), "slopes belong to integer layers"),
    (dict(knots=[[0, 1]], values=[[[0, 1]]], slopes=[[[1, 2]]]), "slopes must have shape (1, 1, 1)"),
    (dict(knots=[[0, 1]], values=[[[0, 2**31]]], slopes=[[[1]]]), "values must be int32 values"),
    (dict(knots=[[0.0, np.nan]], values=[[[0.0, 1.0]]]), "'knots' must hold finite numbers"),
])
def test_bad_pwl_parameters_are_one_line(kwargs, needle):
    with pytest.raises(GraphError) as err:
        PWL(**kwargs)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_accumulator_headroom_rule_sees_the_linear_extension():
    """In range the terms are small; the slope carries the end segment to the input's edge."""
    g = Graph("edge-int8")
    g.add("input", Input(1))
    g.add("p", PWL([[0, 10]], [[[0, 100]]], [[[2**27]]], requantise=False), ["input"])
    g.add("output", Output(1, read="v"), ["p"])
    with pytest.raises(DesignRuleError, match="accumulator-headroom"):
        edge_int8.rule_accumulator_headroom(g)
    g.nodes["p"] = PWL([[0, 10]], [[[0, 100]]], [[[10]]], requantise=False)
    edge_int8.rule_accumulator_headroom(g)


def test_pwl_operations_are_int32_multiply_adds():
    """Per inference: one int32 slope product and two adds per edge, a binary search per input."""
    node = PWL([[0, 10, 20, 30, 40]], np.zeros((3, 1, 5), np.int64), np.zeros((3, 1, 4), np.int64),
               multiplier=[1 << 30] * 3)
    ops = edge_int8.layer_ops(node)
    assert ops["macs"] == 3 and ops["macs_int8"] == 0 and ops["mults_int32"] == 3 + 3
    assert ops["adds"] == 2 * 1 + 2 + 2 * 3 + 3 * 6
