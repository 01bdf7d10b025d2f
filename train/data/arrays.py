"""A data set's split as arrays: integer spike counts [B, T, C] (float32 for analog input)
and labels, what the compiler calibrates on and evaluation scores on.

Splits are the trainer's (`snnc.train.data`): "test" is the test file, "train"
the training part without the validation samples (what the compiler calibrates
on), "val" the held-out validation samples; `val_fraction` comes from the
checkpoint's data config (its default when the checkpoint predates it)."""
from __future__ import annotations

from dataclasses import fields

import numpy as np

from snnc.errors import ConfigError, InputError
from snnc.train.config import DataConfig, data_config

# Every data-config key that changes what the loader returns (the trainer's `DataConfig`
# fields, not copied): `limit` is load_split's own argument, `augment` acts in training only.
DATA_KEYS = tuple(f.name for f in fields(DataConfig) if f.name not in ("limit", "augment"))


ARRAYS = {"train": ("x_train", "y_train"), "test": ("x_test", "y_test")}   # a user's .npz: its arrays per split
MAX_FILE_VALUES = 1 << 28    # values of one array in a user's .npz (2 GiB of int64; an estimate of a large set)


def load_split(data: dict, split: str = "test", limit: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """(spike counts int64 [B, T, C], labels int64 [B]) of `split` (float32 values for analog input).
    `data` names a data set snnc loads (`{"name": "digits", ...}`) or a user's file (`{"file": F.npz}`),
    whose labels are optional: None when the file has no y_<split> (evaluation then reports
    agreement, not accuracy)."""
    from snnc.train import data as data_mod

    if isinstance(data, dict) and "file" in data:
        return file_split(data["file"], split, limit)
    data = checked_data(data)
    kwargs = {k: data[k] for k in DATA_KEYS if k in data and k != "name" and data[k] is not None}
    if not kwargs.get("normalize", True):
        kwargs.pop("normalize")  # a loader option only cifar10 takes
    dataset = data_mod.load(data["name"], split, limit=limit, **kwargs)
    x = np.stack([np.asarray(dataset[i][0]) for i in range(len(dataset))])
    y = np.asarray([int(dataset[i][1]) for i in range(len(dataset))], np.int64)
    x = x.reshape(x.shape[0], x.shape[1], -1)
    if data.get("encoding") == "direct":  # analog values: dense graphs (edge-int8) take them, simulate refuses them
        return x.astype(np.float32), y
    if not np.all(x == np.round(x)) or x.min(initial=0) < 0:
        raise InputError(f"data set '{data['name']}' ({data.get('encoding')}) is not spike counts: "
                         "a compiled graph needs spike-coded input")
    return x.astype(np.int64), y


def checked_data(data) -> dict:
    """The data-set keys of `data` (a graph's metadata or a config's [data] table), each
    checked as `snnc train` checks its config: one-line InputError naming the key."""
    if not isinstance(data, dict):
        raise InputError(f"data set: expected an object of data-config keys, got {type(data).__name__}")
    known = {k: v for k, v in data.items() if k in DATA_KEYS or k == "limit"}
    try:
        data_config(known)
    except ConfigError as exc:
        raise InputError(f"data set: {exc}") from None
    return known


def file_split(path, split: str, limit: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """`split` of a user's `.npz`: x_train/x_test as (N, T, C) spike counts (non-negative integers)
    or analog values (floats), y_train/y_test integer labels (optional: None without them). Read
    without unpickling, every array's header checked before it is read; one-line InputError
    naming the file and array."""
    import zipfile

    from snnc.io import NUMERIC_KINDS, read_npy

    if split not in ARRAYS:
        raise InputError(f"{path}: a data file has the splits {', '.join(ARRAYS)}, not '{split}'")
    x_key, y_key = ARRAYS[split]
    arrays = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for key in (x_key, y_key):
                if f"{key}.npy" not in zf.namelist():
                    if key == y_key:
                        continue   # unlabelled: agreement only
                    raise InputError(f"{path}: no array '{key}' (a data file holds x_train, x_test and, "
                                     "optionally, their labels y_train, y_test)")
                info = zf.getinfo(f"{key}.npy")
                with zf.open(info) as fh:   # seekable: the header is checked before the array is read
                    arrays[key] = read_npy(fh, info.file_size, f"{path}: '{key}'", InputError,
                                           max_elements=MAX_FILE_VALUES)
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        raise InputError(f"{path}: not a data file ({str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__})") from None
    x, y = arrays[x_key], arrays.get(y_key)
    if x.ndim != 3 or 0 in x.shape or x.dtype.kind not in NUMERIC_KINDS:
        raise InputError(f"{path}: '{x_key}' must be (N, T, C) numbers, got {x.dtype} {x.shape}")
    if y is not None and (y.shape != (x.shape[0],) or y.dtype.kind not in "iu"):
        raise InputError(f"{path}: '{y_key}' must be {x.shape[0]} integer labels, got {y.dtype} {y.shape}")
    if limit is not None:
        x, y = x[:limit], None if y is None else y[:limit]
    y = None if y is None else y.astype(np.int64)
    if x.dtype.kind == "f":
        if not np.all(np.isfinite(x)):
            raise InputError(f"{path}: '{x_key}' holds NaN or infinite values")
        if not np.all(x == np.round(x)) or x.min(initial=0) < 0:
            return x.astype(np.float32), y   # analog values (edge-int8's dense graphs take them)
    if x.min(initial=0) < 0:
        raise InputError(f"{path}: '{x_key}' holds negative values; spike counts are >= 0")
    return x.astype(np.int64), y
