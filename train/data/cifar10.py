"""CIFAR-10 from its python batches, read without executing pickled code.

`root` (default `data/cifar10`) holds `cifar-10-batches-py/` as unpacked from
`cifar-10-python.tar.gz` (or is that folder itself): `data_batch_1` ..
`data_batch_5` (train, 50000 images) and `test_batch` (10000). Each batch is
a pickled dict `{b"data": uint8 [N, 3072] (1024 R, 1024 G, 1024 B, rows of
32), b"labels": [N ints 0..9], ...}`. The pickles are read by an unpickler
that can only rebuild numpy arrays; anything else is refused.

Images are [T, 3, 32, 32] with intensities in [0, 1]: the direct code (one
step by default, as the 1-step binary nets take them), optionally normalised
per channel, or a rate/latency code over `steps`.
"""
from __future__ import annotations

import _codecs
import pickle
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from snnc.errors import ConfigError, FormatError
from snnc.train.data.encoding import ENCODERS, encoder
from snnc.train.data.files import first_existing, one_line, require

N_CLASSES = 10
IMAGE_SHAPE = (3, 32, 32)
DEFAULT_STEPS = 1
DEFAULT_ENCODING = "direct"
ENCODINGS = tuple(ENCODERS)
DEFAULT_ROOT = Path("data/cifar10")
BATCH_FOLDER = "cifar-10-batches-py"
BATCHES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
CHANNEL_MEAN = (0.4914, 0.4822, 0.4465)     # over the 50000 training images
CHANNEL_STD = (0.2470, 0.2435, 0.2616)

# The only globals a CIFAR batch needs: numpy's array and scalar rebuild functions
# (named under numpy 1 and numpy 2 module paths; taken from numpy's own reducers so
# no private module is imported) and the bytes shim of Python 3 protocol-2 pickles.
_RECONSTRUCT_ARRAY = np.ndarray(0).__reduce__()[0]
_RECONSTRUCT_SCALAR = np.float64(0).__reduce__()[0]
SAFE_GLOBALS = {
    (module, name): obj
    for module in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name, obj in (("_reconstruct", _RECONSTRUCT_ARRAY), ("scalar", _RECONSTRUCT_SCALAR))
} | {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype, ("_codecs", "encode"): _codecs.encode}


class NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds dicts, lists, bytes and numpy arrays, and nothing else."""

    def __init__(self, file, path: Path):
        super().__init__(file, encoding="bytes")
        self.path = path

    def find_class(self, module: str, name: str):
        if (module, name) not in SAFE_GLOBALS:
            raise FormatError(f"{self.path}: refused to unpickle {module}.{name}; a CIFAR-10 batch holds only numpy arrays")
        return SAFE_GLOBALS[(module, name)]


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 [N, 3, 32, 32] and labels int64 [N] of one CIFAR-10 python batch."""
    try:
        with open(path, "rb") as f:
            batch = NumpyOnlyUnpickler(f, path).load()
    except FormatError:
        raise
    except Exception as err:  # a truncated or foreign file fails in many ways; all say which file
        raise FormatError(f"{path}: not a CIFAR-10 python batch ({one_line(err)})") from err
    return check_batch(batch, path)


def check_batch(batch, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The batch's images and labels; a one-line `FormatError` naming `path` if malformed."""
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise FormatError(f"{path}: not a CIFAR-10 batch (expected a dict with b'data' and b'labels')")
    data, labels = batch[b"data"], np.asarray(batch[b"labels"])
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == 3072):
        raise FormatError(f"{path}: b'data' must be a uint8 array [N, 3072]")
    if labels.shape != (len(data),) or labels.dtype.kind not in "iu" or not np.all((labels >= 0) & (labels < N_CLASSES)):
        raise FormatError(f"{path}: b'labels' must be {len(data)} integers 0..{N_CLASSES - 1}")
    return data.reshape(-1, *IMAGE_SHAPE), labels.astype(np.int64)


def find_folder(root) -> Path:
    """`root/cifar-10-batches-py`, or `root` itself if the batches lie there."""
    root = Path(root or DEFAULT_ROOT)
    found = first_existing([root / BATCH_FOLDER, root / "test_batch"])
    folder = root if found == root / "test_batch" else found
    return folder or require(root / BATCH_FOLDER, "the unpacked cifar-10-python.tar.gz (data_batch_1..5, test_batch)")


def read_split(root, split: str, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of `split`, reading only as many batches as `limit` needs."""
    folder, images, labels = find_folder(root), [], []
    for name in BATCHES[split]:
        path = require(folder / name, f"CIFAR-10's {name} (from cifar-10-python.tar.gz)")
        batch_images, batch_labels = read_batch(path)
        images.append(batch_images)
        labels.append(batch_labels)
        if limit is not None and sum(map(len, labels)) >= limit:
            break
    return np.concatenate(images)[:limit], np.concatenate(labels)[:limit]


class ImageDataset(Dataset):
    """(encoded image [T, 3, 32, 32] float32, label int64), encoded on access.

    The rate code of sample i is drawn from a generator seeded by (seed, i),
    so it is reproducible and independent of batch order and workers.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, steps: int, encoding: str, seed: int, normalize: bool):
        self.images, self.labels = torch.from_numpy(images), torch.from_numpy(labels)
        self.steps, self.encode, self.seed = steps, encoder(encoding), seed
        self.mean = torch.tensor(CHANNEL_MEAN).view(3, 1, 1) if normalize else torch.zeros(3, 1, 1)
        self.std = torch.tensor(CHANNEL_STD).view(3, 1, 1) if normalize else torch.ones(3, 1, 1)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        intensity = (self.images[index].float() / 255.0 - self.mean) / self.std
        generator = torch.Generator().manual_seed(int(np.random.SeedSequence([self.seed, index]).generate_state(1)[0]))
        return self.encode(intensity, self.steps, generator), self.labels[index]


def input_shape(steps: int | None = None) -> tuple[int, ...]:
    """Per-sample shape [T, 3, 32, 32]."""
    return (steps or DEFAULT_STEPS, *IMAGE_SHAPE)


def load(split, *, root=None, steps=None, encoding=None, seed=0, limit=None, normalize=False) -> ImageDataset:
    """CIFAR-10 `split` as a Dataset of (image [T, 3, 32, 32] float32, label int64).

    `encoding`: "direct" (default), "rate" or "latency"; `normalize` subtracts
    the per-channel mean and divides by the std (direct code only).
    """
    encoding = encoding or DEFAULT_ENCODING
    if encoding not in ENCODINGS:
        raise ConfigError(f"cifar10: unknown encoding '{encoding}'; choose one of {', '.join(ENCODINGS)}")
    if normalize and encoding != "direct":
        raise ConfigError(f"cifar10: normalize applies to the direct code only, not '{encoding}'")
    images, labels = read_split(root, split, limit)
    return ImageDataset(images, labels, steps or DEFAULT_STEPS, encoding, seed, normalize)
