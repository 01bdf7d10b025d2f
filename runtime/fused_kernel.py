"""The fused whole-graph loop: every population of one neuron kind, time-major, in one numba call.

Per sample b and step t, nodes in order (Inputs, then populations in `Graph.neuron_order`):
a population folds the delayed sums of its incoming synapses for step t (engine order:
external synapses as `Graph.incoming` lists them, the recurrent one last) with its kind's
`join`, zeroes those slots, and runs its kind's `update`; then every node delivers its
nonzero counts of step t: acc[syn][(t + delay) % depth] += count * row j of the weights
(dense rows, or CSR where the plan keeps a sparse fan-out), for t + delay < T. Work grows
with spikes x fan-out; no Python runs between steps. The sums of one synapse and step are
the event engine's (same weights, same dtype, same order: j ascending), and `join`/`update`
are the kinds' own arithmetic (`targets.loihi.lif`, `targets.ideal`), so the results are
bit-identical to `runtime.event`.

Tables (int64 columns; built by `runtime.fused`): nodes[k] = (LO, N, OUT0, OUT1, IN0, IN1,
POP); syns[s] = (DELAY, EXP, DST, ACC, NPOST, DEPTH, DENSE, W, NNZ); `links` holds the
outgoing (OUT0:OUT1) and incoming (IN0:IN1) synapse ids.
"""
from __future__ import annotations

import numpy as np
from numba import types
from numba.extending import overload

from snnc.runtime.kernels import add_row
from snnc.targets.ideal import float_lif_join, float_lif_update
from snnc.targets.kernel import kernel
from snnc.targets.loihi.lif import lif_join, lif_update

LO, N, OUT0, OUT1, IN0, IN1, POP = range(7)                       # nodes' columns
DELAY, EXP, DST, ACC, NPOST, DEPTH, DENSE, W, NNZ = range(9)      # syns' columns
SPIKES, EVENTS, OVERFLOW = range(3)                               # counts' rows (one column per node)


def join(a, lo, n, sums, base, exp, scale, first):
    """a[lo:lo+n] (first: =, else +=) sums[base:base+n] as the kind joins a synapse (Loihi:
    `dense_input`; float: x 2^exp); sums[base:base+n] = 0."""


def update(a, state, params, flags, p, lo, n, fired, over):
    """One step of population p (neurons lo:lo+n) from its joined input a: spike counts into fired,
    overflow events into over (int32 [neurons], per neuron)."""


# The kind's step, chosen when numba compiles for the joined input's dtype: integer (int32) is
# Loihi's LIF, float (float64) the float LIF (`runtime.fused.FUSED_PARAMS` lists the same two).
@overload(join, inline="always")
def _join(a, lo, n, sums, base, exp, scale, first):
    impl = lif_join if isinstance(a.dtype, types.Integer) else float_lif_join
    return lambda a, lo, n, sums, base, exp, scale, first: impl(a, lo, n, sums, base, exp, scale, first)


@overload(update, inline="always")
def _update(a, state, params, flags, p, lo, n, fired, over):
    impl = lif_update if isinstance(a.dtype, types.Integer) else float_lif_update
    return lambda a, state, params, flags, p, lo, n, fired, over: impl(a, state, params, flags, p, lo, n, fired,
                                                                        over)


@kernel(inline=True)
def add_rows4(acc, base, w, r0, r1, r2, r3, n):
    """acc[base + k] = (((acc[base + k] + w[r0 + k]) + w[r1 + k]) + w[r2 + k]) + w[r3 + k]: four
    single spikes' weight rows added one after the other into each element, as `add_row` would add
    them row after row (the same float roundings), with one load and store of the slot for four rows."""
    b, p0, p1, p2, p3 = np.uint64(base), np.uint64(r0), np.uint64(r1), np.uint64(r2), np.uint64(r3)
    for k in range(np.uint64(n)):
        acc[b + k] = (((acc[b + k] + w[p0 + k]) + w[p1 + k]) + w[p2 + k]) + w[p3 + k]


@kernel(inline=True)
def deliver(src, idx, k, t, T, nodes, syns, links, wd, ptr, post, wc, nnz, acc, counts, bits):
    """Add node k's nonzero counts src[LO:LO+N] of step t into its outgoing synapses' slots of step
    t + delay; count node k's spikes and the synaptic events (count x the presynaptic neuron's
    fan-out) of each target. An Input's counts are also OR-ed into bits[0]: the caller checks the
    input's range from it after the run (the loop only multiplies by counts: any count is safe)."""
    lo = np.uint64(nodes[k, LO])
    if nodes[k, POP] < 0:
        m, total = _nonzero_or(src, lo, np.uint64(nodes[k, N]), idx, bits)
    else:
        m, total = _nonzero(src, lo, np.uint64(nodes[k, N]), idx)
    counts[SPIKES, k] += total
    for e in range(nodes[k, OUT0], nodes[k, OUT1]):
        s = links[e]
        if m == 0 or t + syns[s, DELAY] >= T:
            continue
        n_post = syns[s, NPOST]
        base = syns[s, ACC] + ((t + syns[s, DELAY]) % syns[s, DEPTH]) * n_post
        if syns[s, DENSE]:
            _dense_rows(src, lo, idx, m, acc, base, wd, syns[s, W], n_post)
        else:
            for q in range(m):
                j, c = idx[q], src[lo + np.uint64(idx[q])]
                for i in range(ptr[syns[s, W] + j], ptr[syns[s, W] + j + 1]):
                    acc[base + post[i]] += c * wc[i]
        n_ev = 0
        for q in range(m):
            n_ev += src[lo + np.uint64(idx[q])] * nnz[syns[s, NNZ] + idx[q]]
        counts[EVENTS, syns[s, DST]] += n_ev


@kernel(inline=True)
def _dense_rows(src, lo, idx, m, acc, base, wd, w0, n_post):
    """acc[base:base+n_post] += count x row j of the dense rows at wd[w0:], for the m spiking j in
    idx, in the event engine's order (j ascending); four single spikes' rows per pass over the slot."""
    q = 0
    while q + 4 <= m:
        j0, j1, j2, j3 = idx[q], idx[q + 1], idx[q + 2], idx[q + 3]
        if src[lo + np.uint64(j0)] != 1 or src[lo + np.uint64(j1)] != 1 or src[lo + np.uint64(j2)] != 1 \
                or src[lo + np.uint64(j3)] != 1:
            break
        add_rows4(acc, base, wd, w0 + j0 * n_post, w0 + j1 * n_post, w0 + j2 * n_post, w0 + j3 * n_post, n_post)
        q += 4
    for r in range(q, m):
        add_row(acc, base, wd, w0 + idx[r] * n_post, n_post, src[lo + np.uint64(idx[r])])


@kernel(inline=True)
def _nonzero(src, lo, n, idx):
    """(m, sum): idx[:m] = the j where src[lo + j] != 0, ascending, and the counts' sum; idx[m] = j
    is written for every j and kept (m advances) only where the count is nonzero: no branch."""
    m, total = 0, 0
    for j in range(n):
        idx[m] = j
        m += src[lo + j] != 0
        total += src[lo + j]
    return m, total


@kernel(inline=True)
def _nonzero_or(src, lo, n, idx, bits):
    """`_nonzero`, also OR-ing every count into bits[0]: negative if any count is, else an upper
    bound of the largest (each count's bits are among the OR's); a loop of its own, which vectorises."""
    acc = bits[0]
    for j in range(n):
        acc |= src[lo + j]
    bits[0] = acc
    return _nonzero(src, lo, n, idx)


@kernel(refcounts=False)
def run_fused(x, out, trace, keep, b0, b1, nodes, syns, links, wd, ptr, post, wc, nnz, scale, acc, a, state,
              params, flags, counts, idx, fired, over, bits):
    """Samples b0:b1 of the whole graph: spikes into out [B, T, neurons], states into trace
    [B, T, 2, neurons] when `keep`, counters added into counts [3, nodes] (SPIKES, EVENTS, OVERFLOW),
    the OR of every input count into bits [1]. acc, a, fired, over [neurons] (the step's spike
    counts and overflow events, int32), state [2, neurons], idx [max(channels, neurons)] (a
    node's spiking neurons): this part's own buffers; params [4, neurons] and flags
    [populations, 2]: the kind's (`fused_params`). A population's
    step writes int32 lanes only (fired, over, its state); its spikes are then widened into out
    and delivered from fired. Compiled without reference counts (a view is free: x[b, t] is read
    and out[b, t] written in place) and with the kinds' steps inlined: nothing in the loop writes
    a cache line that another part reads."""
    T = x.shape[1]
    for b in range(b0, b1):
        acc[:] = 0
        state[:] = 0
        for t in range(T):
            now = out[b, t]
            for k in range(nodes.shape[0]):
                p = nodes[k, POP]
                if p < 0:
                    deliver(x[b, t], idx, k, t, T, nodes, syns, links, wd, ptr, post, wc, nnz, acc, counts, bits)
                    continue
                _fold(a, nodes, k, t, syns, links, scale, acc)
                update(a, state, params, flags, p, nodes[k, LO], nodes[k, N], fired, over)
                counts[OVERFLOW, k] += _widen(fired, over, now, nodes[k, LO], nodes[k, N])
                deliver(fired, idx, k, t, T, nodes, syns, links, wd, ptr, post, wc, nnz, acc, counts, bits)
            if keep:   # element by element: an array assignment may copy (numba's runtime)
                for c in range(2):
                    for j in range(np.uint64(state.shape[1])):
                        trace[b, t, c, j] = state[c, j]


@kernel(inline=True)
def _widen(fired, over, now, lo, n):
    """now[lo:lo+n] = fired[lo:lo+n] (int32 counts into the int64 record); returns the sum of
    over[lo:lo+n], the population's overflow events of the step."""
    lo = np.uint64(lo)
    total = 0
    for i in range(np.uint64(n)):
        now[lo + i] = fired[lo + i]
        total += over[lo + i]
    return total


@kernel(inline=True)
def _fold(a, nodes, k, t, syns, links, scale, acc):
    """a[LO:LO+N] = population k's incoming synapses' sums of step t, joined in order (the kind's
    `join` also zeroes each slot for the ring's next use); 0 for a population fed by nothing."""
    lo, n = np.uint64(nodes[k, LO]), np.uint64(nodes[k, N])
    if nodes[k, IN0] == nodes[k, IN1]:
        for i in range(n):
            a[lo + i] = 0
    for e in range(nodes[k, IN0], nodes[k, IN1]):
        s = links[e]
        base = np.uint64(syns[s, ACC] + (t % syns[s, DEPTH]) * syns[s, NPOST])
        join(a, lo, n, acc, base, syns[s, EXP], scale[s], e == nodes[k, IN0])
