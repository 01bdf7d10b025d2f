"""scikit-learn's 8x8 handwritten digits: the offline default data set.

1797 images of 64 pixels with intensities 0..16, ten classes. One fixed
stratified 80/20 split (seed 0) is used everywhere, so that training, the
compiler and the simulator all score the same 360 test images.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from torch.utils.data import TensorDataset

from snnc.errors import ConfigError
from snnc.train.data.encoding import ENCODERS, encoder

N_FEATURES = 64
N_CLASSES = 10
MAX_INTENSITY = 16          # pixel values are counts of set bits in a 4x4 block
TEST_FRACTION = 0.2
SPLIT_SEED = 0
DEFAULT_STEPS = 8
DEFAULT_ENCODING = "rate"
ENCODINGS = tuple(ENCODERS)


@lru_cache(maxsize=1)
def images_and_labels() -> tuple[np.ndarray, np.ndarray]:
    """All 1797 digits: pixel intensities [N, 64] (int64, 0..16) and labels [N] (int64)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.data.astype(np.int64)
    labels = digits.target.astype(np.int64)
    images.flags.writeable = labels.flags.writeable = False
    return images, labels


@lru_cache(maxsize=1)
def digits_split() -> tuple[np.ndarray, np.ndarray]:
    """Indices (train [1437], test [360]) of the one stratified split every stage uses."""
    from sklearn.model_selection import train_test_split

    _, labels = images_and_labels()
    train_idx, test_idx = train_test_split(
        np.arange(len(labels)), test_size=TEST_FRACTION, stratify=labels, random_state=SPLIT_SEED
    )
    train_idx.flags.writeable = test_idx.flags.writeable = False
    return train_idx, test_idx


def split_indices(split: str, limit: int | None = None) -> np.ndarray:
    """Indices of `split` ("train" or "test"), the first `limit` of them if given."""
    train_idx, test_idx = digits_split()
    idx = {"train": train_idx, "test": test_idx}[split]
    return idx if limit is None else idx[:limit]


def input_shape(steps: int | None = None) -> tuple[int, ...]:
    """Per-sample shape [T, 64]."""
    return (steps or DEFAULT_STEPS, N_FEATURES)


def encode_all(steps: int, encoding_name: str, seed: int) -> torch.Tensor:
    """Every digit encoded as [N, T, 64]; a sample's code depends only on `seed`, not on split or limit."""
    images, _ = images_and_labels()
    intensity = torch.from_numpy(images.astype(np.float32) / MAX_INTENSITY)
    generator = torch.Generator().manual_seed(seed)
    return encoder(encoding_name)(intensity, steps, generator).transpose(0, 1).contiguous()


def load(split, *, root=None, steps=None, encoding=None, seed=0, limit=None) -> TensorDataset:
    """Digits of `split` as a TensorDataset of (spikes [T, 64] float32, label int64).

    `encoding`: "rate" (default), "latency" or "direct"; `root` is unused
    (scikit-learn ships the data).
    """
    steps, encoding = steps or DEFAULT_STEPS, encoding or DEFAULT_ENCODING
    if encoding not in ENCODINGS:
        raise ConfigError(f"digits: unknown encoding '{encoding}'; choose one of {', '.join(ENCODINGS)}")
    idx = torch.from_numpy(np.array(split_indices(split, limit)))
    _, labels = images_and_labels()
    spikes = encode_all(steps, encoding, seed)[idx]
    return TensorDataset(spikes, torch.from_numpy(labels.copy())[idx])
