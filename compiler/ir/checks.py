"""The checks every IR node runs on its fields: integer and float vectors in range, read-only
arrays, integers that are really integers (a float 1e30 or inf is named as it is, not wrapped)."""
from __future__ import annotations

import math

import numpy as np

from snnc.errors import GraphError


def as_int64(name: str, arr: np.ndarray) -> np.ndarray:
    """An integer array as int64, refusing uint64 values that int64 cannot hold (they would wrap)."""
    if arr.dtype == np.uint64 and arr.size and arr.max() > np.iinfo(np.int64).max:
        raise GraphError(f"parameter '{name}' holds {arr.max()}, beyond int64")
    return arr.astype(np.int64)


def frozen(arr: np.ndarray) -> np.ndarray:
    """Read-only, so a validated node cannot change behind the simulator's caches."""
    arr.flags.writeable = False
    return arr


def is_frozen(arr, dtype, shape) -> bool:
    return isinstance(arr, np.ndarray) and not arr.flags.writeable and arr.dtype == dtype and arr.shape == shape


def int_vector(name: str, value, size: int, lo: int, hi: int) -> np.ndarray:
    """Broadcast `value` to an int64 vector of `size`, checking [lo, hi]."""
    if is_frozen(value, np.int64, (size,)):
        return value
    arr = np.asarray(value)
    if arr.dtype.kind not in "iub" and not (arr.dtype.kind == "f" and np.all(arr == np.round(arr))):
        raise GraphError(f"parameter '{name}' must be integer, got dtype {arr.dtype}")
    if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] not in (1, size)):
        raise GraphError(f"parameter '{name}' must be a scalar or shape ({size},), got {arr.shape}")
    # the range is checked before the cast: an infinite or huge float (or a uint64) would wrap
    if arr.size and not (np.all(np.isfinite(arr)) and arr.min() >= lo and arr.max() <= hi):
        raise GraphError(f"parameter '{name}' must lie in [{lo}, {hi}], got [{arr.min()}, {arr.max()}]")
    return frozen(np.broadcast_to(arr.astype(np.int64), (size,)).copy())


def integer(name: str, value, lo: int, hi: int) -> int:
    """A Python int in [lo, hi]; bools and fractional numbers are refused."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        if not (isinstance(value, (float, np.floating)) and float(value).is_integer()):
            raise GraphError(f"parameter '{name}' must be an integer, got {value!r}")
    value = int(value)
    if not lo <= value <= hi:
        raise GraphError(f"parameter '{name}' must lie in [{lo}, {hi}], got {value}")
    return value


def float_vector(name: str, value, size: int) -> np.ndarray:
    if is_frozen(value, np.float32, (size,)):
        return value
    arr = np.asarray(value, dtype=np.float32)
    if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] not in (1, size)):
        raise GraphError(f"parameter '{name}' must be a scalar or shape ({size},), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise GraphError(f"parameter '{name}' must be finite")
    return frozen(np.broadcast_to(arr, (size,)).copy())


MAX_IMAGE = 1 << 22    # C * H * W of an image a layer reads or writes: the IR's largest population (serialize.MAX_POPULATION)


def image_shape(kind: str, shape) -> tuple[int, int, int]:
    """A (C, H, W) image shape of a `kind` node (Conv2d, ConvGemm, AvgPool): three integers >= 1
    holding at most MAX_IMAGE values; one-line GraphError otherwise."""
    if not isinstance(shape, (list, tuple, np.ndarray)) or len(shape) != 3:
        raise GraphError(f"{kind} parameter 'in_shape' must be (C, H, W), got {str(shape)[:40]}")
    shape = tuple(integer("in_shape", v, 1, MAX_IMAGE) for v in shape)
    if math.prod(shape) > MAX_IMAGE:
        raise GraphError(f"{kind} in_shape {shape} holds more than {MAX_IMAGE} values")
    return shape
