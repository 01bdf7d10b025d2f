"""Data sets for training and evaluation, one small module each.

    load(name, split, *, root=None, steps=None, encoding=None, seed=0, limit=None)
    input_shape(name, steps=None) -> per-sample shape [T, ...]
    n_classes(name)

Samples are float32 tensors [T, C] (or [T, C, H, W] for images), labels int64.
`steps=None` and `encoding=None` take the data set's own defaults (digits: 8
steps, rate code; SHD: 100 bins; DVS Gesture: 49 frames; CIFAR-10: 1 step,
direct). Only digits works offline out of the box; the others read local files
under `root` and never download.
"""
from __future__ import annotations

import importlib

from snnc.errors import ConfigError
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
SPLITS = ("train", "test")

__all__ = ["DATASETS", "SPLITS", "load", "input_shape", "n_classes", "digits_split"]


def dataset_module(name: str):
    """The module implementing data set `name`; a one-line `ConfigError` if unknown."""
    if name not in _MODULES:
        raise ConfigError(f"unknown data set '{name}'; choose one of {', '.join(DATASETS)}")
    return importlib.import_module(_MODULES[name])


def _check_positive(what: str, value) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError(f"{what} must be a positive integer, got {value!r}")


def load(name, split, *, root=None, steps=None, encoding=None, seed=0, limit=None, **options):
    """Data set `name`, split "train" or "test", as a torch Dataset of (x [T, ...] float32, label int64).

    `root`: folder of the local files (per-data-set default under `data/`);
    `limit`: keep only the first `limit` samples; `options`: data-set specific
    (e.g. `normalize=True` for cifar10).
    """
    module = dataset_module(name)
    if split not in SPLITS:
        raise ConfigError(f"{name}: unknown split '{split}'; choose 'train' or 'test'")
    _check_positive("steps", steps)
    _check_positive("limit", limit)
    return module.load(split, root=root, steps=steps, encoding=encoding, seed=seed, limit=limit, **options)


def input_shape(name: str, steps: int | None = None) -> tuple[int, ...]:
    """Per-sample shape [T, ...] of data set `name` with `steps` time steps (None: its default)."""
    _check_positive("steps", steps)
    return dataset_module(name).input_shape(steps)


def n_classes(name: str) -> int:
    """Number of classes of data set `name`."""
    return dataset_module(name).N_CLASSES
