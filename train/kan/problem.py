"""The published 2-D regression problem of SEEDS.md part 2 (Southworth et al., arXiv 2603.04827, Table 2).

    f(x, y) = cos(4 pi x') + sin(pi y') + sin(2 pi y') + |sin(3 pi y'^2)|,
    (x', y') = R(0.175) (x, y)   (R: counter-clockwise rotation)

Uniform points on [1e-4, 1 - 1e-4]^2 (the paper's box), outputs normalised to
[0, 1] with the training set's min and max.  Splits come from one generator:
train and test first (the 20,000 + 10,000 points `benchmarks/kan_regression.py`
uses), then the validation points, so asking for a validation split never moves
a training or test point.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from snnc.errors import ConfigError

ANGLE = 0.175                      # rad, counter-clockwise (SEEDS.md part 2)
EDGE = 1e-4                        # sampling box [EDGE, 1 - EDGE]^2 (the paper's)
N_TRAIN, N_VAL, N_TEST = 20_000, 5_000, 10_000   # train: the paper's; val and test: ours (estimate)
DATA_SEED = 20250523               # arbitrary, fixed: every run sees the same data
MAX_POINTS = 10_000_000            # per split: refused above (a typo, not a data set)


def target(xy: Tensor) -> Tensor:
    """The unnormalised target ``f`` at ``xy`` ``(B, 2)``: ``(B,)``."""
    c, s = math.cos(ANGLE), math.sin(ANGLE)
    x, y = c * xy[:, 0] - s * xy[:, 1], s * xy[:, 0] + c * xy[:, 1]
    return (torch.cos(4 * math.pi * x) + torch.sin(math.pi * y) + torch.sin(2 * math.pi * y)
            + torch.abs(torch.sin(3 * math.pi * y ** 2)))


@dataclass(frozen=True)
class Splits:
    """float64 inputs ``(B, 2)`` and normalised outputs ``(B, 1)`` per split; ``lo``/``hi``
    are the training range of ``f`` that maps it to [0, 1]."""

    x_train: Tensor
    y_train: Tensor
    x_val: Tensor
    y_val: Tensor
    x_test: Tensor
    y_test: Tensor
    lo: float
    hi: float

    def split(self, name: str) -> tuple[Tensor, Tensor]:
        if name not in ("train", "val", "test"):
            raise ConfigError(f"split: must be train, val or test, got {name!r}")
        return getattr(self, f"x_{name}"), getattr(self, f"y_{name}")


def _count(name: str, n) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_POINTS:
        raise ConfigError(f"data.{name}: must be an integer in [0, {MAX_POINTS}], got {n!r}")
    return n


def _box(g: torch.Generator, n: int) -> Tensor:
    return EDGE + (1 - 2 * EDGE) * torch.rand(n, 2, generator=g, dtype=torch.float64)


def make_splits(n_train: int = N_TRAIN, n_val: int = N_VAL, n_test: int = N_TEST,
                seed: int = DATA_SEED) -> Splits:
    """Train, validation and test points of the published problem (see module docstring)."""
    n_train, n_val, n_test = (_count(k, v) for k, v in
                              (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)))
    if n_train < 2:
        raise ConfigError(f"data.n_train: needs at least 2 points to normalise, got {n_train}")
    g = torch.Generator().manual_seed(int(seed))
    x = _box(g, n_train + n_test)
    x_val = _box(g, n_val)
    f, f_val = target(x), target(x_val)
    lo, hi = f[:n_train].min(), f[:n_train].max()

    def norm(v: Tensor) -> Tensor:
        return ((v - lo) / (hi - lo)).unsqueeze(1)

    y = norm(f)
    return Splits(x[:n_train], y[:n_train], x_val, norm(f_val), x[n_train:], y[n_train:],
                  float(lo), float(hi))


def make_data(n_train: int = N_TRAIN, n_test: int = N_TEST, seed: int = DATA_SEED):
    """``(x_train, y_train, x_test, y_test)``: the benchmark's four tensors."""
    s = make_splits(n_train, 0, n_test, seed)
    return s.x_train, s.y_train, s.x_test, s.y_test
