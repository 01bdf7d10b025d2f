"""Shared pieces of the event-camera / cochlea loaders that go through tonic.

tonic's data set classes look for their files under `save_to/<ClassName>/`
and download when an archive is missing. `LocalFolder` pins them to a folder
the loader has already checked and turns any download attempt into an error,
so nothing is ever fetched. `FramesDataset` exposes the binned samples as
(float32 frames [T, ...], int64 label) pairs, lazily: SHD at 100 bins is
about 2 GB dense, too much to hold.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from snnc.errors import FormatError, InputError
from snnc.train.data.files import one_line


class LocalFolder:
    """Mixin for a tonic data set class: read from `folder` as it is, never download."""

    folder: Path

    @property
    def location_on_system(self) -> str:
        return str(self.folder)

    @location_on_system.setter
    def location_on_system(self, _ignored) -> None:
        pass  # tonic would append its class name; the files lie in `folder` itself

    def _check_exists(self) -> bool:
        return True  # the loader checked the files before constructing this

    def download(self) -> None:
        raise InputError(f"{self.folder}: data files missing and downloading is disabled")


class FramesDataset(Dataset):
    """(frames float32 [T, ...], label int64) pairs read lazily from a tonic data set.

    `sample_file(index)` names the file a sample comes from, so that a broken
    sample gives a one-line `FormatError` naming it; `expected` says what that
    file should hold. Everything held is picklable, for DataLoader workers.
    """

    def __init__(self, source, sample_file, expected: str, limit: int | None = None, labels=None,
                 groups=None):
        self.source, self.sample_file, self.expected = source, sample_file, expected
        self.length = len(source) if limit is None else min(limit, len(source))
        if labels is not None:  # every label without decoding a sample (the validation split needs them)
            self.labels = torch.as_tensor(np.asarray(labels, dtype=np.int64)[: self.length])
        if groups is not None:  # who recorded each sample: the validation split holds out whole groups
            self.groups = np.asarray(groups)[: self.length]

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int):
        index = range(self.length)[index]          # bounds check and negative indices
        try:
            frames, label = self.source[index]
        except (ValueError, IndexError, KeyError, TypeError, OSError) as err:
            raise FormatError(f"{self.sample_file(index)}: expected {self.expected} ({one_line(err)})") from err
        return torch.from_numpy(np.asarray(frames, dtype=np.float32)), torch.tensor(int(label), dtype=torch.int64)
