"""Lowering KANs to Gemm + Relu: exact for linear splines, a bounded approximation otherwise, clear errors."""
import numpy as np
import pytest
import torch

from snnc.compiler.frontend.kan import kan_float_net, kan_graph, lower_model, run_lowered, torch_values
from snnc.compiler.frontend.kan_pwl import MEASURE_PER_SEGMENT, approximate, edge_values, interpolant, max_edge_error
from snnc.compiler.ir.dense import Gemm, Relu
from snnc.errors import CompileError, ConfigError
from snnc.runtime import deploy
from snnc.train.kan import KAN, SplineKANLayer, build_kan, uniform_knots
from snnc.train.kan.checkpoint import load_kan, save_kan
from snnc.train.kan.config import from_dict
from tests.backends import fresh_seed

F64 = torch.float64
FRESH_SEED = fresh_seed()   # a new seed each run; SNNC_TEST_SEED=N replays one


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _random_kan(seed, widths=(2, 4, 3, 1), intervals=7, order=2):
    """Random coefficients on jittered (non-uniform) knots in every layer."""
    layers = []
    for i, (d_in, d_out) in enumerate(zip(widths[:-1], widths[1:])):
        t = uniform_knots(d_in, intervals, (0.0, 1.0) if i == 0 else (-1.0, 1.0))
        h = t[0, 1] - t[0, 0]
        t[:, 1:-1] += (torch.rand(d_in, intervals - 1, generator=_gen(seed + i), dtype=F64) - 0.5) * h / 2
        coef = 0.5 * torch.randn(d_out, d_in, intervals + order - 1, generator=_gen(seed + 10 + i), dtype=F64)
        layers.append(SplineKANLayer(knots=t, out_features=d_out, order=order, coef=coef))
    return KAN(layers)


def _points(seed, n=500, inputs=2, lo=-0.5, hi=1.5):
    """Inside the domain and beyond both ends (the linear extension)."""
    return (lo + (hi - lo) * torch.rand(n, inputs, generator=_gen(seed), dtype=F64)).numpy()


# --- hard-coded values ---------------------------------------------------------------

def test_one_edge_graph_gives_the_spline_values_inside_and_beyond_the_knots():
    """Knots 0, 0.5, 1 and values 1, 3, 2: the hats interpolate them and the end segments
    extend linearly (slope 4 on the left, -2 on the right)."""
    layer = SplineKANLayer(knots=torch.tensor([[0.0, 0.5, 1.0]], dtype=F64), out_features=1, order=2,
                           coef=torch.tensor([[[1.0, 3.0, 2.0]]], dtype=F64))
    x = np.array([[0.0], [0.25], [0.5], [0.75], [1.0], [-0.5], [1.5]])
    want = np.array([1.0, 2.0, 3.0, 2.5, 2.0, -1.0, 1.0])
    graph = kan_graph(KAN([layer]), "gemm")
    got, _ = deploy.run(graph, x[:, None, :].astype(np.float32))
    np.testing.assert_allclose(got[:, 0], want, atol=1e-6)
    np.testing.assert_allclose(run_lowered(lower_model(KAN([layer])), x)[:, 0], want, atol=1e-14)
    # the knots are the expand biases: R_j = x - t_j, N_0 = t_0 - x
    expand = graph.nodes["kan0_expand"]
    np.testing.assert_array_equal(expand.bias, [-0.0, -0.5, 0.0])
    np.testing.assert_array_equal(expand.weights[:, 0], [1, 1, -1])


def test_graph_is_gemm_and_relu_only():
    graph = kan_graph(_random_kan(0), "gemm")
    kinds = {type(n) for n in graph.nodes.values()} - {type(graph.nodes["input"]), type(graph.nodes["output"])}
    assert kinds == {Gemm, Relu}
    assert graph.metadata["activation_bits"] == 16


# --- exactness (property: lowered graph against the PyTorch model) ---------------------

@pytest.mark.parametrize("offset", range(3))
def test_lowering_is_exact_in_float64(offset):
    seed = FRESH_SEED + offset
    model, x = _random_kan(seed), _points(seed + 100)
    err = np.abs(run_lowered(lower_model(model), x) - torch_values(model, x)).max()
    assert err <= 1e-12, f"max |lowered - torch| = {err:.3g} (SNNC_TEST_SEED={FRESH_SEED})"


def test_relu_basis_model_lowers_to_the_same_function():
    model = _random_kan(FRESH_SEED)
    x = _points(FRESH_SEED + 1)
    err = np.abs(run_lowered(lower_model(model.to_relu()), x) - torch_values(model, x)).max()
    assert err <= 1e-12, f"SNNC_TEST_SEED={FRESH_SEED}"


def test_float32_graph_equals_the_model_to_float32_round_off():
    model, x = _random_kan(FRESH_SEED), _points(FRESH_SEED + 2)
    ref = torch_values(model, x)
    got, _ = deploy.run(kan_graph(model, "gemm"), x[:, None, :].astype(np.float32))
    # float32 weights and sums: a few ulp of the largest intermediate (|values| ~ 1..10)
    assert np.abs(got - ref).max() <= 2e-5 * max(1.0, np.abs(ref).max()), f"SNNC_TEST_SEED={FRESH_SEED}"


# --- higher orders: the stated approximation ------------------------------------------

def _second_derivative_max(layer, lo, hi, points=4001):
    u = lo.unsqueeze(1) + (hi - lo).unsqueeze(1) * torch.linspace(0, 1, points, dtype=F64)
    f = edge_values(layer, u)
    d = (hi - lo) / (points - 1)
    return float(((f[..., 2:] - 2 * f[..., 1:-1] + f[..., :-2]) / d.view(1, -1, 1) ** 2).abs().max())


@pytest.mark.parametrize("order", [3, 4])
def test_pwl_error_within_the_interpolation_bound_and_quartered_by_halving(order):
    layer = _random_kan(FRESH_SEED, widths=(2, 3), intervals=5, order=order).layers[0]
    lo, hi = torch.zeros(2, dtype=F64), torch.ones(2, dtype=F64)
    errors = []
    for segments in (16, 32, 64):
        approx = interpolant(layer, segments, lo, hi)
        errors.append(max_edge_error(layer, approx, lo, hi, segments))
        bound = (1.0 / segments) ** 2 / 8 * _second_derivative_max(layer, lo, hi)
        assert errors[-1] <= bound * (1 + 1e-6) + 1e-14, f"{segments} segments (SNNC_TEST_SEED={FRESH_SEED})"
    assert errors[1] < errors[0] / 3 and errors[2] < errors[1] / 3     # O(h^2)


def test_pwl_model_error_is_measured_and_shrinks_as_h_squared():
    """The composed approximation on points: quartered (theory: 4x, asserted > 2.5x) per halving
    of the segments (measured over 200 seeds: 3.5x to 4.5x)."""
    model = _random_kan(FRESH_SEED, widths=(2, 3, 1), intervals=4, order=3)
    x = torch.from_numpy(_points(FRESH_SEED + 3, lo=0.0, hi=1.0))
    errors = []
    for segments in (32, 64, 128):
        approx, rows = approximate(model, segments, x)
        assert [r["exact"] for r in rows] == [False, False] and rows[0]["segments"] == segments
        assert all(r["max_edge_error"] > 0 for r in rows)
        errors.append(np.abs(torch_values(approx, x.numpy()) - torch_values(model, x.numpy())).max())
    assert errors[1] < errors[0] / 2.5 and errors[2] < errors[1] / 2.5, f"{errors} (SNNC_TEST_SEED={FRESH_SEED})"
    assert MEASURE_PER_SEGMENT >= 8


# --- checkpoints: order refused without the flag, crossing knots named ----------------

def _save(tmp_path, model, order=2):
    cfg = from_dict({"kan": {"widths": [2, 3, 1], "order": order, "intervals": 4},
                     "data": {"n_train": 200, "n_val": 50, "n_test": 100}})
    path = tmp_path / "checkpoint.pt"
    save_kan(path, model, cfg, epoch=1, level=0, seconds=0.0, lo=0.0, hi=1.0)
    return path


def test_order_3_checkpoint_is_refused_in_one_line_without_pwl_segments(tmp_path):
    path = _save(tmp_path, build_kan([2, 3, 1], 4, order=3, generator=_gen(0)), order=3)
    with pytest.raises(CompileError, match=r"layer 0 has order-3 splines.*--pwl-segments") as exc:
        kan_float_net(path)
    assert "\n" not in str(exc.value)


def test_order_3_with_pwl_segments_warns_and_reports(tmp_path, capsys):
    path = _save(tmp_path, build_kan([2, 3, 1], 4, order=3, generator=_gen(0)), order=3)
    net = kan_float_net(path, pwl_segments=32, warn=True)
    assert "warning: order-3 splines approximated by 32 linear pieces" in capsys.readouterr().err
    assert net.pwl[0]["segments"] == 32 and net.graph.metadata["pwl_segments"] == 32


def test_crossing_knots_are_one_line_naming_layer_and_input(tmp_path):
    path = _save(tmp_path, build_kan([2, 3, 1], 4, generator=_gen(0)))
    ckpt = torch.load(path, weights_only=True)
    ckpt["layers"][1]["knots"][2, 1:3] = torch.tensor([0.3, 0.1], dtype=F64)   # input 2 of layer 1
    torch.save(ckpt, path)
    with pytest.raises(ConfigError, match=r"layer 1: knots of input 2 cross or coincide") as exc:
        load_kan(path)
    assert "\n" not in str(exc.value)
