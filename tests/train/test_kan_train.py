"""Training KANs: multilevel L-BFGS and Adam lower the loss, free knots stay ordered, freezing holds."""
import math

import pytest
import torch

from snnc.errors import ConfigError
from snnc.train.kan import FitConfig, build_kan, fit, mse, parameter_count, train_multilevel

F64 = torch.float64


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _data(n=400, seed=0):
    x = torch.rand(n, 2, generator=_gen(seed), dtype=F64)
    y = (torch.sin(2 * math.pi * x[:, :1]) + x[:, 1:] ** 2) / 2
    return x, y


@pytest.mark.parametrize("basis", ["spline", "relu"])
def test_multilevel_lbfgs_lowers_the_loss_and_ends_fine(basis):
    x, y = _data()
    model = build_kan([2, 3, 1], 2, 2, init="linear", basis=basis, generator=_gen(1))
    before = mse(model, x, y)
    fine, history = train_multilevel(model, x, y, schedule=(3, 2, 1), cfg=FitConfig(max_iter=10))
    assert fine.intervals == 8 and fine.basis == basis
    assert history.level == [0, 0, 0, 1, 1, 2] and history.epochs[-1] == 6
    assert history.evals == sorted(history.evals) and history.evals[-1] >= 6
    assert history.loss[-1] < 0.2 * before
    assert history.loss[-1] == pytest.approx(mse(fine, x, y))
    # prolongation is exact: no level starts worse than the one before ended
    for level in (1, 2):
        first = history.level.index(level)
        assert history.loss[first] <= history.loss[first - 1] * (1 + 1e-9)


def test_multilevel_is_deterministic():
    x, y = _data()
    runs = [train_multilevel(build_kan([2, 3, 1], 2, 2, generator=_gen(7)), x, y, (2, 1),
                             FitConfig(max_iter=5))[1].loss for _ in range(2)]
    assert runs[0] == runs[1]


def test_adam_lowers_the_loss():
    x, y = _data()
    model = build_kan([2, 3, 1], 4, 2, init="linear", generator=_gen(2))
    before = mse(model, x, y)
    history = fit(model, x, y, 5, FitConfig(optimizer="adam", lr=0.05, batch_size=100), generator=_gen(3))
    assert history.loss[-1] < 0.5 * before


def _strictly_ordered_inside(model) -> bool:
    for layer in model.layers:
        t = layer.knots()
        lo, hi = layer.knots.fixed[:, 0], layer.knots.fixed[:, -1]
        if not ((t[:, 1:] > t[:, :-1]).all() and torch.equal(t[:, 0], lo) and torch.equal(t[:, -1], hi)):
            return False
    return True


def test_free_knots_move_and_stay_strictly_ordered_inside_the_domain():
    x, y = _data()
    model = build_kan([2, 3, 1], 6, 2, init="linear", free_knots=True, generator=_gen(4))
    start = [layer.knots().detach().clone() for layer in model.layers]
    # a large Adam step size pushes knots hard: the parameterisation must keep them ordered
    fit(model, x, y, 4, FitConfig(optimizer="adam", lr=0.5, batch_size=50), generator=_gen(5))
    assert _strictly_ordered_inside(model)
    moved = max((layer.knots() - t0).abs().max().item() for layer, t0 in zip(model.layers, start))
    assert moved > 1e-3
    fine, _ = train_multilevel(model, x, y, (1, 1), FitConfig(max_iter=5))
    assert _strictly_ordered_inside(fine)


def test_freezing_knots_keeps_them_and_drops_them_from_the_parameters():
    x, y = _data()
    model = build_kan([2, 3, 1], 6, 2, free_knots=True, generator=_gen(6))
    fit(model, x, y, 2, FitConfig(optimizer="adam", lr=0.1, batch_size=100), generator=_gen(7))
    free_count = parameter_count(model)
    model.set_free_knots(False)
    frozen = [layer.knots().clone() for layer in model.layers]
    assert parameter_count(model) == free_count - (2 + 3) * 6
    fit(model, x, y, 2, FitConfig(max_iter=5))
    assert all(torch.equal(layer.knots(), t) for layer, t in zip(model.layers, frozen))


@pytest.mark.parametrize("kw, name", [(dict(optimizer="sgd"), "optimizer"), (dict(lr=0.0), "lr")])
def test_invalid_fit_config(kw, name):
    with pytest.raises(ConfigError) as e:
        FitConfig(**kw)
    assert name in str(e.value) and "\n" not in str(e.value)


def test_invalid_schedule():
    x, y = _data(20)
    with pytest.raises(ConfigError) as e:
        train_multilevel(build_kan([2, 1], 2), x, y, schedule=(2, -1))
    assert str(e.value).startswith("schedule")
