"""Multilevel training (nested iteration): train coarse, prolong exactly, train finer, ...

``train_multilevel(model, x, y, schedule=(32, 16, 8, 4))`` trains ``schedule[0]``
epochs on ``model``, halves every interval (`KAN.refined`: the same function),
trains ``schedule[1]`` epochs, and so on (the schedule of SEEDS.md part 2).
It works for both bases: a ReLU-basis model refines by injection.

An epoch is one full-batch L-BFGS step of ``max_iter`` iterations (the paper
trains with L-BFGS at lr 1), or one pass of minibatch Adam steps.  With the
sparse evaluation an epoch costs about the same at every level (the work is
``batch * in * r`` per layer, whatever the number of knots), so equal epochs
are equal work; the function evaluations are counted as well.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from torch import Tensor

from snnc.errors import ConfigError

from .model import KAN

OPTIMIZERS = ("lbfgs", "adam")


@dataclass
class FitConfig:
    optimizer: str = "lbfgs"
    lr: float = 1.0                  # the paper's L-BFGS learning rate (SEEDS.md part 2)
    max_iter: int = 20               # L-BFGS iterations per epoch: PyTorch's default (paper: not stated)
    history_size: int = 100          # PyTorch's default
    line_search: str | None = "strong_wolfe"  # as pykan's fit (LBFGS at lr 1); the paper does not say
    batch_size: int = 1024           # Adam minibatch (estimate)

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer: must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if not (self.lr > 0 and self.max_iter >= 1 and self.batch_size >= 1):
            raise ConfigError("lr, max_iter, batch_size: must be positive")


@dataclass
class History:
    """One entry per epoch: loss after it, cumulative epochs and function evaluations, level."""
    loss: list[float] = field(default_factory=list)
    epochs: list[int] = field(default_factory=list)
    evals: list[int] = field(default_factory=list)
    level: list[int] = field(default_factory=list)
    seconds: float = 0.0

    def record(self, loss: float, evals: int, level: int) -> None:
        self.loss.append(loss)
        self.epochs.append(len(self.loss))
        self.evals.append((self.evals[-1] if self.evals else 0) + evals)
        self.level.append(level)


def mse(model, x: Tensor, y: Tensor) -> float:
    with torch.no_grad():
        return torch.mean((model(x) - y) ** 2).item()


def _lbfgs_epoch(model, x, y, opt) -> int:
    evals = 0

    def closure():
        nonlocal evals
        evals += 1
        opt.zero_grad(set_to_none=True)
        loss = torch.mean((model(x) - y) ** 2)
        loss.backward()
        return loss

    opt.step(closure)
    return evals


def _adam_epoch(model, x, y, opt, batch_size, generator) -> int:
    order = torch.randperm(x.shape[0], generator=generator)
    for start in range(0, x.shape[0], batch_size):
        idx = order[start:start + batch_size]
        opt.zero_grad(set_to_none=True)
        torch.mean((model(x[idx]) - y[idx]) ** 2).backward()
        opt.step()
    return math.ceil(x.shape[0] / batch_size)


def _optimizer(model, cfg: FitConfig):
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr)
    return torch.optim.LBFGS(params, lr=cfg.lr, max_iter=cfg.max_iter,
                             history_size=cfg.history_size, line_search_fn=cfg.line_search)


def fit(model, x: Tensor, y: Tensor, epochs: int, cfg: FitConfig | None = None,
        history: History | None = None, level: int = 0, generator: torch.Generator | None = None,
        on_epoch=None) -> History:
    """Train ``model`` in place for ``epochs``; stops early if the loss is no longer finite.

    ``on_epoch(model, history)`` runs after every epoch (metrics, progress); its
    time is not counted in ``history.seconds``."""
    cfg = cfg or FitConfig()
    history = history if history is not None else History()
    opt = _optimizer(model, cfg)
    start = time.perf_counter()
    for _ in range(epochs):
        if cfg.optimizer == "lbfgs":
            evals = _lbfgs_epoch(model, x, y, opt)
        else:
            evals = _adam_epoch(model, x, y, opt, cfg.batch_size, generator)
        loss = mse(model, x, y)
        history.record(loss, evals, level)
        if on_epoch is not None:
            paused = time.perf_counter()
            on_epoch(model, history)
            start += time.perf_counter() - paused
        if not math.isfinite(loss):
            break
    history.seconds += time.perf_counter() - start
    return history


def train_multilevel(model: KAN, x: Tensor, y: Tensor, schedule=(32, 16, 8, 4),
                     cfg: FitConfig | None = None, generator: torch.Generator | None = None,
                     on_epoch=None) -> tuple[KAN, History]:
    """Nested iteration over ``len(schedule)`` levels; returns the finest model and the history
    (``on_epoch`` as in `fit`)."""
    if not schedule or any(e < 0 for e in schedule):
        raise ConfigError(f"schedule: expected epochs per level (>= 0), got {schedule!r}")
    history = History()
    for level, epochs in enumerate(schedule):
        if level:
            model = model.refined()
        fit(model, x, y, epochs, cfg, history, level, generator, on_epoch)
        if history.loss and not math.isfinite(history.loss[-1]):
            break
    return model, history
