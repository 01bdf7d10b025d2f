"""Checkpoints: written atomically after every epoch, read back with no pickled code.

A checkpoint is loadable with `torch.load(path, weights_only=True)`: `model`
(state dict: posterior means, `rho`, `prior_std` buffers), `config` (nested
dict), `in_shape`, `n_classes`, `method`, plus the optimizer, scheduler, epoch,
elapsed seconds and every rank's RNG state so that `--resume` continues
bit-identically.

For the compiler: `load_model(path)` rebuilds the net from the checkpoint alone
(inside `evaluate.deterministic(model)` it is the posterior-mean graph;
`bayes.sampled_states(model, k, seed)` gives the K sampled ones) and
`checkpoint_info(path)` gives its shapes, config, format and sha256 (provenance).
A file that is not a checkpoint, or of an unknown format, is a one-line
`FormatError` naming it. Format history: "snnc.train/1" lacked the prior std
buffers (such files still load: the prior std is rebuilt from the config, without
the first layer's data-aware factor, which only the KL of further training would
see); "snnc.train/2" stores them. The data-aware input scaling is already folded
into the first layer's weights. A stored config written before a key existed
loads with that key's default, except the model keys of
`models.LEGACY_MODEL_KEYS`, which get the value that reproduces the old code
(`models.stored_config`); `loss.bias_lambda` reads as `loss.margin_lambda`.
SG checkpoints written before SBNN and SG shared one architecture are renamed
on load (`sg.upgrade_sg_state`).
Parameter names: `fcs.{i}.weight/bias` (+ `rho`, `prior_std`; no bias with
`model.bias = false`), `neurons.{i}.rec.weight` (srnn), `stem.conv.weight`,
`stem.affine.scale/bias` ([T, C]), `blocks.{i}.unit{1,2}.conv.weight` /
`.affine.*` (resnet), `readout.fc.weight/bias`; neuron constants come from
`config["model"]` (beta, else exp(-1/tau_mem); syn_beta, theta, reset,
max_spikes, readout, readout_tau, readout_alpha) and the class subset from
`config["data"]["classes"]`.
"""
from __future__ import annotations

import hashlib
import math
import os
import zipfile
from pathlib import Path

import torch
from torch import nn

from snnc.errors import FormatError
from snnc.io import atomic_path
from snnc.train import config as config_mod
from snnc.train.build import layer_count, make_model, size_floor
from snnc.train.models import stored_config
from snnc.train.sg import upgrade_sg_state
from snnc.train.distributed import Dist, restore_rng

CHECKPOINT_FORMAT = "snnc.train/2"
READABLE_FORMATS = ("snnc.train/1", CHECKPOINT_FORMAT)   # 1: no prior_std buffers
REQUIRED_KEYS = ("format", "config", "model", "in_shape", "n_classes")

# Config keys that may differ between a checkpoint and the run that resumes it: where
# and how fast it runs, not what it computes. Any other difference is refused.
RESUME_FREE = ("train.device", "train.threads", "train.workers", "data.root")

# Limits checked from the zip's directory before torch.load allocates anything (torch
# allocates each record at the size its entry declares), and from the stored config
# before a model is built.
MAX_CHECKPOINT_BYTES = 512 << 20  # all records, inflated: torch.load allocates this much at most, so even a
                                 # file refused after loading peaks under 1 GB. Need: the largest shipped
                                 # config's checkpoint, cifar10's resnet (17.3M state values plus AdamW's
                                 # two moments, ~52M float32), is ~0.21 GB (computed)
MAX_PICKLE_BYTES = 4 << 20       # the pickled structure (data.pkl; tensor bytes are separate records),
                                 # which unpickles into up to ~40x its size of Python objects: a
                                 # checkpoint's is ~280 bytes per state entry (cifar10's: ~40 KB; estimate)
MAX_INFLATED_BYTES = 64 << 20    # records stored compressed: torch.save stores every record as is, so
                                 # only another tool compresses (a zip bomb inflates 1000x)
MAX_LAYERS = 1024                # weight layers of the stored model (the deepest shipped config,
                                 # cifar10's resnet, has 26; estimate)
SIZE_SLACK = 1 << 16             # a stored config whose net needs more than 2 x the state dict's numbers + this,
ENTRY_SLACK = 1 << 10            # or 2 x its tensors + this, is refused unbuilt (building is then linear in
                                 # the file; a near miss is built and load_weights names the misfit)
MAX_STEPS = config_mod.MAXIMUM["data.steps"]       # in_shape[0]: the most steps a config may train
MAX_FEATURES = config_mod.MAX_IMAGE_ELEMENTS       # in_shape[1:] multiplied: the largest sample a config takes


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


def read_tensors(path, what: str = "snnc checkpoint"):
    """The file's tensors and plain containers (`weights_only`: never pickled code); a
    one-line `FormatError` naming `path` when it is missing, not a file or unreadable,
    or when its zip directory declares more than the limits (`check_archive`)."""
    if os.path.exists(path) and not os.path.isfile(path):
        raise FormatError(f"{path}: not a regular file (expected a checkpoint.pt)")
    if os.path.isfile(path):
        check_archive(path, what)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FormatError(f"{path}: no such checkpoint") from None
    except Exception as exc:  # torch raises many types for a foreign or truncated file
        raise FormatError(f"{path}: not a {what} ({_load_failure(exc)})") from None


def check_archive(path, what: str = "snnc checkpoint") -> None:
    """Refuse, from the zip directory alone, a file torch.load would allocate too much for:
    torch allocates each record at its declared size, so the declared sizes are checked
    (all records, the pickle, compressed records) before it runs. A file that is not a zip
    (torch's legacy format, which allocates what its pickle declares) is refused too."""
    try:
        with open(path, "rb") as fh:
            if not zipfile.is_zipfile(fh):
                raise FormatError(f"{path}: not a {what} (unreadable as a torch file: not the zip archive "
                                  f"torch.save writes)")
            with zipfile.ZipFile(fh) as zf:
                infos = zf.infolist()
    except FormatError:
        raise
    except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, NotImplementedError) as exc:
        raise FormatError(f"{path}: not a {what} (unreadable as a torch file: {type(exc).__name__} "
                          f"in its zip directory)") from None
    total = inflated = 0
    for info in infos:
        name = info.filename[:80]
        if info.flag_bits & 0x1:
            raise FormatError(f"{path}: record '{name}' is encrypted (torch.save never encrypts)")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise FormatError(f"{path}: record '{name}' uses compression method {info.compress_type} "
                              f"(torch reads stored and deflate only)")
        total += info.file_size
        if info.compress_type != zipfile.ZIP_STORED:
            inflated += info.file_size
        if info.filename.endswith("data.pkl") and info.file_size > MAX_PICKLE_BYTES:
            raise FormatError(f"{path}: record '{name}' declares {info.file_size} bytes, more than the "
                              f"{MAX_PICKLE_BYTES >> 20} MiB limit on a checkpoint's pickle")
    if total > MAX_CHECKPOINT_BYTES:
        raise FormatError(f"{path}: records declare {total} bytes in all, more than the "
                          f"{MAX_CHECKPOINT_BYTES >> 20} MiB limit on a checkpoint")
    if inflated > MAX_INFLATED_BYTES:
        raise FormatError(f"{path}: compressed records declare {inflated} bytes inflated, more than the "
                          f"{MAX_INFLATED_BYTES >> 20} MiB limit (torch.save never compresses)")


def load_checkpoint(path) -> dict:
    """A checkpoint's contents (tensors only, no pickled code); a one-line `FormatError`
    naming `path` when it is missing, corrupt, not a checkpoint or of an unknown format."""
    ckpt = read_tensors(path)
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
    if shape[0] > MAX_STEPS:
        raise FormatError(f"{path}: checkpoint's 'in_shape' has {shape[0]} steps, more than the limit of "
                          f"{MAX_STEPS} (data.steps)")
    if math.prod(shape[1:]) > MAX_FEATURES:
        raise FormatError(f"{path}: checkpoint's 'in_shape' {list(shape)} has {math.prod(shape[1:])} values per "
                          f"step, more than the limit of {MAX_FEATURES}")
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
    if ckpt.get("method") == "sg" and any(".rlif." in k or k.startswith("readout.weight") for k in state):
        state = upgrade_sg_state(state)  # written before SBNN and SG shared one architecture
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
        cfg = config_mod.from_dict(stored_config(ckpt["config"]))
    except config_mod.ConfigError as exc:
        raise FormatError(f"{path}: stored config: {exc}") from None
    check_model_size(cfg, ckpt, path)
    try:
        model = make_model(cfg, tuple(ckpt["in_shape"]), int(ckpt["n_classes"]))
    except (ValueError, TypeError, IndexError, RuntimeError) as exc:
        raise FormatError(f"{path}: stored config does not build a model ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0][:100] if str(exc) else ''})") from None
    load_weights(model, ckpt, path)
    return model, cfg


def check_model_size(cfg, ckpt: dict, path) -> None:
    """Before a model is built from a stored config: its layers are at most MAX_LAYERS, and
    its weight matrices (and per-step affines) hold no more than twice the numbers, in
    twice the entries, that the checkpoint's own state dict holds, plus SIZE_SLACK (the net
    must load that state dict, so a much larger one cannot be this checkpoint's: a huge
    `hidden` or `in_shape`). The state dict is bounded by the file, so building is too; a
    near miss is built and `load_weights` names the first tensor that does not fit."""
    layers = layer_count(cfg.model)
    if layers > MAX_LAYERS:
        raise FormatError(f"{path}: stored config describes {layers} layers, more than the limit of {MAX_LAYERS}")
    values, entries = size_floor(cfg, ckpt["in_shape"], ckpt["n_classes"])
    state = ckpt["model"]
    held = sum(v.numel() for v in state.values() if isinstance(v, torch.Tensor))
    what = (f"stored config (model '{cfg.model.name}', "
            f"{'widths' if cfg.model.name == 'resnet' else 'hidden'} "
            f"{str(cfg.model.widths if cfg.model.name == 'resnet' else cfg.model.hidden)[:40]}, "
            f"in_shape {str(list(ckpt['in_shape']))[:40]})")
    if values > 2 * held + SIZE_SLACK:
        raise FormatError(f"{path}: {what} needs at least {values} weights, more than the limit of "
                          f"{2 * held + SIZE_SLACK} (twice the {held} the checkpoint holds, plus {SIZE_SLACK})")
    if entries > 2 * len(state) + ENTRY_SLACK:
        raise FormatError(f"{path}: {what} needs at least {entries} tensors, more than the limit of "
                          f"{2 * len(state) + ENTRY_SLACK} (twice the {len(state)} the checkpoint holds, "
                          f"plus {ENTRY_SLACK})")


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


def restore(setup, ckpt_path: Path, ddp: Dist, ckpt: dict | None = None) -> tuple[int, float]:
    """Load weights, optimiser, schedule and RNG states into `setup` (its `core`, `opt`,
    `sched`); returns (epochs done, seconds spent).
    A checkpoint whose states do not fit is a one-line `FormatError`."""
    ckpt = load_checkpoint(ckpt_path) if ckpt is None else ckpt
    missing = [k for k in ("epoch", "seconds", "optimizer", "scheduler", "rng") if k not in ckpt]
    if missing:
        raise FormatError(f"{ckpt_path}: checkpoint lacks {', '.join(map(repr, missing))}; it cannot be resumed")
    load_weights(setup.core, ckpt, ckpt_path)
    epoch, seconds = ckpt["epoch"], ckpt["seconds"]
    if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch <= config_mod.MAXIMUM["train.epochs"]:
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


def resume_config_diff(ckpt: dict, cfg, path) -> list[str]:
    """The config keys (section.key) whose values differ between `ckpt` and `cfg`,
    apart from RESUME_FREE."""
    try:
        stored = config_mod.from_dict(stored_config(ckpt["config"])).to_dict()
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
