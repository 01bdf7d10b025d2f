"""Sparse structures for the event-driven core: fan-out CSR and spike event lists."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.targets.kernel import kernel


@dataclass(frozen=True)
class FanOut:
    """Synapses grouped by presynaptic neuron: row j lists j's targets.

    indptr (n_pre + 1,), post (nnz,), weight (nnz,): post ids ascending per row.
    """

    indptr: np.ndarray
    post: np.ndarray
    weight: np.ndarray


def fan_out(weights: np.ndarray) -> FanOut:
    """CSR by source of an (n_post, n_pre) weight matrix, zeros dropped."""
    w_t = np.ascontiguousarray(weights.T)
    pre, post = np.nonzero(w_t)
    indptr = np.zeros(w_t.shape[0] + 1, np.int64)
    np.cumsum(np.bincount(pre, minlength=w_t.shape[0]), out=indptr[1:])
    return FanOut(indptr, post.astype(np.int64), w_t[pre, post])


@dataclass(frozen=True)
class Events:
    """Nonzero spike counts of a [B, T, n] array, sorted by (b, t, neuron).

    ptr (B*T + 1,): events of step (b, t) are [ptr[b*T + t], ptr[b*T + t + 1]).
    """

    ptr: np.ndarray
    neuron: np.ndarray
    count: np.ndarray


def events(spikes: np.ndarray) -> Events:
    """Event list of a [B, T, n] count array (work afterwards grows with spikes)."""
    if spikes.shape[2] == 0:  # a population fed by nothing outside itself
        empty = np.zeros(0, np.int64)
        return Events(np.zeros(spikes.shape[0] * spikes.shape[1] + 1, np.int64), empty, empty)
    flat = np.ascontiguousarray(spikes, dtype=np.int64).reshape(-1, spikes.shape[2])
    return Events(*_scan_events(flat))


@kernel
def _scan_events(flat):
    """One pass over [B*T, n] counts: step pointers, neuron ids and counts of nonzeros."""
    steps, n = flat.shape
    ptr = np.zeros(steps + 1, np.int64)
    for i in range(steps):
        nnz = 0
        for j in range(n):
            nnz += flat[i, j] != 0
        ptr[i + 1] = ptr[i] + nnz
    neuron, count = np.empty(ptr[steps], np.int64), np.empty(ptr[steps], np.int64)
    e = 0
    for i in range(steps):
        for j in range(n):
            if flat[i, j] != 0:
                neuron[e], count[e] = j, flat[i, j]
                e += 1
    return ptr, neuron, count


def delayed(spikes: np.ndarray, delay: int) -> np.ndarray:
    """Spikes as they arrive `delay` steps later (zeros shifted in)."""
    if delay == 0:
        return spikes
    out = np.zeros_like(spikes)
    if delay < spikes.shape[1]:
        out[:, delay:] = spikes[:, :-delay]
    return out
