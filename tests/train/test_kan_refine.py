"""Exact geometric refinement: dyadic knot insertion (spline basis) and injection (ReLU basis)."""
import pytest
import torch

from snnc.train.kan import KAN, SplineKANLayer, build_kan, injection, midpoints, uniform_knots

F64 = torch.float64
EXACT = 1e-9   # the bar for float64 round-off


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _points(n=500, inputs=2, lo=-0.5, hi=1.5, seed=1):
    return lo + (hi - lo) * torch.rand(n, inputs, generator=_gen(seed), dtype=F64)


def _rough_model(order, basis="spline", free_knots=False):
    model = build_kan([2, 4, 1], 4, order, init="linear", free_knots=free_knots, generator=_gen(2))
    with torch.no_grad():
        for layer in model.layers:
            layer.coef.add_(0.3 * torch.randn(layer.coef.shape, generator=_gen(3), dtype=F64))
    return model.to_relu() if basis == "relu" else model


def test_midpoints_halve_every_interval():
    t = torch.tensor([[0.0, 0.2, 1.0]], dtype=F64)
    assert torch.equal(midpoints(t), torch.tensor([[0.0, 0.1, 0.2, 0.6, 1.0]], dtype=F64))


@pytest.mark.parametrize("order", [2, 3, 4])
def test_refined_spline_model_computes_the_same_function(order):
    model, x = _rough_model(order), _points()
    fine = model.refined().refined()
    assert fine.intervals == 4 * model.intervals
    assert fine.layers[0].coef.shape[-1] == 16 + order - 1
    assert (fine(x) - model(x)).abs().max() <= EXACT


@pytest.mark.parametrize("order", [2, 3, 4])
def test_refinement_on_non_uniform_knots(order):
    t = torch.tensor([[0.0, 0.05, 0.3, 0.35, 1.0], [-1.0, 0.5, 0.6, 0.9, 2.0]], dtype=F64)
    layer = SplineKANLayer(knots=t, out_features=3, order=order,
                           coef=torch.randn(3, 2, 4 + order - 1, generator=_gen(4), dtype=F64))
    fine = KAN([layer]).refined()
    x = torch.stack([torch.linspace(-0.5, 1.5, 301, dtype=F64), torch.linspace(-2, 3, 301, dtype=F64)], 1)
    assert (fine(x) - layer(x)).abs().max() <= EXACT


@pytest.mark.parametrize("order", [2, 3])
def test_refined_relu_model_computes_the_same_function(order):
    model, x = _rough_model(order, basis="relu"), _points()
    assert (model.refined()(x) - model(x)).abs().max() <= EXACT


def test_relu_refinement_is_injection_on_interior_knots():
    t = uniform_knots(1, 4)
    q = injection(t, 2)[0]                          # (N = 5, N' = 9)
    # interior channel j >= 2 sits on t_{j-1}; it lands on the fine channel of the same knot
    for j in range(2, 5):
        assert q[j].tolist() == [1.0 if col == 2 * j - 1 else 0.0 for col in range(9)]
    # the fine channels on the new knots (midpoints) receive nothing from interior channels
    assert q[2:, [2, 4, 6, 8]].abs().sum() == 0


def test_refinement_commutes_with_the_change_of_basis():
    model, x = _rough_model(2), _points()
    a = model.refined().to_relu()
    b = model.to_relu().refined()
    assert (a(x) - b(x)).abs().max() <= EXACT
    for la, lb in zip(a.layers, b.layers):
        assert (la.weight - lb.weight).abs().max() <= EXACT


def test_free_knots_stay_free_and_the_function_stays_the_same():
    model = _rough_model(2, free_knots=True)
    with torch.no_grad():
        model.layers[0].knots.theta.add_(0.4 * torch.randn(model.layers[0].knots.theta.shape,
                                                           generator=_gen(5), dtype=F64))
    fine, x = model.refined(), _points()
    assert all(layer.knots.free for layer in fine.layers)
    assert (fine(x) - model(x)).abs().max() <= EXACT
