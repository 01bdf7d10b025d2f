"""Data sets for training and evaluation, one small module each.

    load(name, split, *, root=None, steps=None, encoding=None, seed=0, limit=None, classes=None,
         max_count=None, val_fraction=VALIDATION_FRACTION)
    input_shape(name, steps=None) -> per-sample shape [T, ...]
    n_classes(name, classes=None)

Samples are float32 tensors [T, C] (or [T, C, H, W] for images), labels int64.
`steps=None` and `encoding=None` take the data set's own defaults (digits: 8
steps, rate code; SHD: 100 bins; DVS Gesture: 49 frames; CIFAR-10: 1 step,
direct). Only digits works offline out of the box; the others read local files
under `root` and never download.

`classes` keeps only the samples of those labels, relabelled 0..n-1 in the
order given (`data.classes`; e.g. Xylo's 8 output neurons).

Splits. Every data set here ships a training and a test part only (digits:
the fixed stratified 80/20 split of `digits.digits_split`; SHD, DVS Gesture,
CIFAR-10: their published train/test files). Model selection needs a third
part, so `val_fraction` (`data.val_fraction`, default 0.1) of the training
part is held out, stratified by label and drawn with its own fixed seed
(`config.VALIDATION_SEED` = 0, independent of `train.seed`, so every run and
every sweep point sees the same validation samples):

    "train"  the training file minus the validation samples (what the trainer
             fits and the compiler calibrates its scales on)
    "val"    the held-out samples (early choices: lr, readout, tau_mem)
    "test"   the test file, unchanged (read once, for the reported number)

Per class c with n_c training samples, round(val_fraction * n_c) go to "val"
(digits, 10%: 145 of 1437, leaving 1292; SHD: 816 of 8156; CIFAR-10: 5000 of
50000). A class with one sample keeps it for training. DVS Gesture holds out
whole users instead, as the authors do (they keep 20% by sorted file name, i.e.
by user): a sample of a user seen in training would make validation flatter
than the test, whose users 24-29 are all new. round(val_fraction * n_users) of
its 23 training users (10%: 2), drawn with the same seed, and all their
recordings (each user performs every gesture, so the classes stay balanced).
`classes` applies before the split, `limit` after it (the first `limit`
samples of the part asked for, in file order).
"""
from __future__ import annotations

import importlib

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from snnc.errors import ConfigError
from snnc.train.config import MAX_VALIDATION_FRACTION, VALIDATION_FRACTION, VALIDATION_SEED
from snnc.train.data.digits import digits_split

# Modules import lazily: tonic and the pickle reader are only paid for when used.
_MODULES = {
    "digits": "snnc.train.data.digits",
    "digits-seq": "snnc.train.data.digits_seq",
    "shd": "snnc.train.data.shd",
    "dvs": "snnc.train.data.dvs",
    "cifar10": "snnc.train.data.cifar10",
}
DATASETS = tuple(_MODULES)
SPLITS = ("train", "val", "test")

__all__ = ["DATASETS", "SPLITS", "load", "input_shape", "n_classes", "digits_split", "select_classes",
           "validation_split", "dataset_in_folder"]

# How each data set that reads local files recognises its test split in a folder (each finder
# takes tonic's own layout too: root/SHD/, root/DVSGesture/, root/cifar-10-batches-py/).
_FOLDER_TESTS = {"shd": lambda m, root: m.find_file(root, "test"),
                 "dvs": lambda m, root: m.find_folder(root, "test"),
                 "cifar10": lambda m, root: m.find_folder(root)}


def dataset_module(name: str):
    """The module implementing data set `name`; a one-line `ConfigError` if unknown."""
    if name not in _MODULES:
        raise ConfigError(f"unknown data set '{name}'; choose one of {', '.join(DATASETS)}")
    return importlib.import_module(_MODULES[name])


def dataset_in_folder(root) -> str:
    """The name of the data set whose files lie in folder `root` (SHD's .h5 files, DVS Gesture's
    tonic folders, CIFAR-10's batches); one-line `InputError` naming what a folder must hold."""
    from snnc.errors import InputError

    found = []
    for name, test in _FOLDER_TESTS.items():
        try:
            test(dataset_module(name), root)
            found.append(name)
        except InputError:
            continue
    if len(found) != 1:
        what = "holds the files of more than one" if found else "holds no"
        raise InputError(f"{root}: {what} data set snnc reads from a folder (shd_train.h5 and shd_test.h5; "
                         "ibmGestureTrain/ and ibmGestureTest/; cifar-10-batches-py/)")
    return found[0]


def _check_positive(what: str, value) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError(f"{what} must be a positive integer, got {value!r}")


def load(name, split, *, root=None, steps=None, encoding=None, seed=0, limit=None, classes=None,
         max_count=None, val_fraction=VALIDATION_FRACTION, **options):
    """Data set `name`, split "train", "val" or "test" (see the module's docstring), as a
    torch Dataset of (x [T, ...] float32, label int64).

    `root`: folder of the local files (per-data-set default under `data/`);
    `limit`: keep only the first `limit` samples of the split; `classes`: keep only
    these labels, relabelled 0..n-1 in this order; `max_count`: clip input counts per
    step (digits-seq only); `val_fraction`: share of the training file held out as
    "val"; `options`: data-set specific (e.g. `normalize=True` for cifar10).
    """
    module = dataset_module(name)
    if split not in SPLITS:
        raise ConfigError(f"{name}: unknown split '{split}'; choose one of {', '.join(SPLITS)}")
    _check_positive("steps", steps)
    _check_positive("limit", limit)
    _check_classes(classes, module.N_CLASSES, name)
    _check_fraction(val_fraction)
    if max_count is not None:  # only count-coded data sets take it
        if name != "digits-seq":
            raise ConfigError(f"data.max_count: only digits-seq has input counts to clip, got data.name = {name!r}")
        options["max_count"] = max_count
    kw = dict(root=root, steps=steps, encoding=encoding, seed=seed, **options)
    if split == "test":  # the same samples as ever: limit, then the class subset
        dataset = module.load("test", limit=limit, **kw)
        return dataset if classes is None else select_classes(dataset, classes)
    dataset = module.load("train", limit=None, **kw)
    dataset = dataset if classes is None else select_classes(dataset, classes)
    fit_idx, val_idx = validation_split(_labels(dataset).numpy(), val_fraction, groups=_groups(dataset))
    idx = fit_idx if split == "train" else val_idx
    return take(dataset, idx if limit is None else idx[:limit])


def _check_fraction(value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not 0.0 <= value <= MAX_VALIDATION_FRACTION:
        raise ConfigError(f"data.val_fraction: must be a number in [0, {MAX_VALIDATION_FRACTION}], got {value!r}")


def validation_split(labels: np.ndarray, fraction: float, seed: int = VALIDATION_SEED,
                     groups: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, validation indices), each in ascending order: per class, a seeded
    random round(fraction * n_class) of its samples are held out; with `groups` (one
    per sample: the recording's user), round(fraction * n_groups) whole groups instead."""
    rng = np.random.default_rng(seed)
    if groups is not None:
        names = np.unique(groups)
        val = np.flatnonzero(np.isin(groups, rng.permutation(names)[:_held_out(len(names), fraction)]))
    else:
        held = [rng.permutation(members)[:_held_out(len(members), fraction)]
                for members in (np.flatnonzero(labels == c) for c in np.unique(labels))]
        val = np.sort(np.concatenate(held)) if held else np.zeros(0, np.int64)
    return np.setdiff1d(np.arange(len(labels)), val), val


def _held_out(n: int, fraction: float) -> int:
    """round(fraction * n), half up; one of a kind stays in training."""
    return int(np.floor(fraction * n + 0.5)) if n > 1 else 0


def _groups(dataset) -> np.ndarray | None:
    """Each sample's group (DVS Gesture: its user) when the data set has them, else None."""
    if isinstance(dataset, ClassSubset):
        base = _groups(dataset.base)
        return None if base is None else base[dataset.indices]
    return getattr(dataset, "groups", None)


class IndexSubset(Dataset):
    """The samples `indices` of a lazy data set, with their labels known without reading them."""

    def __init__(self, base, indices: np.ndarray, labels: torch.Tensor):
        self.base, self.indices, self.labels = base, [int(i) for i in indices], labels

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int):
        return self.base[self.indices[index]]


def take(dataset, indices: np.ndarray):
    """`dataset` restricted to `indices`; an in-memory `TensorDataset` stays one."""
    idx = torch.as_tensor(np.asarray(indices, dtype=np.int64))
    if hasattr(dataset, "tensors"):
        return TensorDataset(*(t[idx] for t in dataset.tensors))
    return IndexSubset(dataset, indices, _labels(dataset)[idx])


def _check_classes(classes, n: int, name: str) -> None:
    if classes is None:
        return
    if not classes or len(set(classes)) != len(classes):
        raise ConfigError(f"data.classes: needs distinct labels, got {classes!r}")
    bad = [c for c in classes if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < n]
    if bad:
        raise ConfigError(f"data.classes: {bad[0]!r} is not a label of {name} (0..{n - 1})")


class ClassSubset(Dataset):
    """The samples of a lazy data set whose label is in `classes`, relabelled by position."""

    def __init__(self, base, indices: list[int], relabel: dict[int, int], labels: torch.Tensor | None = None):
        self.base, self.indices, self.relabel = base, indices, relabel
        if labels is not None:
            self.labels = labels

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int):
        x, y = self.base[self.indices[index]]
        return x, torch.tensor(self.relabel[int(y)], dtype=torch.int64)


def _labels(dataset) -> torch.Tensor:
    """Every label of `dataset`: held tensors when it has them, else read sample by sample."""
    if hasattr(dataset, "tensors"):
        return dataset.tensors[1]
    if hasattr(dataset, "labels"):
        return torch.as_tensor(dataset.labels)
    return torch.tensor([int(dataset[i][1]) for i in range(len(dataset))], dtype=torch.int64)


def select_classes(dataset, classes: list[int]):
    """Only the samples labelled one of `classes`, label `classes[i]` becoming `i`.

    An in-memory `TensorDataset` stays one (the trainer slices it directly)."""
    relabel = {c: i for i, c in enumerate(classes)}
    new = torch.tensor([relabel.get(int(y), -1) for y in _labels(dataset)], dtype=torch.int64)
    keep = torch.nonzero(new >= 0).flatten()
    if hasattr(dataset, "tensors"):
        return TensorDataset(dataset.tensors[0][keep], new[keep])
    return ClassSubset(dataset, keep.tolist(), relabel, new[keep])


def input_shape(name: str, steps: int | None = None) -> tuple[int, ...]:
    """Per-sample shape [T, ...] of data set `name` with `steps` time steps (None: its default)."""
    _check_positive("steps", steps)
    return dataset_module(name).input_shape(steps)


def n_classes(name: str, classes: list[int] | None = None) -> int:
    """Number of classes of data set `name`, or of its subset `classes` (`data.classes`)."""
    n = dataset_module(name).N_CLASSES
    if classes is None:
        return n
    _check_classes(classes, n, name)
    return len(classes)
