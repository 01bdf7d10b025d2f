"""numba inner loops of the event-driven core.

Work per step is proportional to the spikes delivered times their fan-out;
neuron arithmetic is the target's own `@kernel` functions, not a copy.
"""
from __future__ import annotations

import numpy as np

from snnc.targets.ideal import float_lif_step
from snnc.targets.kernel import kernel
from snnc.targets.loihi import dense_output, lif_step, wrap
from snnc.targets.xylo import iaf_step, sat16

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


@jit
def _recurrent_sum(acc, spikes_prev, indptr, post, weight):
    """acc[post] += w over the population's own earlier spikes; returns events."""
    n_events = 0
    for j in range(spikes_prev.shape[0]):
        c = spikes_prev[j]
        if c != 0:
            for k in range(indptr[j], indptr[j + 1]):
                acc[post[k]] += c * weight[k]
            n_events += c * (indptr[j + 1] - indptr[j])
    return n_events


@jit
def loihi_loop(a_in, du, dv, bias, vth_scaled, rec_indptr, rec_post, rec_w, rec_exp, rec_delay,
               keep_u, keep_v):
    """Run a LoihiLIF population over [B, T]; a_in already holds delayed Dense output."""
    B, T, n = a_in.shape
    spikes = np.zeros((B, T, n), np.int64)
    u_tr = np.zeros((B, T, n) if keep_u else (0, 0, 0), np.int64)
    v_tr = np.zeros((B, T, n) if keep_v else (0, 0, 0), np.int64)
    n_over, n_events = 0, 0
    for b in range(B):
        u, v = np.zeros(n, np.int64), np.zeros(n, np.int64)
        for t in range(T):
            a = a_in[b, t].copy()
            if rec_delay > 0 and t >= rec_delay:
                acc = np.zeros(n, np.int64)
                n_events += _recurrent_sum(acc, spikes[b, t - rec_delay], rec_indptr, rec_post, rec_w)
                a = wrap(a + dense_output(acc, rec_exp), 32)
            s, n_o = lif_step(u, v, a, du, dv, bias, vth_scaled)
            n_over += n_o
            spikes[b, t] = s
            if keep_u:
                u_tr[b, t] = u
            if keep_v:
                v_tr[b, t] = v
    return spikes, u_tr, v_tr, n_over, n_events


@jit
def float_loop(a_in, beta, alpha, vth, bias, soft_reset, max_spikes, rec_indptr, rec_post, rec_w, rec_scale,
               rec_delay, keep_v, keep_i):
    """Run a FloatLIF population over [B, T]; a_in is float64 delayed synaptic input."""
    B, T, n = a_in.shape
    spikes = np.zeros((B, T, n), np.int64)
    v_tr = np.zeros((B, T, n) if keep_v else (0, 0, 0), np.float32)
    i_tr = np.zeros((B, T, n) if keep_i else (0, 0, 0), np.float32)
    n_events = 0
    for b in range(B):
        v, i_syn = np.zeros(n, np.float32), np.zeros(n, np.float32)
        for t in range(T):
            a = a_in[b, t].copy()
            if rec_delay > 0 and t >= rec_delay:
                acc = np.zeros(n, np.float64)
                n_events += _recurrent_sum(acc, spikes[b, t - rec_delay], rec_indptr, rec_post, rec_w)
                a += acc * rec_scale
            s, _ = float_lif_step(v, i_syn, a, beta, alpha, vth, bias, soft_reset, max_spikes)
            spikes[b, t] = s
            if keep_v:
                v_tr[b, t] = v
            if keep_i:
                i_tr[b, t] = i_syn
    return spikes, v_tr, i_tr, n_events


@jit
def _deliver_sat(i_syn, j, c, indptr, post, weight, port):
    """Xylo delivery of c spikes of presynaptic j: saturating adds; returns saturations."""
    n_sat = 0
    for k in range(indptr[j], indptr[j + 1]):
        raw = i_syn[post[k], port[k]] + c * weight[k]
        i_syn[post[k], port[k]] = sat16(raw)
        n_sat += i_syn[post[k], port[k]] != raw
    return n_sat


@jit
def xylo_loop(ptr, neuron, count, ext_indptr, ext_post, ext_w, ext_port,
              rec_indptr, rec_post, rec_w, rec_port, rec_delay, max_rec_count,
              n, threshold, bias, dash_mem, dash_syn, max_spikes, B, T, keep_v, keep_i):
    """Run a XyloIAF population: external events (merged, in delivery order), then
    recurrent spikes of earlier steps (rec_delay per recurrent synapse, rows r*n + j)."""
    n_syn = dash_syn.shape[1]
    spikes = np.zeros((B, T, n), np.int64)
    v_tr = np.zeros((B, T, n) if keep_v else (0, 0, 0), np.int64)
    i_tr = np.zeros((B, T, n, n_syn) if keep_i else (0, 0, 0, 0), np.int64)
    n_sat, n_events = 0, 0
    for b in range(B):
        v, i_syn = np.zeros(n, np.int64), np.zeros((n, n_syn), np.int64)
        for t in range(T):
            bt = b * T + t
            for e in range(ptr[bt], ptr[bt + 1]):
                j, c = neuron[e], count[e]
                n_sat += _deliver_sat(i_syn, j, c, ext_indptr, ext_post, ext_w, ext_port)
                n_events += c * (ext_indptr[j + 1] - ext_indptr[j])
            for r in range(rec_delay.shape[0]):
                if t >= rec_delay[r]:
                    for j in range(n):
                        c = min(spikes[b, t - rec_delay[r], j], max_rec_count)
                        if c != 0:
                            row = r * n + j
                            n_sat += _deliver_sat(i_syn, row, c, rec_indptr, rec_post, rec_w, rec_port)
                            n_events += c * (rec_indptr[row + 1] - rec_indptr[row])
            s, n_s = iaf_step(v, i_syn, threshold, bias, dash_mem, dash_syn, max_spikes)
            n_sat += n_s
            spikes[b, t] = s
            if keep_v:
                v_tr[b, t] = v
            if keep_i:
                i_tr[b, t] = i_syn
    return spikes, v_tr, i_tr, n_sat, n_events
