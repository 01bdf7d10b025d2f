"""numba loops of the event-driven core that deliver external projections.

Work per step is proportional to the spikes delivered times their fan-out.
Each neuron kind's population loop (its step and its recurrent delivery)
lives with its arithmetic in the target's file (`snnc.targets`).
"""
from __future__ import annotations

from snnc.targets.kernel import kernel

jit = kernel


@jit
def deliver(acc, spikes, delay, cap, indptr, post, weight, row_nnz):
    """acc[b, t + delay, post] += min(count, cap) * w for every nonzero spikes[b, t, j] (cap < 0:
    none), straight from the spike array: no event list, no delayed copy. Returns synaptic events
    (count x row_nnz[j]: the synapses one spike of j drives on the chip, `Synapse.fan_out_counts`)."""
    B, T, n_pre = spikes.shape
    n_events = 0
    for b in range(B):
        for t in range(T - delay):
            row = acc[b, t + delay]
            for j in range(n_pre):
                c = spikes[b, t, j]
                if c == 0:
                    continue
                if cap >= 0 and c > cap:
                    c = cap
                for k in range(indptr[j], indptr[j + 1]):
                    row[post[k]] += c * weight[k]
                n_events += c * row_nnz[j]
    return n_events


@jit
def deliver_dense(acc, spikes, delay, cap, w_t, row_nnz):
    """`deliver` for dense fan-out rows w_t (n_pre, n_post): contiguous, vectorised row adds."""
    B, T, n_pre = spikes.shape
    n_post = acc.shape[2]
    n_events = 0
    for b in range(B):
        for t in range(T - delay):
            row = acc[b, t + delay]
            for j in range(n_pre):
                c = spikes[b, t, j]
                if c == 0:
                    continue
                if cap >= 0 and c > cap:
                    c = cap
                w = w_t[j]
                for k in range(n_post):
                    row[k] += c * w[k]
                n_events += c * row_nnz[j]
    return n_events
