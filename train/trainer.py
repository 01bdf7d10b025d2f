"""Training loop: SBNN (negative ELBO) or SG baseline, resumable, DDP-aware.

Outputs in the run folder:

- `metrics.jsonl`  one JSON object per epoch (losses, accuracies, rates, lr, seconds)
- `checkpoint.pt`  written atomically after every epoch; loadable with
  `torch.load(path, weights_only=True)`: `model` (state dict, posterior means
  and `rho`), `config` (nested dict), `in_shape`, `n_classes`, `method`, plus
  the optimizer, scheduler, epoch, elapsed seconds and every rank's RNG state
  so that `--resume` continues bit-identically.
- `summary.json`   `test_accuracy` (posterior mean, eps = 0), `test_accuracy_sampled`
  (softmax average of `train.eval_samples` posterior weight draws, each run
  deterministically), `hidden_spike_rate`, `epochs`, `seconds`, `device`, ...

For the compiler: `load_model(path)` rebuilds the net from the checkpoint alone
(`model.fire.deterministic = True` gives the posterior-mean graph;
`bayes.sampled_states(model, k, seed)` the K sampled ones) and
`checkpoint_info(path)` gives its shapes, config, format and sha256 (provenance).
A file that is not a checkpoint, or of an unknown format, is a one-line
`FormatError` naming it. Format history: "snnc.train/1" lacked the prior std
buffers (such files still load: the prior std is rebuilt from the config, without
the first layer's data-aware factor, which only the KL of further training would
see); "snnc.train/2" stores them. The data-aware input scaling is already folded
into the first layer's weights. Parameter names: `fcs.{i}.weight/bias` (+ `rho`,
`prior_std`; no bias with `model.bias = false`),
`neurons.{i}.rec.weight` (srnn), `stem.conv.weight`, `stem.affine.scale/bias`
([T, C]), `blocks.{i}.unit{1,2}.conv.weight` / `.affine.*` (resnet),
`readout.fc.weight/bias`; neuron constants come from `config["model"]`
(beta, else exp(-1/tau_mem); syn_beta, theta, reset, max_spikes, readout,
readout_tau, readout_alpha) and the class subset from `config["data"]["classes"]`.

Multi-process: launched by `torchrun`, each rank trains on its shard of every
epoch's permutation (DistributedDataParallel; NCCL on CUDA, gloo on CPU); rank 0
writes the files.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Subset

from snnc.errors import ConfigError, FormatError, OutputError
from snnc.io import atomic_path, write_json
from snnc.train import config as config_mod
from snnc.train import data as data_mod
from snnc.train.bayes import bayes_layers, sampled_states, total_kl
from snnc.train.losses import sbnn_loss
from snnc.train.models import build_model, set_deterministic
from snnc.train.neurons import Firing

CHECKPOINT_FORMAT = "snnc.train/2"
READABLE_FORMATS = ("snnc.train/1", CHECKPOINT_FORMAT)   # 1: no prior_std buffers
REQUIRED_KEYS = ("format", "config", "model", "in_shape", "n_classes")


# --- process group and device -----------------------------------------------------

@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device_pref: str) -> Dist:
    """Join the torchrun process group when WORLD_SIZE > 1; else a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    use_cuda = device_pref != "cpu" and torch.cuda.is_available()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def resolve_device(pref: str, ddp: Dist) -> torch.device:
    """CUDA when present (or asked for), else CPU."""
    if pref == "cuda" and not torch.cuda.is_available():
        raise config_mod.ConfigError("train.device: 'cuda' asked for but CUDA is not available")
    if pref != "cpu" and torch.cuda.is_available():
        return torch.device("cuda", ddp.local_rank)
    return torch.device("cpu")


# --- data -------------------------------------------------------------------------

def load_data(cfg) -> tuple:
    d = cfg.data
    kw = dict(root=d.root, steps=d.steps, encoding=d.encoding, limit=d.limit, classes=d.classes,
              max_count=d.max_count)
    return data_mod.load(d.name, "train", **kw), data_mod.load(d.name, "test", **kw)


def batches(dataset, indices: torch.Tensor, batch_size: int, device, workers: int = 0):
    """(x, y) batches of `dataset` in the order of `indices`, moved to `device`.

    In-memory `TensorDataset`s are sliced directly; lazy ones (SHD, DVS, CIFAR-10
    files) go through a DataLoader with `workers` processes.
    """
    tensors = getattr(dataset, "tensors", None)
    if tensors is None:
        loader = DataLoader(Subset(dataset, indices.tolist()), batch_size=batch_size, shuffle=False,
                            num_workers=workers, pin_memory=device.type == "cuda")
        for x, y in loader:
            yield x.to(device, non_blocking=True), torch.as_tensor(y).to(device, non_blocking=True)
        return
    for i in range(0, len(indices), batch_size):
        idx = indices[i:i + batch_size]
        yield tensors[0][idx].to(device, non_blocking=True), tensors[1][idx].to(device, non_blocking=True)


def epoch_indices(n: int, seed: int, epoch: int, ddp: Dist) -> torch.Tensor:
    """This rank's shard of the epoch's permutation (a function of seed and epoch only)."""
    gen = torch.Generator().manual_seed(seed * 100003 + epoch)
    perm = torch.randperm(n, generator=gen)
    per_rank = n // ddp.world
    return perm[ddp.rank * per_rank:(ddp.rank + 1) * per_rank] if ddp.world > 1 else perm


def input_rms(dataset, n: int = 1024) -> float:
    x = torch.stack([dataset[i][0] for i in range(min(n, len(dataset)))])
    return float(x.pow(2).mean().sqrt().clamp_min(1e-6))


# --- model, optimiser --------------------------------------------------------------

def make_model(cfg, in_shape, n_classes: int) -> nn.Module:
    """The net of `cfg`: an SBNN (`method.name = "sbnn"`) or its SG twin."""
    if cfg.method.name == "sg":
        from snnc.train.sg import build_sg_model
        return build_sg_model(cfg.model, in_shape, n_classes, width=cfg.method.surrogate_width,
                              batchnorm=cfg.method.batchnorm)
    m = cfg.method
    fire = Firing(estimator=m.estimator, tau=m.tau, k=m.k, noise=m.noise, relaxation=m.relaxation,
                  margins=cfg.loss.bias_lambda > 0)
    return build_model(cfg.model, tuple(in_shape), n_classes, fire)


def make_optimizer(model: nn.Module, tcfg):
    """AdamW with the posterior-std parameters (`rho`) in their own group at `sigma_lr`."""
    rho = [p for n, p in model.named_parameters() if n.endswith("rho")]
    rest = [p for n, p in model.named_parameters() if not n.endswith("rho")]
    groups = [{"params": rest, "lr": tcfg.lr, "weight_decay": tcfg.weight_decay}]
    if rho:
        groups.append({"params": rho, "lr": tcfg.sigma_lr, "weight_decay": 0.0})
    opt = torch.optim.AdamW(groups)
    if tcfg.schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=tcfg.epochs)
    else:
        sched = torch.optim.lr_scheduler.ConstantLR(opt, factor=1.0, total_iters=0)
    return opt, sched


# --- evaluation -------------------------------------------------------------------

@contextmanager
def deterministic(model: nn.Module):
    """eps = 0 in every noisy unit (no-op for SG nets), eval mode, no grad."""
    core = getattr(model, "module", model)
    old = set_deterministic(core, True) if hasattr(core, "fire") else None
    was_training = core.training
    core.eval()
    try:
        with torch.no_grad():
            yield core
    finally:
        core.train(was_training)
        if old is not None:
            set_deterministic(core, old)


def predict(model: nn.Module, dataset, batch_size: int, device, workers: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(softmax [N, K], labels [N], mean spike rate per layer) of a deterministic pass."""
    probs, labels, rates, n = [], [], 0.0, 0
    with deterministic(model) as core:
        for x, y in batches(dataset, torch.arange(len(dataset)), batch_size, device, workers):
            out = core(x)
            probs.append(torch.softmax(out.logits.float(), 1).cpu())
            labels.append(y.cpu())
            rates = rates + out.rates.detach().cpu() * len(y)
            n += len(y)
    return torch.cat(probs), torch.cat(labels), rates / max(n, 1)


def accuracy(probs: torch.Tensor, labels: torch.Tensor) -> float:
    return float((probs.argmax(1) == labels).float().mean())


def sampled_accuracy(model: nn.Module, dataset, k: int, seed: int, batch_size: int, device) -> float:
    """Accuracy of the average softmax of `k` posterior weight draws, each deterministic."""
    core = getattr(model, "module", model)
    mean_state = {n: t.clone() for n, t in core.state_dict().items()}
    total = None
    try:
        for state in sampled_states(core, k, seed):
            core.load_state_dict(state)
            probs, labels, _ = predict(core, dataset, batch_size, device)
            total = probs if total is None else total + probs
    finally:
        core.load_state_dict(mean_state)
    return accuracy(total, labels)


# --- one epoch ---------------------------------------------------------------------

def train_epoch(model, core, opt, train_set, cfg, epoch: int, ddp: Dist, device, progress: bool) -> dict:
    """One pass over this rank's shard; returns mean losses and the noisy train accuracy."""
    from tqdm import tqdm

    model.train()
    idx = epoch_indices(len(train_set), cfg.train.seed, epoch, ddp)
    n_batches = math.ceil(len(idx) / cfg.train.batch_size)
    sums = {"loss": 0.0, "ce": 0.0, "kl": 0.0, "bias": 0.0, "rate_penalty": 0.0, "correct": 0.0}
    rates, seen = 0.0, 0
    bar = tqdm(batches(train_set, idx, cfg.train.batch_size, device, cfg.train.workers), total=n_batches,
               desc=f"epoch {epoch + 1}/{cfg.train.epochs}", leave=False,
               disable=not (progress and ddp.main and sys.stderr.isatty()), dynamic_ncols=True)
    is_sbnn = cfg.method.name == "sbnn"
    for x, y in bar:
        out = model(x)
        kl = total_kl(core) if is_sbnn else out.logits.new_zeros(())
        L = cfg.loss
        terms = sbnn_loss(out, y, kl, len(train_set), kl_weight=L.kl_weight if is_sbnn else 0.0,
                          bias_lambda=L.bias_lambda if is_sbnn else 0.0,
                          rate_weight=L.rate_weight, rate_target=L.rate_target)
        opt.zero_grad(set_to_none=True)
        terms.total.backward()
        if cfg.train.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
        opt.step()
        b = len(y)
        for key, val in zip(("loss", "ce", "kl", "bias", "rate_penalty"), terms):
            sums[key] += float(val.detach()) * b
        sums["correct"] += float((out.logits.argmax(1) == y).sum())
        rates = rates + out.rates.detach().cpu() * b
        seen += b
        bar.set_postfix(loss=f"{float(terms.total.detach()):.3f}")
    stats = {k: v / max(seen, 1) for k, v in sums.items()}
    stats["train_accuracy"] = stats.pop("correct")
    stats["train_spike_rate"] = float(rates.mean()) / max(seen, 1) if seen else 0.0
    return stats


# --- checkpoints -------------------------------------------------------------------

def rng_states(ddp: Dist) -> list:
    """Every rank's torch (and CUDA) RNG state, gathered on all ranks."""
    mine = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        mine["cuda"] = torch.cuda.get_rng_state()
    if ddp.world == 1:
        return [mine]
    gathered = [None] * ddp.world
    dist.all_gather_object(gathered, mine)
    return gathered


def restore_rng(states: list, ddp: Dist) -> None:
    mine = states[ddp.rank] if ddp.rank < len(states) else states[0]
    torch.set_rng_state(mine["cpu"])
    if "cuda" in mine and torch.cuda.is_available():
        torch.cuda.set_rng_state(mine["cuda"])


def save_checkpoint(path: Path, *, core, opt, sched, cfg, epoch, seconds, in_shape, n_classes, rng):
    state = {
        "format": CHECKPOINT_FORMAT,
        "method": cfg.method.name,
        "config": cfg.to_dict(),
        "model": {k: v.detach().cpu() for k, v in core.state_dict().items()},
        "in_shape": list(in_shape),
        "n_classes": int(n_classes),
        "epoch": int(epoch),
        "seconds": float(seconds),
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "rng": rng,
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path) -> dict:
    """A checkpoint's contents (tensors only, no pickled code); a one-line `FormatError`
    naming `path` when it is missing, corrupt, not a checkpoint or of an unknown format."""
    if os.path.exists(path) and not os.path.isfile(path):
        raise FormatError(f"{path}: not a regular file (expected a checkpoint.pt)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FormatError(f"{path}: no such checkpoint") from None
    except Exception as exc:  # torch raises many types for a foreign or truncated file
        raise FormatError(f"{path}: not a snnc checkpoint ({_load_failure(exc)})") from None
    if not isinstance(ckpt, dict) or "format" not in ckpt:
        raise FormatError(f"{path}: not a snnc checkpoint (no 'format' entry)")
    if ckpt["format"] not in READABLE_FORMATS:
        raise FormatError(f"{path}: unknown checkpoint format {ckpt['format']!r} "
                          f"(this snnc reads {', '.join(READABLE_FORMATS)})")
    missing = [k for k in REQUIRED_KEYS if k not in ckpt]
    if missing:
        raise FormatError(f"{path}: checkpoint lacks {', '.join(map(repr, missing))}")
    if not isinstance(ckpt["model"], dict) or not isinstance(ckpt["config"], dict):
        raise FormatError(f"{path}: checkpoint's 'model' and 'config' must be dicts")
    _check_counts(ckpt, path)
    return ckpt


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_counts(ckpt: dict, path) -> None:
    """in_shape, n_classes, epoch and seconds are what they claim (no coercion later)."""
    shape = ckpt["in_shape"]
    if not isinstance(shape, (list, tuple)) or not 1 <= len(shape) <= 5 \
            or not all(_is_int(n) and 1 <= n <= 1 << 24 for n in shape):
        raise FormatError(f"{path}: checkpoint's 'in_shape' must be 1 to 5 positive integers, got {str(shape)[:60]}")
    if not _is_int(ckpt["n_classes"]) or not 1 <= ckpt["n_classes"] <= 1 << 20:
        raise FormatError(f"{path}: checkpoint's 'n_classes' must be a positive integer, "
                          f"got {str(ckpt['n_classes'])[:40]}")
    if "epoch" in ckpt and not (_is_int(ckpt["epoch"]) and 0 <= ckpt["epoch"] <= config_mod.MAXIMUM["train.epochs"]):
        raise FormatError(f"{path}: checkpoint's 'epoch' must be a count of epochs, got {str(ckpt['epoch'])[:40]}")
    seconds = ckpt.get("seconds", 0.0)
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        raise FormatError(f"{path}: checkpoint's 'seconds' must be a finite number, got {str(seconds)[:40]}")


def _load_failure(exc: Exception) -> str:
    """Why torch.load failed, in a few words (its own messages span many lines)."""
    if "weights only load failed" in str(exc).lower():
        return "it holds pickled Python objects; only tensors and plain data are read"
    return f"unreadable as a torch file: {type(exc).__name__}"


def load_weights(model: nn.Module, ckpt: dict, path) -> None:
    """Load a checkpoint's state dict into `model`; format 1 lacked the prior std
    buffers, which then keep `model`'s values. A mismatch is a one-line `FormatError`."""
    state, own = ckpt["model"], model.state_dict()
    if ckpt["format"] == "snnc.train/1":
        state = {**{k: v for k, v in own.items() if k.endswith("prior_std")}, **state}
    problem = _state_mismatch(own, state)
    if problem:
        raise FormatError(f"{path}: weights do not fit the stored config ({problem})")
    model.load_state_dict(state)


def _state_mismatch(own: dict, state: dict) -> str | None:
    """The first difference in names or shapes between two state dicts, in words."""
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing:
        return f"missing {', '.join(missing[:3])}"
    if unexpected:
        return f"unexpected {', '.join(unexpected[:3])}"
    for key, tensor in own.items():
        shape = tuple(getattr(state[key], "shape", ("not a tensor",)))
        if shape != tuple(tensor.shape):
            return f"{key} has shape {shape}, the config gives {tuple(tensor.shape)}"
    return None


def load_model(path) -> tuple[nn.Module, config_mod.Config]:
    """The trained net of a checkpoint (posterior means loaded) and its config,
    rebuilt from the checkpoint alone (no TOML, no data)."""
    ckpt = load_checkpoint(path)
    try:
        cfg = config_mod.from_dict(ckpt["config"])
    except config_mod.ConfigError as exc:
        raise FormatError(f"{path}: stored config: {exc}") from None
    model = make_model(cfg, tuple(ckpt["in_shape"]), int(ckpt["n_classes"]))
    load_weights(model, ckpt, path)
    return model, cfg


def file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checkpoint_info(path) -> dict:
    """What a compiled graph records of its source: `format`, `in_shape` [T, ...],
    `n_classes`, `config` (nested dict), `method`, `epoch` and the file's `sha256`."""
    ckpt = load_checkpoint(path)
    return {"format": ckpt["format"], "in_shape": [int(n) for n in ckpt["in_shape"]],
            "n_classes": int(ckpt["n_classes"]), "config": ckpt["config"],
            "method": ckpt.get("method"), "epoch": ckpt.get("epoch"), "sha256": file_sha256(path)}


# --- the run -----------------------------------------------------------------------

@dataclass
class Setup:
    """Everything one training run holds."""

    device: torch.device
    train_set: object
    test_set: object
    in_shape: tuple
    n_classes: int
    core: nn.Module
    opt: torch.optim.Optimizer
    sched: object


def build_setup(cfg, ddp: Dist) -> Setup:
    """Data, the model at its (seeded, data-aware) init on its device, optimiser, schedule."""
    if cfg.train.threads > 0:
        torch.set_num_threads(cfg.train.threads)
    device = resolve_device(cfg.train.device, ddp)
    torch.manual_seed(cfg.train.seed)
    train_set, test_set = load_data(cfg)
    in_shape = tuple(train_set[0][0].shape)
    n_classes = data_mod.n_classes(cfg.data.name, cfg.data.classes)
    core = make_model(cfg, in_shape, n_classes)
    if cfg.model.data_init and hasattr(core, "scale_input_layer"):
        core.scale_input_layer(1.0 / input_rms(train_set))
    core.to(device)
    opt, sched = make_optimizer(core, cfg.train)
    return Setup(device, train_set, test_set, in_shape, n_classes, core, opt, sched)


def restore(setup: Setup, ckpt_path: Path, ddp: Dist, ckpt: dict | None = None) -> tuple[int, float]:
    """Load weights, optimiser, schedule and RNG states; returns (epochs done, seconds spent).
    A checkpoint whose states do not fit is a one-line `FormatError`."""
    ckpt = load_checkpoint(ckpt_path) if ckpt is None else ckpt
    missing = [k for k in ("epoch", "seconds", "optimizer", "scheduler", "rng") if k not in ckpt]
    if missing:
        raise FormatError(f"{ckpt_path}: checkpoint lacks {', '.join(map(repr, missing))}; it cannot be resumed")
    load_weights(setup.core, ckpt, ckpt_path)
    epoch, seconds = ckpt["epoch"], ckpt["seconds"]
    if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch <= setup_epochs_limit():
        raise FormatError(f"{ckpt_path}: checkpoint's epoch {str(epoch)[:40]} is not a count of epochs")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        raise FormatError(f"{ckpt_path}: checkpoint's seconds {str(seconds)[:40]} is not a duration")
    for key, kind in (("optimizer", dict), ("scheduler", dict), ("rng", list)):
        if not isinstance(ckpt[key], kind):
            raise FormatError(f"{ckpt_path}: checkpoint's '{key}' must be a {kind.__name__}, "
                              f"got {type(ckpt[key]).__name__}")
    if set(ckpt["scheduler"]) - set(setup.sched.state_dict()):
        raise FormatError(f"{ckpt_path}: checkpoint's 'scheduler' is not this run's schedule "
                          f"(unexpected {', '.join(sorted(map(str, set(ckpt['scheduler']) - set(setup.sched.state_dict())))[:3])})")
    try:
        setup.opt.load_state_dict(ckpt["optimizer"])
        setup.sched.load_state_dict(ckpt["scheduler"])
        restore_rng(ckpt["rng"], ddp)
    except (KeyError, ValueError, TypeError, RuntimeError, IndexError, AttributeError) as exc:
        raise FormatError(f"{ckpt_path}: optimiser, schedule or RNG state does not fit this run "
                          f"({type(exc).__name__}: {str(exc).splitlines()[0][:100] if str(exc) else ''})") from None
    return epoch, float(seconds)


def setup_epochs_limit() -> int:
    return config_mod.MAXIMUM["train.epochs"]


# Config keys that may differ between a checkpoint and the run that resumes it: where
# and how fast it runs, not what it computes. Any other difference is refused.
RESUME_FREE = ("train.device", "train.threads", "train.workers", "data.root")


def resume_config_diff(ckpt: dict, cfg, path) -> list[str]:
    """The config keys (section.key) whose values differ between `ckpt` and `cfg`,
    apart from RESUME_FREE."""
    try:
        stored = config_mod.from_dict(ckpt["config"]).to_dict()
    except config_mod.ConfigError as exc:
        raise FormatError(f"{path}: stored config: {exc}") from None
    mine = cfg.to_dict()
    keys = []
    for section, table in mine.items():
        for key, value in table.items():
            name = f"{section}.{key}"
            if name not in RESUME_FREE and stored.get(section, {}).get(key) != value:
                keys.append(name)
    return keys


def wrap_ddp(setup: Setup, cfg, ddp: Dist, fresh: bool) -> nn.Module:
    if ddp.world == 1:
        return setup.core
    if fresh:  # same init on every rank (seeded above); different noise from here on
        torch.manual_seed(cfg.train.seed + 7919 * ddp.rank)
    ids = [setup.device.index] if setup.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(setup.core, device_ids=ids)


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
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir}: is a file, not a run folder")
    ckpt_path, metrics_path = out_dir / "checkpoint.pt", out_dir / "metrics.jsonl"
    writes = files and ddp.main
    ckpt = None
    if resume and ckpt_path.exists():  # checked before any data or model is built
        ckpt = load_checkpoint(ckpt_path)
        changed = resume_config_diff(ckpt, cfg, ckpt_path)
        if changed:
            raise ConfigError(f"--resume: the config differs from {ckpt_path}'s in {', '.join(changed)}; "
                              f"resume with the same config, or start a new run")
    su = build_setup(cfg, ddp)
    start, elapsed = 0, 0.0
    if ckpt is not None:
        start, elapsed = restore(su, ckpt_path, ddp, ckpt)
        if writes:
            _truncate_metrics(metrics_path, start)
    elif writes:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            metrics_path.write_text("")
        except OSError as exc:
            raise OutputError(f"{out_dir}: cannot write the run folder ({exc.strerror or type(exc).__name__})") from None
    model = wrap_ddp(su, cfg, ddp, fresh=start == 0)
    t0 = time.time() - elapsed
    saved = start  # epochs in the last checkpoint written
    try:
        for epoch in range(start, cfg.train.epochs):
            if stop_after is not None and epoch - start >= stop_after:
                return {"stopped_at_epoch": epoch}
            stats = train_epoch(model, su.core, su.opt, su.train_set, cfg, epoch, ddp, su.device, progress)
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
    return _summarise(su.core, cfg, su.test_set, su.device, time.time() - t0, out_dir, writes)


def _epoch_row(su: Setup, epoch: int, stats: dict, t0: float) -> dict:
    """One metrics.jsonl row: training stats and the deterministic test pass."""
    probs, labels, rates = predict(su.core, su.test_set, 256, su.device)
    return {"epoch": epoch + 1, **stats, "test_accuracy": accuracy(probs, labels),
            "test_spike_rate": float(rates.mean()), "lr": su.opt.param_groups[0]["lr"],
            "seconds": round(time.time() - t0, 3), **_posterior_stats(su.core)}


def _summarise(core, cfg, test_set, device, seconds, out_dir, write: bool) -> dict:
    probs, labels, rates = predict(core, test_set, 256, device)
    summary = {
        "test_accuracy": accuracy(probs, labels),
        "test_accuracy_sampled": None,
        "hidden_spike_rate": float(rates.mean()),
        "layer_spike_rates": [round(float(r), 5) for r in rates],
        "epochs": cfg.train.epochs,
        "seconds": round(seconds, 2),
        "device": str(device),
        "method": cfg.method.name,
        "model": cfg.model.name,
        "data": cfg.data.name,
        "lr": cfg.train.lr,
        "n_parameters": sum(p.numel() for p in core.parameters()),
    }
    if cfg.method.name == "sbnn":
        summary["estimator"] = cfg.method.estimator
        if cfg.train.eval_samples > 0:
            summary["test_accuracy_sampled"] = sampled_accuracy(
                core, test_set, cfg.train.eval_samples, cfg.train.seed, 256, device)
        summary.update(_posterior_stats(core))
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

    tqdm.write(f"epoch {row['epoch']:>3}  loss {row['loss']:.4f}  train {row['train_accuracy']:.3f}  "
               f"test {row['test_accuracy']:.3f}  rate {row['test_spike_rate']:.3f}  {row['seconds']:.1f}s")


def run(cfg, out_dir, *, resume: bool = False, progress: bool = True) -> dict:
    """`fit`, then the side-by-side SG baseline on the same net when `baseline.sg` is set."""
    ddp = init_distributed(cfg.train.device)
    summary = fit(cfg, out_dir, resume=resume, progress=progress, ddp=ddp)
    if cfg.baseline.sg and cfg.method.name == "sbnn":
        base = config_mod.from_dict(cfg.to_dict())
        base.method.name, base.method.batchnorm, base.train.lr = "sg", cfg.baseline.batchnorm, cfg.baseline.lr
        result = fit(base, out_dir, progress=progress, files=False, ddp=ddp)
        summary.update({"sg_baseline_test_accuracy": result["test_accuracy"],
                        "sg_baseline_lr": cfg.baseline.lr,
                        "sg_baseline_batchnorm": cfg.baseline.batchnorm,
                        "sg_baseline_hidden_spike_rate": result["hidden_spike_rate"],
                        "sg_baseline_seconds": result["seconds"]})
        if ddp.main:
            write_json(Path(out_dir) / "summary.json", summary)
    if ddp.world > 1 and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    return summary
