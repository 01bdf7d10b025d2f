"""Spiking Heidelberg Digits (Cramer et al. 2020) through tonic, from local files.

`root` (default `data/shd`) holds `shd_train.h5` and `shd_test.h5` as
unpacked from https://zenkelab.org/datasets/ (tonic's own `root/SHD/` layout
works too). Each file: `spikes/times` (variable-length, seconds),
`spikes/units` (variable-length, channel 0..699), `labels` (0..19) and
`extra/keys`, `extra/speaker` (tonic reads both). Spikes are counted in
`steps` equal bins over a fixed 1.4 s window (default 100 bins of 14 ms):
frames [T, 700]; spikes at or after 1.4 s are dropped.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import tonic

from snnc.errors import ConfigError, FormatError
from snnc.train.data.events import FramesDataset, LocalFolder
from snnc.train.data.files import first_existing, one_line, require

N_CHANNELS = 700
N_CLASSES = 20
DURATION_US = 1_400_000     # every SHD sample fits in 1.4 s
DEFAULT_STEPS = 100
DEFAULT_ROOT = Path("data/shd")
FILES = {"train": "shd_train.h5", "test": "shd_test.h5"}
REQUIRED_KEYS = ("spikes/times", "spikes/units", "labels", "extra/keys", "extra/speaker")
ENCODINGS = ("count", "binary")


class LocalSHD(LocalFolder, tonic.datasets.SHD):
    """tonic's SHD reader on the `.h5` file in `folder`, which must already exist."""

    def __init__(self, folder: Path, train: bool, transform=None):
        self.folder = Path(folder)
        super().__init__(str(folder), train=train, transform=transform)


@dataclass(frozen=True)
class FixedWindowFrames:
    """Spike counts per channel in `steps` equal bins over [0, DURATION_US): [T, 700]."""

    steps: int
    binary: bool = False

    def __call__(self, events: np.ndarray) -> np.ndarray:
        frames = np.zeros((self.steps, N_CHANNELS), dtype=np.float32)
        if len(events):
            events = events[np.argsort(events["t"], kind="stable")]
            binned = tonic.transforms.ToFrame(
                sensor_size=(N_CHANNELS, 1, 1), time_window=DURATION_US / self.steps,
                start_time=0, end_time=DURATION_US, include_incomplete=True,
            )(events)
            # include_incomplete guards against float round-off losing the last bin
            binned = binned.reshape(len(binned), N_CHANNELS)[: self.steps]
            frames[: len(binned)] = binned
        return np.minimum(frames, 1.0) if self.binary else frames


def input_shape(steps: int | None = None) -> tuple[int, ...]:
    """Per-sample shape [T, 700]."""
    return (steps or DEFAULT_STEPS, N_CHANNELS)


def find_file(root, split: str) -> Path:
    """The `.h5` file of `split` under `root` (or tonic's `root/SHD/`); one-line error if absent."""
    root, name = Path(root or DEFAULT_ROOT), FILES[split]
    found = first_existing([root / name, root / "SHD" / name])
    return found or require(root / name, f"SHD's {name} (unpacked from https://zenkelab.org/datasets/)")


def check_file(path: Path) -> np.ndarray:
    """The file's labels; a one-line `FormatError` naming `path` unless it has SHD's keys
    and matching lengths."""
    try:
        with h5py.File(path, "r") as f:
            missing = [key for key in REQUIRED_KEYS if key not in f]
            lengths = {len(f[key]) for key in REQUIRED_KEYS[:3] if key in f}
            labels = np.asarray(f["labels"][()]) if "labels" in f else np.zeros(0, int)
    except OSError as err:
        raise FormatError(f"{path}: not an HDF5 file ({one_line(err)})") from err
    if missing:
        raise FormatError(f"{path}: not an SHD file, missing {', '.join(missing)}")
    if len(lengths) != 1:
        raise FormatError(f"{path}: spikes/times, spikes/units and labels differ in length")
    if labels.dtype.kind not in "iu" or labels.min(initial=0) < 0 or labels.max(initial=0) >= N_CLASSES:
        raise FormatError(f"{path}: labels must be integers 0..{N_CLASSES - 1}")
    return labels


def load(split, *, root=None, steps=None, encoding=None, seed=0, limit=None) -> FramesDataset:
    """SHD `split` as a lazy Dataset of (spike counts [T, 700] float32, label int64).

    `encoding`: "count" (default: spikes per bin) or "binary" (clipped to 1).
    `seed` is unused: binning is deterministic.
    """
    if encoding not in (None, *ENCODINGS):
        raise ConfigError(f"shd: unknown encoding '{encoding}'; choose one of {', '.join(ENCODINGS)}")
    path = find_file(root, split)
    labels = check_file(path)
    transform = FixedWindowFrames(steps or DEFAULT_STEPS, binary=encoding == "binary")
    source = LocalSHD(path.parent, train=split == "train", transform=transform)
    expected = "SHD spikes with units < 700 and labels < 20"
    return FramesDataset(source, f"{path} sample {{}}".format, expected, limit, labels)
