"""Spline KAN layer and its multichannel ReLU twin: evaluation, exact conversion, errors."""
import pytest
import torch

from snnc.errors import ConfigError
from snnc.train.kan import (KAN, Knots, ReluKANLayer, SplineKANLayer, build_kan, change_of_basis,
                            extend_knots, uniform_knots)

F64 = torch.float64
EXACT = 1e-9   # the bar for float64 round-off


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _jittered_knots(inputs, intervals, seed=0):
    """Non-uniform knots on [0, 1]: uniform ones moved by up to a quarter interval."""
    t = uniform_knots(inputs, intervals)
    jitter = (torch.rand(inputs, intervals - 1, generator=_gen(seed), dtype=F64) - 0.5) / (2 * intervals)
    t[:, 1:-1] += jitter
    return t


def _layer(order, inputs=3, out=4, intervals=6, seed=0):
    t = _jittered_knots(inputs, intervals, seed)
    coef = torch.randn(out, inputs, intervals + order - 1, generator=_gen(seed + 1), dtype=F64)
    return SplineKANLayer(knots=t, out_features=out, order=order, coef=coef)


def _points(n=400, inputs=3, lo=-0.5, hi=1.5, seed=2):
    """Inside the [0, 1] domain and beyond both ends (the polynomial extension)."""
    return lo + (hi - lo) * torch.rand(n, inputs, generator=_gen(seed), dtype=F64)


# --- evaluation ------------------------------------------------------------------

@pytest.mark.parametrize("order", [2, 3, 4])
def test_sparse_evaluation_equals_dense_one_hot(order):
    layer, x = _layer(order), _points()
    assert torch.allclose(layer(x), layer(x, dense=True), rtol=0, atol=1e-11)


@pytest.mark.parametrize("order", [2, 3, 4])
def test_partition_of_unity_and_linear_precision(order):
    layer = _layer(order, out=1)
    x = torch.rand(200, 3, generator=_gen(3), dtype=F64)
    with torch.no_grad():
        layer.coef.fill_(1.0)
        assert torch.allclose(layer(x), torch.full((200, 1), 3.0, dtype=F64), atol=1e-13)
        layer.coef.copy_(layer.greville().unsqueeze(0))          # every edge the line x
        assert torch.allclose(layer(x), x.sum(1, keepdim=True), atol=1e-13)


def test_linear_spline_extends_its_end_segments():
    layer = SplineKANLayer(1, 1, intervals=4, order=2,
                           coef=torch.tensor([[[0.0, 1.0, 0.5, 2.0, 3.0]]], dtype=F64))
    x = torch.tensor([[-1.0], [-0.25], [1.25], [2.0]], dtype=F64)
    # first segment: 0 -> 1 over [0, 0.25] (slope 4); last: 2 -> 3 over [0.75, 1] (slope 4)
    want = torch.tensor([[-4.0], [-1.0], [4.0], [7.0]], dtype=F64)
    assert torch.allclose(layer(x), want, atol=1e-14)


@pytest.mark.parametrize("order", [2, 3])
def test_gradients_in_coefficients_inputs_and_free_knots(order):
    layer = _layer(order, inputs=2, out=2, intervals=4)
    layer.knots.free = True
    x = _points(12, inputs=2, lo=-0.2, hi=1.2).requires_grad_()

    def f(coef, theta, xx):
        return torch.func.functional_call(layer, {"coef": coef, "knots.theta": theta}, (xx,))
    coef = layer.coef.detach().clone().requires_grad_()
    theta = layer.knots.theta.detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(f, (coef, theta, x), fast_mode=True)


def test_relu_prefix_sums_equal_the_dense_channel_sum():
    relu = _layer(2, inputs=3, out=2).to_relu()
    x = _points(300).requires_grad_()
    fast, dense = relu(x), relu(x, dense=True)
    assert torch.allclose(fast, dense, rtol=0, atol=1e-12)
    g_fast = torch.autograd.grad(fast.sum(), (relu.weight, x))
    g_dense = torch.autograd.grad(dense.sum(), (relu.weight, x))
    for a, b in zip(g_fast, g_dense):
        assert torch.allclose(a, b, rtol=0, atol=1e-11)


def test_first_layer_basis_cache_follows_the_data():
    layer, x = _layer(2), _points()
    y0 = layer(x)
    x2 = x.clone()
    x2[0, 0] += 0.3
    assert not torch.equal(layer(x2)[0], y0[0])
    x2.copy_(x)                                                  # in place: the version changes
    assert torch.equal(layer(x2), y0)


# --- change of basis ---------------------------------------------------------------

def test_linear_change_of_basis_is_the_published_hat():
    t = torch.tensor([[0.0, 0.1, 0.3, 0.6, 1.0]], dtype=F64)
    e = extend_knots(t, 2)[0]
    a = change_of_basis(extend_knots(t, 2), 2)[0]
    h = e[1:] - e[:-1]
    for i in range(a.shape[0]):
        assert a[i, i] == pytest.approx(1 / h[i])
        if i + 1 < a.shape[1]:
            assert a[i, i + 1] == pytest.approx(-(1 / h[i] + 1 / h[i + 1]))
        if i + 2 < a.shape[1]:
            assert a[i, i + 2] == pytest.approx(1 / h[i + 1])
    assert torch.equal(a, torch.triu(a)) and torch.equal(a, torch.tril(a, 2))


@pytest.mark.parametrize("order", [2, 3, 4])
def test_spline_to_relu_and_back_is_exact(order):
    layer, x = _layer(order), _points()
    relu = layer.to_relu()
    assert isinstance(relu, ReluKANLayer)
    assert (relu(x) - layer(x)).abs().max() <= EXACT
    back = relu.to_spline()
    assert (back.coef - layer.coef).abs().max() <= EXACT
    assert (back(x) - layer(x)).abs().max() <= EXACT


def test_whole_network_converts_exactly():
    model = build_kan([2, 5, 3, 1], 8, 2, init="random", generator=_gen(4))
    x = _points(500, inputs=2)
    relu = model.to_relu()
    assert relu.basis == "relu" and relu.to_spline().basis == "spline"
    assert (relu(x) - model(x)).abs().max() <= EXACT
    assert (relu.to_spline()(x) - model(x)).abs().max() <= EXACT


# --- errors: one line naming the parameter --------------------------------------------

def _one_line(excinfo, name):
    msg = str(excinfo.value)
    assert "\n" not in msg and msg.startswith(name), msg


@pytest.mark.parametrize("order", [1, 0, 2.0, "2", True])
def test_invalid_order(order):
    with pytest.raises(ConfigError) as e:
        SplineKANLayer(2, 1, 4, order=order)
    _one_line(e, "order")


def test_knots_that_cross():
    t = torch.tensor([[0.0, 0.5, 0.4, 1.0]], dtype=F64)
    with pytest.raises(ConfigError) as e:
        SplineKANLayer(knots=t, out_features=1)
    _one_line(e, "knots")
    assert "input 0" in str(e.value) and "t[1]" in str(e.value)


@pytest.mark.parametrize("kw, name", [
    (dict(intervals=0), "intervals"), (dict(domain=(1.0, 0.0)), "domain"),
    (dict(in_features=0), "in_features"), (dict(out_features=0), "out_features")])
def test_invalid_grid(kw, name):
    args = dict(in_features=2, out_features=1, intervals=4) | kw
    with pytest.raises(ConfigError) as e:
        SplineKANLayer(**args)
    _one_line(e, name)


def test_wrong_coefficient_and_input_shapes():
    with pytest.raises(ConfigError) as e:
        SplineKANLayer(2, 3, 4, order=2, coef=torch.zeros(3, 2, 4, dtype=F64))
    _one_line(e, "coef")
    with pytest.raises(ConfigError) as e:
        SplineKANLayer(2, 3, 4)(torch.zeros(5, 3, dtype=F64))
    _one_line(e, "input")


def test_free_knots_that_meet_by_round_off_are_refused():
    knots = Knots(uniform_knots(1, 4), free=True)
    with torch.no_grad():
        knots.theta[0, 1] = -1e4                                  # softplus underflows to 0
    with pytest.raises(ConfigError) as e:
        knots()
    _one_line(e, "free knots")


def test_model_needs_one_kind_of_layer():
    with pytest.raises(ConfigError):
        KAN([SplineKANLayer(2, 2, 4), ReluKANLayer(2, 1, 4)])
    with pytest.raises(ConfigError) as e:
        build_kan([2, 1], 4, init="zeros")
    _one_line(e, "init")
