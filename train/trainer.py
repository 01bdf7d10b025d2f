"""Training loop: SBNN (negative ELBO) or SG baseline, resumable, DDP-aware.

Outputs in the run folder:

- `metrics.jsonl`  one JSON object per epoch: losses, noisy train accuracy and
  rate, and the deterministic pass over the *validation* split (never the test
  split): `val_accuracy`, `val_spike_rate`, `val_layer_spike_rates` and the
  predicted synaptic operations per inference (`val_synops_per_inference`,
  `val_layer_synops`; spikes x fan-out, see `activity`), lr, seconds.
- `checkpoint.pt`  written atomically after every epoch (see `checkpoint`).
- `summary.json`   `val_accuracy` (posterior mean on the validation split, what
  model selection reads) and, from the one read of the test split at the end,
  `test_accuracy` (posterior mean, eps = 0), `test_accuracy_stochastic` (one
  noisy forward pass, the paper's evaluation), `test_accuracy_sampled` (softmax
  average of `train.eval_samples` posterior weight draws, each deterministic),
  `hidden_spike_rate`, `layer_spike_rates`, `synops_per_inference` (predicted,
  per layer and total, with the input events), the loss weights (`margin_lambda`,
  `activity_penalty`), split sizes, `epochs`, `seconds`, `device`, ...

The pieces live in their own modules: `distributed` (process group, DDP, RNG
states), `checkpoint` (save, load, resume, `load_model`, `checkpoint_info`),
`evaluate` (`deterministic`, `predict`, sampled and stochastic accuracy),
`build` (net and optimiser of a config); the names other modules import from
here stay importable from here.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from snnc.errors import ConfigError, OutputError
from snnc.io import write_json
from snnc.train import activity
from snnc.train import config as config_mod
from snnc.train import data as data_mod
from snnc.train.bayes import bayes_layers, total_kl
from snnc.train.build import input_rms, make_model, make_optimizer  # noqa: F401 (re-exported)
from snnc.train.checkpoint import (CHECKPOINT_FORMAT, READABLE_FORMATS, checkpoint_info,  # noqa: F401
                                   load_checkpoint, load_model, load_weights, restore,
                                   resume_config_diff, save_checkpoint)
from snnc.train.data.augment import crop_and_flip
from snnc.train.distributed import (Dist, close_distributed, init_distributed, resolve_device,  # noqa: F401
                                    rng_states, shard, wrap_ddp)
from snnc.train.evaluate import (EVAL_BATCH, accuracy, batches, deterministic, predict,  # noqa: F401
                                 sampled_accuracy, stochastic_accuracy)
from snnc.train.losses import Weights, sbnn_loss


# --- data -------------------------------------------------------------------------

def load_data(cfg) -> tuple:
    """(train, validation, test) datasets of `cfg.data` (see `snnc.train.data`)."""
    d = cfg.data
    kw = dict(root=d.root, steps=d.steps, encoding=d.encoding, limit=d.limit, classes=d.classes,
              max_count=d.max_count, val_fraction=d.val_fraction)
    if d.normalize:
        kw["normalize"] = True
    return tuple(data_mod.load(d.name, split, **kw) for split in ("train", "val", "test"))


def epoch_indices(n: int, seed: int, epoch: int, ddp: Dist) -> torch.Tensor:
    """This rank's shard of the epoch's permutation (a function of seed and epoch only)."""
    gen = torch.Generator().manual_seed(seed * 100003 + epoch)
    return shard(torch.randperm(n, generator=gen), ddp)


def augmenter(cfg, epoch: int):
    """x -> augmented x for the batches of one epoch (identity unless `data.augment`),
    its draws seeded by (train.seed, epoch) so that a resumed run repeats them."""
    if not cfg.data.augment:
        return lambda x: x
    gen = torch.Generator().manual_seed(cfg.train.seed * 100003 + epoch + 7)
    return lambda x: crop_and_flip(x, gen)


# --- one epoch ---------------------------------------------------------------------

def loss_weights(cfg) -> Weights:
    """The loss weights of `cfg`; the SG net has no KL and no noise margins."""
    L, sbnn = cfg.loss, cfg.method.name == "sbnn"
    return Weights(kl_weight=L.kl_weight if sbnn else 0.0, margin_lambda=L.margin_lambda if sbnn else 0.0,
                   rate_weight=L.rate_weight, rate_target=L.rate_target,
                   synops_weight=L.synops_weight, synops_budget=L.synops_budget)


TERMS = ("loss", "ce", "kl", "margin", "rate_penalty", "synops_penalty")


def train_epoch(model, su: "Setup", cfg, epoch: int, ddp: Dist, progress: bool) -> dict:
    """One pass over this rank's shard; returns mean losses and the noisy train accuracy."""
    from tqdm import tqdm

    model.train()
    idx = epoch_indices(len(su.train_set), cfg.train.seed, epoch, ddp)
    sums = dict.fromkeys((*TERMS, "correct"), 0.0)
    rates, seen, weights, augment = 0.0, 0, loss_weights(cfg), augmenter(cfg, epoch)
    bar = tqdm(batches(su.train_set, idx, cfg.train.batch_size, su.device, cfg.train.workers),
               total=math.ceil(len(idx) / cfg.train.batch_size), desc=f"epoch {epoch + 1}/{cfg.train.epochs}",
               leave=False, disable=not (progress and ddp.main and sys.stderr.isatty()), dynamic_ncols=True)
    for x, y in bar:
        out = model(augment(x))
        kl = total_kl(su.core) if weights.kl_weight else out.logits.new_zeros(())
        ops = activity.synops(out.rates, su.layers, su.in_shape[0])
        terms = sbnn_loss(out, y, kl, len(su.train_set), weights, synops=ops, dense=su.dense_synops)
        su.opt.zero_grad(set_to_none=True)
        terms.total.backward()
        if cfg.train.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
        su.opt.step()
        for key, val in zip(TERMS, terms):
            sums[key] += float(val.detach()) * len(y)
        sums["correct"] += float((out.logits.argmax(1) == y).sum())
        rates = rates + out.rates.detach().cpu() * len(y)
        seen += len(y)
        bar.set_postfix(loss=f"{float(terms.total.detach()):.3f}")
    stats = {k: v / max(seen, 1) for k, v in sums.items()}
    stats["train_accuracy"] = stats.pop("correct")
    stats["train_spike_rate"] = float(rates.mean()) / max(seen, 1) if seen else 0.0
    return stats


# --- the run -----------------------------------------------------------------------

@dataclass
class Setup:
    """Everything one training run holds."""

    device: torch.device
    train_set: object
    val_set: object
    test_set: object
    in_shape: tuple
    n_classes: int
    core: nn.Module
    opt: torch.optim.Optimizer
    sched: object
    layers: list            # activity.Layer per spiking layer (fan-out for the synops count)
    dense_synops: float     # synaptic operations per inference if every neuron always spiked


def build_setup(cfg, ddp: Dist) -> Setup:
    """Data, the model at its (seeded, data-aware) init on its device, optimiser, schedule."""
    if cfg.train.threads > 0:
        torch.set_num_threads(cfg.train.threads)
    device = resolve_device(cfg.train.device, ddp)
    torch.manual_seed(cfg.train.seed)
    train_set, val_set, test_set = load_data(cfg)
    in_shape = tuple(train_set[0][0].shape)
    n_classes = data_mod.n_classes(cfg.data.name, cfg.data.classes)
    core = make_model(cfg, in_shape, n_classes)
    if cfg.model.data_init and hasattr(core, "scale_input_layer"):
        core.scale_input_layer(1.0 / input_rms(train_set))
    core.to(device)
    opt, sched = make_optimizer(core, cfg.train)
    layers = activity.spiking_layers(cfg.model, in_shape, n_classes)
    return Setup(device, train_set, val_set, test_set, in_shape, n_classes, core, opt, sched,
                 layers, activity.dense_synops(layers, in_shape[0]))


def _resume_checkpoint(cfg, out_dir: Path, resume: bool):
    """The checkpoint to resume from (checked before any data or model is built), or None."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir}: is a file, not a run folder")
    ckpt_path = out_dir / "checkpoint.pt"
    if not (resume and ckpt_path.exists()):
        return None
    ckpt = load_checkpoint(ckpt_path)
    changed = resume_config_diff(ckpt, cfg, ckpt_path)
    if changed:
        raise ConfigError(f"--resume: the config differs from {ckpt_path}'s in {', '.join(changed)}; "
                          f"resume with the same config, or start a new run")
    return ckpt


def new_run_folder(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "metrics.jsonl").write_text("")
    except OSError as exc:
        raise OutputError(f"{out_dir}: cannot write the run folder ({exc.strerror or type(exc).__name__})") from None


def fit(cfg, out_dir: Path, *, resume: bool = False, stop_after: int | None = None,
        progress: bool = True, files: bool = True, ddp: Dist | None = None) -> dict:
    """Train `cfg` in `out_dir`; returns the result (also `summary.json` when finished).

    stop_after: stop after this many epochs of this call (simulates an interruption).
    files: False trains without writing anything (the SG baseline inside a run).

    Test hook: with `SNNC_TEST_SIGINT_EPOCH=N` in the environment the writing
    process sends itself SIGINT in epoch N after that epoch's metrics row is
    written and before its checkpoint is (the window where a Ctrl-C leaves the
    most to undo), so a test can interrupt a real CLI run at a known point.
    """
    ddp = ddp or init_distributed(cfg.train.device)
    out_dir = Path(out_dir)
    ckpt_path, metrics_path = out_dir / "checkpoint.pt", out_dir / "metrics.jsonl"
    writes = files and ddp.main
    ckpt = _resume_checkpoint(cfg, out_dir, resume)
    su = build_setup(cfg, ddp)
    start, elapsed = 0, 0.0
    if ckpt is not None:
        start, elapsed = restore(su, ckpt_path, ddp, ckpt)
        if writes:
            _truncate_metrics(metrics_path, start)
    elif writes:
        new_run_folder(out_dir)
    model = wrap_ddp(su.core, su.device, cfg.train.seed, ddp, fresh=start == 0)
    t0 = time.time() - elapsed
    saved = start  # epochs in the last checkpoint written
    try:
        for epoch in range(start, cfg.train.epochs):
            if stop_after is not None and epoch - start >= stop_after:
                return {"stopped_at_epoch": epoch}
            stats = train_epoch(model, su, cfg, epoch, ddp, progress)
            row = _epoch_row(su, epoch, stats, t0)
            su.sched.step()
            rng = rng_states(ddp)
            if writes:
                with open(metrics_path, "a") as fh:
                    fh.write(json.dumps(row) + "\n")
                if os.environ.get("SNNC_TEST_SIGINT_EPOCH") == str(epoch + 1):  # test hook, see above
                    import signal
                    signal.raise_signal(signal.SIGINT)
                save_checkpoint(ckpt_path, core=su.core, opt=su.opt, sched=su.sched, cfg=cfg,
                                epoch=epoch + 1, seconds=time.time() - t0, in_shape=su.in_shape,
                                n_classes=su.n_classes, rng=rng)
                saved = epoch + 1
            if progress and ddp.main and _worth_printing(epoch, cfg.train.epochs):
                _print_epoch(row)
    except KeyboardInterrupt as exc:  # `snnc train` turns this into one line naming the epoch
        exc.epochs_saved = saved
        raise
    return _summarise(su, cfg, time.time() - t0, out_dir, writes)


def activity_stats(su: Setup, rates: torch.Tensor, prefix: str) -> dict:
    """Spike rates and predicted synaptic operations per inference of one pass."""
    ops = activity.synops(rates.float(), su.layers, su.in_shape[0])
    return {f"{prefix}spike_rate": float(rates.mean()) if len(rates) else 0.0,
            f"{prefix}layer_spike_rates": [round(float(r), 5) for r in rates],
            f"{prefix}synops_per_inference": round(float(ops.sum()), 1),
            f"{prefix}layer_synops": [round(float(o), 1) for o in ops]}


def _validate(su: Setup) -> dict:
    """The deterministic pass over the validation split (None values when it is empty)."""
    if len(su.val_set) == 0:
        return {"val_accuracy": None, "val_spike_rate": None}
    probs, labels, rates = predict(su.core, su.val_set, EVAL_BATCH, su.device)
    return {"val_accuracy": accuracy(probs, labels), **activity_stats(su, rates, "val_")}


def _epoch_row(su: Setup, epoch: int, stats: dict, t0: float) -> dict:
    """One metrics.jsonl row: training stats and the deterministic validation pass."""
    return {"epoch": epoch + 1, **stats, **_validate(su), "lr": su.opt.param_groups[0]["lr"],
            "seconds": round(time.time() - t0, 3), **_posterior_stats(su.core)}


def _test_scores(su: Setup, cfg) -> dict:
    """The one read of the test split: posterior mean, one noisy pass, K draws, activity."""
    probs, labels, rates = predict(su.core, su.test_set, EVAL_BATCH, su.device)
    scores = {"test_accuracy": accuracy(probs, labels), "test_accuracy_stochastic": None,
              "test_accuracy_sampled": None, "hidden_spike_rate": float(rates.mean()),
              "layer_spike_rates": [round(float(r), 5) for r in rates]}
    ops = activity.synops(rates.float(), su.layers, su.in_shape[0])
    inputs = _input_events(su.test_set)
    scores["synops_per_inference"] = {
        "total": round(float(ops.sum()), 1), "layers": [round(float(o), 1) for o in ops],
        "input_events": round(inputs, 2), "input": round(inputs * activity.input_fanout(cfg.model, su.in_shape), 1),
        "dense": su.dense_synops}
    if cfg.method.name == "sbnn":
        scores["test_accuracy_stochastic"] = stochastic_accuracy(su.core, su.test_set, cfg.train.seed,
                                                                 EVAL_BATCH, su.device)
        if cfg.train.eval_samples > 0:
            scores["test_accuracy_sampled"] = sampled_accuracy(su.core, su.test_set, cfg.train.eval_samples,
                                                               cfg.train.seed, EVAL_BATCH, su.device)
    return scores


def _input_events(dataset, n: int = 256) -> float:
    """Mean input events (spikes, or summed analog input) per sample over the first `n` samples."""
    count = min(n, len(dataset))
    return float(sum(float(dataset[i][0].sum()) for i in range(count)) / max(count, 1))


def _summarise(su: Setup, cfg, seconds, out_dir, write: bool) -> dict:
    L = cfg.loss
    summary = {
        **_validate(su),
        **_test_scores(su, cfg),
        "margin_lambda": L.margin_lambda,
        "activity_penalty": {"rate_weight": L.rate_weight, "rate_target": L.rate_target,
                             "synops_weight": L.synops_weight, "synops_budget": L.synops_budget},
        "val_fraction": cfg.data.val_fraction,
        "samples": {"train": len(su.train_set), "val": len(su.val_set), "test": len(su.test_set)},
        "epochs": cfg.train.epochs,
        "seconds": round(seconds, 2),
        "device": str(su.device),
        "method": cfg.method.name,
        "model": cfg.model.name,
        "data": cfg.data.name,
        "lr": cfg.train.lr,
        "n_parameters": sum(p.numel() for p in su.core.parameters()),
    }
    if cfg.method.name == "sbnn":
        summary["estimator"] = cfg.method.estimator
        summary.update(_posterior_stats(su.core))
    if cfg.model.name == "resnet":
        summary["conv_layers"] = 1 + 2 * sum(cfg.model.blocks)
    if write:
        write_json(out_dir / "summary.json", summary)
    return summary


def _posterior_stats(core) -> dict:
    layers = bayes_layers(core)
    if not layers:
        return {}
    return {"posterior_std_mean": float(torch.stack([m.posterior_std.detach().mean() for _, m in layers]).mean()),
            "snr_min": round(min(m.mean_snr() for _, m in layers), 4)}


def _truncate_metrics(path: Path, epochs: int) -> None:
    """Keep the first `epochs` rows: rows after the checkpoint were never saved."""
    if not path.exists():
        return
    rows = [line for line in path.read_text().splitlines() if line.strip()]
    path.write_text("".join(line + "\n" for line in rows[:epochs]))


def _worth_printing(epoch: int, epochs: int, lines: int = 25) -> bool:
    """About `lines` epoch lines per run (always the first and the last); the bar shows the rest."""
    return epoch == 0 or epoch == epochs - 1 or (epoch + 1) % max(1, epochs // lines) == 0


def _print_epoch(row: dict) -> None:
    from tqdm import tqdm

    val = "  n/a" if row["val_accuracy"] is None else f"{row['val_accuracy']:.3f}"
    rate = "  n/a" if row["val_spike_rate"] is None else f"{row['val_spike_rate']:.3f}"
    ops = f"{row['val_synops_per_inference']:.3g}" if "val_synops_per_inference" in row else "n/a"
    tqdm.write(f"epoch {row['epoch']:>3}  loss {row['loss']:.4f}  train {row['train_accuracy']:.3f}  "
               f"val {val}  rate {rate}  synops/inf {ops}  {row['seconds']:.1f}s")


def run(cfg, out_dir, *, resume: bool = False, progress: bool = True) -> dict:
    """`fit`, then the side-by-side SG baseline on the same net when `baseline.sg` is set."""
    ddp = init_distributed(cfg.train.device)
    summary = fit(cfg, out_dir, resume=resume, progress=progress, ddp=ddp)
    if cfg.baseline.sg and cfg.method.name == "sbnn":
        base = config_mod.from_dict(cfg.to_dict())
        base.method.name, base.method.batchnorm, base.train.lr = "sg", cfg.baseline.batchnorm, cfg.baseline.lr
        result = fit(base, out_dir, progress=progress, files=False, ddp=ddp)
        summary.update({"sg_baseline_val_accuracy": result["val_accuracy"],
                        "sg_baseline_test_accuracy": result["test_accuracy"],
                        "sg_baseline_lr": cfg.baseline.lr,
                        "sg_baseline_batchnorm": cfg.baseline.batchnorm,
                        "sg_baseline_hidden_spike_rate": result["hidden_spike_rate"],
                        "sg_baseline_seconds": result["seconds"]})
        if ddp.main:
            write_json(Path(out_dir) / "summary.json", summary)
    close_distributed(ddp)
    return summary
