"""IBM DVS Gesture (Amir et al. 2017) through tonic, from local files.

`root` (default `data/dvs`) holds tonic's preprocessed layout, as unpacked
from its `ibmGestureTrain.tar.gz` / `ibmGestureTest.tar.gz` (tonic's own
`root/DVSGesture/` layout works too):

    root/ibmGestureTrain/user01_fluorescent/0.npy ... 10.npy
    root/ibmGestureTest/user24_led/...

each `<label>.npy` an [N, 4] array of events (x, y, p, t in ms) on the
128x128 sensor, label 0..10.

Frames as the authors make them (their `dvs_data.py` and `train_dvs.py`, which
call SpikingJelly's `integrate_events_by_fixed_frames_number(events,
split_by="number", ...)` and then `resize_to_32`):

1. the recording is cut into `int(steps / WINDOW)` bins of equal *event counts*
   (not equal time): with steps = 49, 81 bins (their `gesture_frames =
   int(frames_number / (n_combs * 0.6))` with one gesture per sample), and the
   first `steps` of them are kept (`frames[:current_len]`): the first ~60% of the
   events, which the authors take as the gesture;
2. events are counted per polarity and pixel on the full 128x128 sensor;
3. each frame is resized to 32x32 by bilinear interpolation
   (`F.interpolate(..., mode="bilinear", align_corners=False)`): every output
   pixel is the mean of a 2x2 group of sensor pixels, so values are multiples
   of 1/4, not integers.

Equal-count binning is tonic's `ToFrame(n_event_bins=...)`, which drops the
`N mod bins` last events; SpikingJelly puts them in the last bin, which step 1
discards. A recording with fewer events than bins gives empty frames.
Frames [T, 2, 32, 32].
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tonic
import torch
import torch.nn.functional as F

from snnc.errors import ConfigError, FormatError, InputError
from snnc.train.data.events import FramesDataset, LocalFolder
from snnc.train.data.files import first_existing, one_line, require

SENSOR = (128, 128, 2)      # x, y, polarity
SIZE = 32                   # frames are SIZE x SIZE after resizing (authors' resize_to_32)
WINDOW = 0.6                # share of the equal-count bins kept (authors' dvs_data.py: 0.6)
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
    """Events on the 128x128 sensor -> frames [T, 2, 32, 32]: the first `steps` of
    int(steps / window) equal-event-count bins, resized bilinearly (see the module)."""

    steps: int
    binary: bool = False
    window: float = WINDOW

    def __call__(self, events: np.ndarray) -> np.ndarray:
        check_events(events)
        bins = max(self.steps, int(self.steps / self.window))
        counts = np.zeros((self.steps, N_POLARITIES, SENSOR[1], SENSOR[0]), np.float32)
        if len(events):
            frames = tonic.transforms.ToFrame(sensor_size=SENSOR, n_event_bins=bins)(events)[: self.steps]
            counts[: len(frames)] = frames
        resized = F.interpolate(torch.from_numpy(counts), size=(SIZE, SIZE), mode="bilinear", align_corners=False)
        frames = resized.numpy()
        return np.minimum(frames, 1) if self.binary else frames


def check_events(events: np.ndarray) -> None:
    """A ValueError (the loader names the file) unless every event lies on the sensor."""
    for key, size in (("x", SENSOR[0]), ("y", SENSOR[1]), ("p", SENSOR[2])):
        values = events[key]
        if len(values) and (values.min() < 0 or values.max() >= size):
            raise ValueError(f"event {key} outside 0..{size - 1}")


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
    return FramesDataset(source, source.data.__getitem__, EXPECTED, limit, source.targets, source.users)
