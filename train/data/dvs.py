"""IBM DVS Gesture (Amir et al. 2017) through tonic, from local files.

`root` (default `data/dvs`) holds tonic's preprocessed layout, as unpacked
from its `ibmGestureTrain.tar.gz` / `ibmGestureTest.tar.gz` (tonic's own
`root/DVSGesture/` layout works too):

    root/ibmGestureTrain/user01_fluorescent/0.npy ... 10.npy
    root/ibmGestureTest/user24_led/...

each `<label>.npy` an [N, 4] array of events (x, y, p, t in ms) on the
128x128 sensor, label 0..10. Events are downsampled to 32x32 (x // 4,
y // 4) and counted per polarity in `steps` equal time bins spanning the
recording (default 49): frames [T, 2, 32, 32].
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tonic

from snnc.errors import ConfigError, FormatError, InputError
from snnc.train.data.events import FramesDataset, LocalFolder
from snnc.train.data.files import first_existing, one_line, require

SENSOR = (128, 128, 2)      # x, y, polarity
SIZE = 32                   # frames are SIZE x SIZE after downsampling
N_POLARITIES = 2
N_CLASSES = 11
DEFAULT_STEPS = 49
DEFAULT_ROOT = Path("data/dvs")
FOLDERS = {"train": "ibmGestureTrain", "test": "ibmGestureTest"}
ENCODINGS = ("count", "binary")
EXPECTED = "an [N, 4] array of x, y (0..127), p (0/1), t (ms) events"


class LocalDVSGesture(LocalFolder, tonic.datasets.DVSGesture):
    """tonic's DVS Gesture reader on `folder`, samples in sorted path order."""

    def __init__(self, folder: Path, train: bool, transform=None):
        self.folder = Path(folder)
        super().__init__(str(folder), train=train, transform=transform)
        # os.walk order depends on the file system; sort so `limit` is reproducible
        order = sorted(range(len(self.data)), key=self.data.__getitem__)
        for name in ("data", "targets", "users", "lighting"):
            setattr(self, name, [getattr(self, name)[i] for i in order])


@dataclass(frozen=True)
class GestureFrames:
    """Events on the 128x128 sensor -> counts [T, 2, 32, 32] in `steps` time bins spanning the recording."""

    steps: int
    binary: bool = False

    def __call__(self, events: np.ndarray) -> np.ndarray:
        frames = tonic.transforms.Compose([
            tonic.transforms.Downsample(spatial_factor=SIZE / SENSOR[0]),
            tonic.transforms.ToFrame(sensor_size=(SIZE, SIZE, N_POLARITIES), n_time_bins=self.steps),
        ])(events)
        return np.minimum(frames, 1) if self.binary else frames


def input_shape(steps: int | None = None) -> tuple[int, ...]:
    """Per-sample shape [T, 2, 32, 32]."""
    return (steps or DEFAULT_STEPS, N_POLARITIES, SIZE, SIZE)


def find_folder(root, split: str) -> Path:
    """The folder holding `ibmGesture{Train,Test}/` under `root`; one-line error if absent."""
    root, name = Path(root or DEFAULT_ROOT), FOLDERS[split]
    found = first_existing([root / name, root / "DVSGesture" / name])
    folder = found or require(root / name, f"the userNN_<lighting>/<label>.npy files of tonic's {name}.tar.gz")
    if not any(folder.glob("user*_*/*.npy")):
        raise InputError(f"{folder}: no userNN_<lighting>/<label>.npy event files; put those of tonic's {name}.tar.gz there")
    return folder.parent


def open_split(folder: Path, split: str, transform) -> LocalDVSGesture:
    """tonic's reader over `folder`; a folder name it cannot parse gives a one-line error."""
    try:
        source = LocalDVSGesture(folder, train=split == "train", transform=transform)
    except ValueError as err:
        raise FormatError(
            f"{folder / FOLDERS[split]}: expected userNN_<lighting>/<label>.npy files ({one_line(err)})"
        ) from err
    for path, label in zip(source.data, source.targets):
        if not 0 <= label < N_CLASSES:
            raise FormatError(f"{path}: file name must be the label 0..{N_CLASSES - 1}")
    return source


def load(split, *, root=None, steps=None, encoding=None, seed=0, limit=None) -> FramesDataset:
    """DVS Gesture `split` as a lazy Dataset of (event counts [T, 2, 32, 32] float32, label int64).

    `encoding`: "count" (default: events per pixel and bin) or "binary"
    (clipped to 1). `seed` is unused: binning is deterministic.
    """
    if encoding not in (None, *ENCODINGS):
        raise ConfigError(f"dvs: unknown encoding '{encoding}'; choose one of {', '.join(ENCODINGS)}")
    folder = find_folder(root, split)
    source = open_split(folder, split, GestureFrames(steps or DEFAULT_STEPS, encoding == "binary"))
    return FramesDataset(source, source.data.__getitem__, EXPECTED, limit)
