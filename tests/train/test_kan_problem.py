"""The published 2-D regression problem and the KAN run's config: splits, normalisation, errors."""
from pathlib import Path

import pytest
import torch

from snnc.errors import ConfigError
from snnc.train.kan.config import from_dict, load
from snnc.train.kan.problem import make_data, make_splits, target


def test_target_values_at_hand_computed_points():
    """f(0, 0) = cos 0 + sin 0 + sin 0 + |sin 0| = 1 (the rotation keeps the origin)."""
    assert target(torch.zeros(1, 2, dtype=torch.float64)).item() == pytest.approx(1.0, abs=1e-15)


def test_validation_split_never_moves_train_or_test_points():
    a, b = make_splits(300, 0, 100, seed=3), make_splits(300, 50, 100, seed=3)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.x_test, b.x_test) and torch.equal(a.y_test, b.y_test)
    assert len(b.y_val) == 50 and not torch.isin(b.x_val[:, 0], b.x_train[:, 0]).any()
    train, test = make_data(300, 100, seed=3)[::2]
    assert torch.equal(train, a.x_train) and torch.equal(test, a.x_test)


def test_outputs_normalised_by_the_training_range():
    s = make_splits(500, 100, 100, seed=1)
    assert s.y_train.min().item() == 0.0 and s.y_train.max().item() == 1.0
    assert s.x_train.min() >= 1e-4 and s.x_train.max() <= 1 - 1e-4


@pytest.mark.parametrize("raw,needle", [
    ({"kan": {"intervls": 4}}, "kan.intervls: unknown key"),
    ({"kan": {"order": 1}}, "kan.order: must lie in [2, 8]"),
    ({"kan": {"widths": [3, 5, 1]}}, "kan.widths: data 'kan2d' has 2 inputs and 1 output"),
    ({"train": {"schedule": [0, 0]}}, "train.schedule: needs epochs per level"),
    ({"train": {"lr": float("nan")}}, "train.lr: must be a finite number"),
    ({"data": {"name": "digits"}}, "data.name: 'digits' is not one of kan2d"),
    ({"model": {}}, "model: unknown section of a KAN config"),
])
def test_config_errors_are_one_line(raw, needle):
    with pytest.raises(ConfigError, match=None) as exc:
        from_dict(raw)
    assert needle in str(exc.value) and "\n" not in str(exc.value)


def test_shipped_config_is_the_published_problem():
    cfg = load(Path(__file__).parents[2] / "configs" / "kan_regression.toml")
    assert cfg.kan.widths == [2, 5, 1] and cfg.kan.order == 2 and cfg.train.schedule == [32, 16, 8, 4]
    assert cfg.data.n_train == 20_000 and cfg.train.optimizer == "lbfgs" and cfg.train.lr == 1.0
