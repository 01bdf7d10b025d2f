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


def load_split(data: dict, split: str = "test", limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(spike counts int64 [B, T, C], labels int64 [B]) of `split` (float32 values for analog input)."""
    from snnc.train import data as data_mod

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
