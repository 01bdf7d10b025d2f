"""`snnc train --config configs/kan_regression.toml --out DIR`: a KAN run.

Trains the config's KAN on the published problem (`problem.make_splits`) with
nested iteration (`train_multilevel`).  After every epoch the validation MSE is
measured; the model of the epoch with the lowest one is the run's result (the
one choice made on data, and made on the validation split).  The test split is
read once, at the end, for that model.

Run folder: `checkpoint.pt` (see `checkpoint`; rewritten whenever the
validation MSE improves), `metrics.jsonl` (one row per epoch: level,
intervals, train and validation MSE, function evaluations, seconds) and
`summary.json` (`train_mse`, `val_mse`, `test_mse` of the chosen model, its
epoch, level, intervals and parameter count, seconds).
"""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import torch

from snnc.errors import ConfigError, OutputError
from snnc.io import write_json

from .checkpoint import load_kan, save_kan
from .config import KanConfig
from .model import build_kan, parameter_count
from .multilevel import FitConfig, mse, train_multilevel
from .problem import Splits, make_splits


def splits_of(cfg: KanConfig) -> Splits:
    d = cfg.data
    return make_splits(d.n_train, d.n_val, d.n_test, d.seed)


def _fit_config(cfg: KanConfig) -> FitConfig:
    t = cfg.train
    return FitConfig(optimizer=t.optimizer, lr=t.lr, max_iter=t.max_iter, history_size=t.history_size,
                     batch_size=t.batch_size)


class _Recorder:
    """The per-epoch hook: metrics row, progress bar, checkpoint of the best validation MSE."""

    def __init__(self, cfg: KanConfig, splits: Splits, out: Path, bar):
        self.cfg, self.splits, self.out, self.bar = cfg, splits, out, bar
        self.best_val, self.best_epoch, self.start = math.inf, 0, time.perf_counter()

    def __call__(self, model, history) -> None:
        epoch, level = len(history.loss), history.level[-1]
        val = mse(model, self.splits.x_val, self.splits.y_val)
        row = {"epoch": epoch, "level": level, "intervals": model.intervals, "train_mse": history.loss[-1],
               "val_mse": val, "evals": history.evals[-1], "seconds": round(time.perf_counter() - self.start, 3)}
        with open(self.out / "metrics.jsonl", "a") as fh:
            fh.write(json.dumps(row) + "\n")
        if val < self.best_val:   # NaN never wins
            self.best_val, self.best_epoch = val, epoch
            save_kan(self.out / "checkpoint.pt", model, self.cfg, epoch=epoch, level=level,
                     seconds=time.perf_counter() - self.start, lo=self.splits.lo, hi=self.splits.hi)
        self.bar.update(1)
        self.bar.set_postfix(level=level, train=f"{history.loss[-1]:.2e}", val=f"{val:.2e}")


def train_kan(cfg: KanConfig, out_dir, progress: bool = True) -> dict:
    """Train `cfg` into `out_dir`; returns the summary (also written to summary.json)."""
    from tqdm import tqdm

    out = _prepare(Path(out_dir))
    torch.set_num_threads(cfg.train.threads)
    splits = splits_of(cfg)
    g = torch.Generator().manual_seed(cfg.train.seed)
    k = cfg.kan
    model = build_kan(list(k.widths), k.intervals, k.order, init=k.init, init_scale=k.init_scale,
                      basis=k.basis, free_knots=k.free_knots, generator=g)
    with tqdm(total=sum(cfg.train.schedule), desc="KAN epochs", disable=not progress,
              file=sys.stderr, leave=False) as bar:
        rec = _Recorder(cfg, splits, out, bar)
        _, history = train_multilevel(model, splits.x_train, splits.y_train, tuple(cfg.train.schedule),
                                      _fit_config(cfg), generator=g, on_epoch=rec)
    if rec.best_epoch == 0:
        raise ConfigError(f"training diverged: no epoch reached a finite validation MSE "
                          f"(last train MSE {history.loss[-1] if history.loss else float('nan'):.3g}); "
                          f"lower train.lr or kan.init_scale")
    return _summarise(cfg, splits, out, rec, history)


def _prepare(out: Path) -> Path:
    try:
        out.mkdir(parents=True, exist_ok=True)
        for stale in ("checkpoint.pt", "summary.json"):   # a --force run replaces the old one
            (out / stale).unlink(missing_ok=True)
        (out / "metrics.jsonl").write_text("")
    except OSError as exc:
        raise OutputError(f"{out}: cannot write the run folder ({exc.strerror or type(exc).__name__})") from None
    return out


def _summarise(cfg: KanConfig, splits: Splits, out: Path, rec: _Recorder, history) -> dict:
    model, _, ckpt = load_kan(out / "checkpoint.pt")     # the chosen model, as compile will read it
    x_test, y_test = splits.split("test")                 # read once
    summary = {"train_mse": mse(model, splits.x_train, splits.y_train), "val_mse": rec.best_val,
               "test_mse": mse(model, x_test, y_test), "epoch": ckpt["epoch"], "level": ckpt["level"],
               "intervals": model.intervals, "order": ckpt["order"], "widths": model.widths,
               "n_parameters": parameter_count(model), "epochs": len(history.loss),
               "final_train_mse": history.loss[-1], "seconds": round(history.seconds, 2),
               "data": cfg.data.name, "n_train": len(splits.y_train), "n_val": len(splits.y_val),
               "n_test": len(y_test), "device": "cpu", "model": "kan"}
    write_json(out / "summary.json", summary)
    return summary


def cmd_train_kan(args, check_out) -> int:
    """The `snnc train` path for a config with a `[kan]` table (`check_out` guards --out)."""
    from .config import load

    cfg = load(args.config)
    if args.resume:
        raise ConfigError("--resume: KAN runs do not resume (the L-BFGS history is not stored); "
                          "start over with --force")
    check_out(Path(args.out), args)
    try:
        summary = train_kan(cfg, args.out, progress=not args.quiet)
    except KeyboardInterrupt:
        print(f"interrupted; {Path(args.out) / 'checkpoint.pt'} holds the best epoch so far "
              "(KAN runs do not resume)", file=sys.stderr)
        return 130
    print(json.dumps({k: summary[k] for k in ("train_mse", "val_mse", "test_mse", "epoch", "intervals",
                                              "n_parameters", "seconds")}))
    return 0
