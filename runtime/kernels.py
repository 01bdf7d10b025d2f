"""numba loops of the event-driven core that deliver external projections.

Work per step is proportional to the spikes delivered times their fan-out.
Each neuron kind's population loop (its step and its recurrent delivery)
lives with its arithmetic in the target's file (`snnc.targets`).
"""
from __future__ import annotations

from snnc.targets.kernel import kernel

jit = kernel


@jit
def accumulate(acc, ptr, neuron, count, indptr, post, weight):
    """acc[b, t, post] += count * w for every event; returns synaptic events."""
    B, T = acc.shape[0], acc.shape[1]
    n_events = 0
    for bt in range(B * T):
        b, t = bt // T, bt % T
        for e in range(ptr[bt], ptr[bt + 1]):
            j, c = neuron[e], count[e]
            for k in range(indptr[j], indptr[j + 1]):
                acc[b, t, post[k]] += c * weight[k]
            n_events += c * (indptr[j + 1] - indptr[j])
    return n_events


@jit
def accumulate_dense(acc, ptr, neuron, count, w_t, row_nnz):
    """Like `accumulate` for dense fan-out rows w_t (n_pre, n_post): contiguous, vectorised adds."""
    B, T, n_post = acc.shape
    n_events = 0
    for bt in range(B * T):
        b, t = bt // T, bt % T
        for e in range(ptr[bt], ptr[bt + 1]):
            j, c = neuron[e], count[e]
            row = acc[b, t]
            for k in range(n_post):
                row[k] += c * w_t[j, k]
            n_events += c * row_nnz[j]
    return n_events
