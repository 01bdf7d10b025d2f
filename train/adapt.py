"""Fine-tuning on a chip's integer weight grid (`snnc adapt`; the config and the grid come from
the compiler: `snnc.evaluation.adapt`).

The net trains with its own estimator and loss (the trainer's `train_epoch`; the config may add a
rate penalty), with two changes:

- its config already holds the dynamics the chip runs (decays, reset, spikes per step,
  readout, input cap: derived by the caller from the compiler's mapped graph);
- every quantised weight W runs its forward pass on the chip's grid, clip(round(W / step),
  lo, hi) * step, with a straight-through gradient on the rounding (BinaryConnect's scheme:
  the float weights stay the optimiser's state, the gradient is taken at the grid point).

After every epoch the caller's `assess(candidate checkpoint)` compiles the float weights and
measures them on the validation split; it also returns the grid the compiler chose for them
(its scale follows the weights), on which the next epoch trains. The epoch with the best
validation score (epoch 0: the starting weights with the chip's dynamics, not fine-tuned) is
written as `checkpoint.pt`; nothing here reads a test split.
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Callable

import torch

from snnc.io import atomic_path, write_json
from snnc.train import activity
from snnc.train.build import make_model, make_optimizer
from snnc.train.checkpoint import save_checkpoint
from snnc.train.distributed import Dist, rng_states
from snnc.train.evaluate import EVAL_BATCH, accuracy, predict

Grid = tuple  # (step, lo, hi): the values k * step, k integer in [lo, hi]; step a float or one per output channel
SCORE = "val_deployed"          # the assess() key that chooses the epoch


def on_grid(w: torch.Tensor, grid: Grid) -> torch.Tensor:
    """The grid value of each weight: clip(round(w / step), lo, hi) * step."""
    step, lo, hi = grid
    if not isinstance(step, float):   # one per output channel (the weight's first axis)
        step = torch.as_tensor(step, dtype=w.dtype).reshape((-1,) + (1,) * (w.dim() - 1))
    return torch.clamp(torch.round(w / step), lo, hi) * step


class GridWeights:
    """An optimiser whose parameters in `grids` hold their grid values between steps (what the
    forward and backward passes see) and their float values only inside `step()`."""

    def __init__(self, opt, model, grids: dict[str, Grid]):
        params = dict(model.named_parameters())
        missing = sorted(set(grids) - set(params))
        if missing:
            raise ValueError(f"no parameter {missing[0]} in the model to quantise")
        self.opt, self.param_groups = opt, opt.param_groups
        self.quantised = [(params[name], grid) for name, grid in grids.items()]
        self.floats = [p.detach().clone() for p, _ in self.quantised]
        self._to_grid()

    def _to_grid(self) -> None:
        with torch.no_grad():
            for (p, grid), w in zip(self.quantised, self.floats):
                p.copy_(on_grid(w, grid))

    def restore(self) -> None:
        """The float weights back in place (for saving, or the next grid)."""
        with torch.no_grad():
            for (p, _), w in zip(self.quantised, self.floats):
                p.copy_(w)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.opt.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        self.restore()                   # the gradient at the grid point updates the float weights
        self.opt.step()
        self.floats = [p.detach().clone() for p, _ in self.quantised]
        self._to_grid()


class Run:
    """One fine-tuning: the net, its data and where it writes."""

    def __init__(self, cfg, state: dict, in_shape, n_classes: int, train_set, val_set, out_dir: Path):
        if cfg.train.threads > 0:
            torch.set_num_threads(cfg.train.threads)
        torch.manual_seed(cfg.train.seed)
        self.cfg, self.in_shape, self.n_classes = cfg, tuple(in_shape), int(n_classes)
        self.train_set, self.val_set, self.out = train_set, val_set, Path(out_dir)
        self.device = torch.device("cpu")
        self.core = make_model(cfg, self.in_shape, self.n_classes)
        self.core.load_state_dict(state)
        self.opt, self.sched = make_optimizer(self.core, cfg.train)
        self.layers = activity.spiking_layers(cfg.model, self.in_shape, self.n_classes)
        self.dense_synops = activity.dense_synops(self.layers, self.in_shape[0])

    def save(self, path: Path, epoch: int, seconds: float) -> None:
        save_checkpoint(path, core=self.core, opt=self.opt, sched=self.sched, cfg=self.cfg, epoch=epoch,
                        seconds=seconds, in_shape=self.in_shape, n_classes=self.n_classes, rng=rng_states(Dist()))

    def val_accuracy(self) -> float | None:
        """Posterior-mean accuracy of the model as it stands (on the grid, inside an epoch's end)."""
        if len(self.val_set) == 0:
            return None
        probs, labels, _ = predict(self.core, self.val_set, EVAL_BATCH, self.device)
        return accuracy(probs, labels)


def fine_tune(run: Run, assess: Callable[[Path], tuple[dict, dict]], progress: bool = True,
              on_epoch: Callable[[dict], None] | None = None, about: dict | None = None) -> dict:
    """Train `run.cfg.train.epochs` epochs on the grid `assess` returns, keep the epoch whose
    `assess(...)[0][SCORE]` is highest (the earliest of equals), write it as checkpoint.pt with
    metrics.jsonl (one row per epoch, epoch 0 the start) and summary.json (the chosen row's
    validation scores, with `about`), and return the summary."""
    from snnc.train.trainer import new_run_folder, train_epoch

    out, cfg = run.out, run.cfg
    candidate, metrics = out / "candidate.pt", out / "metrics.jsonl"
    new_run_folder(out)
    t0, rows, best = time.time(), [], None
    run.save(candidate, 0, 0.0)
    scores, grids = assess(candidate)
    for epoch in range(cfg.train.epochs + 1):
        if epoch:
            opt = GridWeights(run.opt, run.core, grids)
            stats = train_epoch(run.core, _Setup(run, opt), cfg, epoch - 1, Dist(), progress)
            quantised = run.val_accuracy()        # the forward the net trained: target dynamics on the grid
            opt.restore()
            run.sched.step()
            run.save(candidate, epoch, time.time() - t0)
            scores, grids = assess(candidate)
        else:
            stats, quantised = {}, None
        row = {"epoch": epoch, **stats, "val_quantised_torch": quantised, **scores,
               "lr": run.opt.param_groups[0]["lr"], "seconds": round(time.time() - t0, 3)}
        rows.append(row)
        with open(metrics, "a") as fh:
            fh.write(json.dumps(row) + "\n")
        if best is None or row[SCORE] > best[SCORE]:
            best = row
            _copy_atomic(candidate, out / "checkpoint.pt")
        if on_epoch is not None:
            on_epoch(row)
    candidate.unlink(missing_ok=True)
    summary = {**(about or {}), "chosen_epoch": best["epoch"], "chosen_by": SCORE, "epochs": cfg.train.epochs,
               "seconds": round(time.time() - t0, 2), **{k: v for k, v in best.items() if k.startswith("val_")}}
    write_json(out / "summary.json", summary)
    return summary


class _Setup:
    """What `trainer.train_epoch` reads of a run (its `Setup`), with the grid optimiser."""

    def __init__(self, run: Run, opt: GridWeights):
        self.device, self.train_set, self.core, self.opt = run.device, run.train_set, run.core, opt
        self.layers, self.in_shape, self.dense_synops = run.layers, run.in_shape, run.dense_synops


def _copy_atomic(src: Path, dst: Path) -> None:
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)
