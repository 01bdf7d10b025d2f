"""Locating local data files, with one-line errors that say what to put where.

Nothing here downloads: the real data sets are large and licensed separately,
so a user fetches them once and points `root` at them.
"""
from __future__ import annotations

from pathlib import Path

from snnc.errors import InputError


def one_line(err: BaseException | str) -> str:
    """An exception's message folded onto one line (h5py and numpy write several)."""
    return " ".join(str(err).split())


def first_existing(candidates) -> Path | None:
    """The first of `candidates` that exists on disk, or None."""
    for path in map(Path, candidates):
        if path.exists():
            return path
    return None


def require(path: Path, what: str) -> Path:
    """`path` if it exists; otherwise an `InputError` naming it and what belongs there."""
    if not Path(path).exists():
        raise InputError(f"{path}: not found; put {what} there")
    return Path(path)
