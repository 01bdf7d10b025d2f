"""numba loops of the event-driven core that deliver external projections.

Work per step is proportional to the spikes delivered times their fan-out.
Each neuron kind's population loop (its step and its recurrent delivery)
lives with its arithmetic in the target's file (`snnc.targets`).
"""
from __future__ import annotations

import numpy as np

from snnc.targets.kernel import kernel

jit = kernel


@kernel(inline=True)
def add_row(acc, base, w, w0, n, c):
    """acc[base:base+n] += c * w[w0:w0+n]: one spike count times a dense weight row (c = 1: no
    multiply). Unsigned indices: the loop vectorises (a signed index is wrapped first)."""
    b, r = np.uint64(base), np.uint64(w0)
    if c == 1:
        for k in range(np.uint64(n)):
            acc[b + k] += w[r + k]
    else:
        for k in range(np.uint64(n)):
            acc[b + k] += c * w[r + k]


@jit
def deliver(acc, spikes, delay, cap, indptr, post, weight, w_t, row_nnz):
    """acc[b, t + delay, post] += min(count, cap) * w for every nonzero spikes[b, t, j] (cap < 0:
    none), straight from the spike array: no event list, no delayed copy. Row j's fan-out is the
    CSR (indptr, post, weight), or, where w_t has rows, the dense row w_t[j] (n_post,): contiguous,
    vectorised adds. Returns synaptic events (count x row_nnz[j]: the synapses one spike of j
    drives on the chip, `Synapse.fan_out_counts`)."""
    B, T, n_pre = spikes.shape
    dense = w_t.shape[0] > 0
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
                if dense:
                    add_row(row, 0, w_t[j], 0, w_t.shape[1], c)
                else:
                    for k in range(indptr[j], indptr[j + 1]):
                        row[post[k]] += c * weight[k]
                n_events += c * row_nnz[j]
    return n_events


@jit
def value_range(flat):
    """(min, max) of a 1-D int64 array. First the OR and the AND of every value (a vectorised pass):
    when the OR is 0 or 1, every value is 0 or 1, the OR is the max and the AND the min (binary
    spikes, the common input); else one pass of min and max."""
    seen, every = 0, -1
    for i in range(np.uint64(flat.shape[0])):
        seen |= flat[i]
        every &= flat[i]
    if seen == 0 or seen == 1:
        return every, seen
    lo, hi = flat[0], flat[0]
    for i in range(flat.shape[0]):
        lo, hi = min(lo, flat[i]), max(hi, flat[i])
    return lo, hi
