"""Row-sequential digits for 16-input chips: row = time step, column = channel.

Each 8x8 digit becomes 8 steps of 8 channels; a pixel's intensity (0..16) is
the number of input spikes its channel receives in that step (a multi-spike
count, as Xylo's inputs accept). The split is the digits split.

`max_count` (`data.max_count`) clips every count at that value: Xylo's input
channels take at most 15 spikes per step (xylosim's MAX_NUM_INP_SPIKES, see
`snnc.targets.xylo`), and a pixel can hold 16.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import TensorDataset

from snnc.errors import ConfigError
from snnc.train.data import digits

STEPS = 8                   # one image row per step
N_CHANNELS = 8              # one image column per channel
N_CLASSES = digits.N_CLASSES
DEFAULT_STEPS = STEPS
DEFAULT_ENCODING = "count"
ENCODINGS = ("count",)


def input_shape(steps: int | None = None) -> tuple[int, ...]:
    """Per-sample shape [8, 8]; the number of steps is fixed by the image height."""
    _check_steps(steps)
    return (STEPS, N_CHANNELS)


def _check_steps(steps: int | None) -> None:
    if steps not in (None, STEPS):
        raise ConfigError(f"digits-seq: steps is fixed at {STEPS} (one per image row), got {steps}")


def load(split, *, root=None, steps=None, encoding=None, seed=0, limit=None,
         max_count=None) -> TensorDataset:
    """Digits of `split` as a TensorDataset of (spike counts [8, 8] float32, label int64),
    counts clipped at `max_count` when given."""
    _check_steps(steps)
    if encoding not in (None, *ENCODINGS):
        raise ConfigError(f"digits-seq: encoding is 'count' (intensity = spikes per step), got '{encoding}'")
    if max_count is not None and (isinstance(max_count, bool) or not isinstance(max_count, int) or max_count < 1):
        raise ConfigError(f"data.max_count: must be an integer >= 1, got {max_count!r}")
    images, labels = digits.images_and_labels()
    idx = np.array(digits.split_indices(split, limit))
    counts = images[idx].reshape(-1, STEPS, N_CHANNELS)
    if max_count is not None:
        counts = np.minimum(counts, max_count)
    counts = counts.astype(np.float32)
    return TensorDataset(torch.from_numpy(counts), torch.from_numpy(labels[idx].copy()))
