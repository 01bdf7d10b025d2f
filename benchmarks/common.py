"""Pieces the simulator benchmarks share: timing, checking, and the rows beside snnc.

* `timed`: one warm-up call, then the best of at least `repeats` timed calls and 0.5 s of them.
* `check`: a row's spikes must equal snnc's, layer by layer, or the script stops.
* `numpy_setup` / `numpy_dense`: a plain numpy stepper of Lava's integer
  semantics (PyDenseModelBitAcc + PyLifModelBitAcc: wraps, clip, truncating
  decay, bias, the one-step Dense delay), vectorised over the batch.
* `ideal_twin`, `snntorch_setup` / `snntorch_dense`: the same chain as float32
  LIF layers (snnc `ideal` and snnTorch `Leaky`), for the float comparison;
  `off_lattice_twin` with float weights no lattice holds, checked against
  `event_engine_spikes` (the event engine, the fused loop off).

Threads: whatever the caller sets; the scripts set OMP/OpenBLAS/MKL to 1 thread
before numpy is imported and `torch.set_num_threads(1)` in `snntorch_setup`.
"""
from __future__ import annotations

import time

import numpy as np

import snnc
from snnc.compiler.ir import FloatLIF, Graph, Input, Output, Synapse
from snnc.targets import loihi

# The ideal twin: beta and threshold chosen so that per-layer activity is close to the
# Loihi chain's (measured in sim_throughput.py: 7.0 / 5.2 / 3.6 %), not from a source.
TWIN_BETA, TWIN_VTH = 0.875, 850.0


MIN_TIMED_S = 0.5   # a row's timed runs last at least this long together (timeit's autorange idea)


def timed(run, repeats, min_time: float = MIN_TIMED_S):
    """(best seconds of one run, the warm-up's result): one warm-up (numba compilation, plan,
    allocator, caches), then at least `repeats` timed runs and as many more as take `min_time`
    in all, the same rule for every row: a sub-millisecond row is timed in its steady state as a
    slow one is, not from five runs that may each meet caches another row has just filled."""
    out = run()
    best, spent, n = float("inf"), 0.0, 0
    while n < repeats or spent < min_time:
        start = time.perf_counter()
        run()
        took = time.perf_counter() - start
        best, spent, n = min(best, took), spent + took, n + 1
    return best, out


def batch_inputs(spikes, batch, seed=1):
    rng = np.random.default_rng(seed)
    x = (rng.random((batch,) + spikes.shape) < spikes.mean()).astype(np.int64)
    x[0] = spikes
    return x


def check(name, got: list, want: list):
    for k, (a, b) in enumerate(zip(got, want)):
        if not np.array_equal(np.asarray(a), np.asarray(b)):
            raise SystemExit(f"{name}: layer {k} spikes differ from snnc's; row not reported")


# --- plain numpy stepper of Lava's integer semantics ---------------------------

def wrap(x, bits):
    half = np.int64(1) << (bits - 1)
    return ((x + half) & (2 * half - 1)) - half


def decay(x, d):
    p = x * (4096 - d)
    return np.sign(p) * (np.abs(p) >> 12)


def numpy_setup(layers):
    """Per layer: float64 weights (W^T), weight_exp, du, dv, int32 bias, vth << 6."""
    return [(loihi.effective_weights(l["weights"]).T.astype(np.float64), l["weight_exp"], l["du"], l["dv"],
             wrap(np.int64(l["bias_mant"]) << np.int64(l["bias_exp"]), 32), np.int64(l["vth"]) << 6)
            for l in layers]


def numpy_dense(prepared, x):
    """Lava's PyDenseModelBitAcc + PyLifModelBitAcc, vectorised over the batch; spikes per layer."""
    B, T, _ = x.shape
    u = [np.zeros((B, w.shape[1]), np.int64) for w, *_ in prepared]
    v = [np.zeros_like(a) for a in u]
    pending = [np.zeros_like(a) for a in u]  # Dense a_out, delivered next step
    out = [np.zeros((B, T, a.shape[1]), np.int64) for a in u]
    for t in range(T):
        s = x[:, t].astype(np.float64)
        for k, (w, exp, du, dv, bias, vth) in enumerate(prepared):
            acc = (s @ w).astype(np.int64)
            a_in, pending[k] = pending[k], wrap(acc << exp if exp >= 0 else acc >> -exp, 32)
            u[k], v[k], spk = lif_step(u[k], v[k], a_in, du, dv, bias, vth)
            out[k][:, t] = spk
            s = spk.astype(np.float64)
    return out


def lif_step(u, v, a_in, du, dv, bias, vth):
    """One PyLifModelBitAcc step of a layer, in numpy int64: (u, v, spikes); v is reset in place."""
    c = wrap(decay(u, du + 1) + wrap(a_in << 6, 32), 32)
    w24 = np.where(c > 2**23, c - 2**24, c)
    u = wrap(np.where(w24 <= -(2**23), c + 2**24, w24), 32)
    v = np.clip(wrap(wrap(decay(v, dv) + u, 32) + bias, 32), -(2**23) + 1, 2**23 - 1)
    spk = v > vth
    v[spk] = 0
    return u, v, spk


# --- the float twin: snnc ideal and snnTorch -----------------------------------

def ideal_twin(layers, n_in, vth: float = TWIN_VTH, jitter: float = 0.0) -> Graph:
    """The chain as float32 `FloatLIF` layers (beta 0.875, zero reset, no synaptic delay); jitter:
    every weight times (1 + jitter u), u uniform in [-1, 1] (seed 3)."""
    rng = np.random.default_rng(3)
    g = Graph(target="ideal", metadata={"source": "benchmarks twin"})
    prev = g.add("input", Input(n_in))
    for k, l in enumerate(layers):
        w = loihi.effective_weights(l["weights"]).astype(np.float64)
        w = (w * (1 + jitter * rng.uniform(-1, 1, w.shape)) if jitter else w).astype(np.float32)
        g.add(f"fc{k}", Synapse(w, 0, 0), [prev])
        prev = g.add(f"lif{k}", FloatLIF(w.shape[0], beta=TWIN_BETA, vth=vth, reset="zero"), [f"fc{k}"])
    g.add("output", Output(g.nodes[prev].size), [prev])
    return g


OFF_LATTICE = 2.0**-20   # the off-lattice twin's weights: x (1 + OFF_LATTICE u), u uniform in [-1, 1]


def off_lattice_twin(layers, n_in, vth: float = TWIN_VTH) -> Graph:
    """The twin with float32 weights no power-of-two lattice holds: snnc sums them in float64 (its
    general float path), where the twin's integer weights are summed as integers."""
    return ideal_twin(layers, n_in, vth=vth, jitter=OFF_LATTICE)


def event_engine_spikes(graph: Graph, x) -> list:
    """Spikes per population from the general event engine (`runtime.event`, the fused loop off):
    the reference of a row that `check` cannot compare with snnTorch (float sums round differently)."""
    from snnc.runtime import fused

    layout, fused.layout = fused.layout, lambda graph, plan: None
    try:
        res = snnc.runtime.simulate(graph, x, threads=1)
    finally:
        fused.layout = layout
    return [res.spikes[p] for p in graph.neurons]


def snntorch_setup(layers, vth: float = TWIN_VTH):
    import snntorch as snn
    import torch

    torch.set_num_threads(1)
    fcs = []
    for l in layers:
        w = loihi.effective_weights(l["weights"])
        fc = torch.nn.Linear(w.shape[1], w.shape[0], bias=False)
        fc.weight.data = torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32))
        fcs.append(fc)
    lifs = [snn.Leaky(beta=TWIN_BETA, threshold=vth, reset_mechanism="zero", reset_delay=False)
            for _ in layers]
    return fcs, lifs


def snntorch_dense(model, xt):
    import torch

    fcs, lifs = model
    out = [[] for _ in fcs]
    with torch.no_grad():
        mems = [lif.init_leaky() for lif in lifs]
        for t in range(xt.shape[1]):
            s = xt[:, t]
            for k, (fc, lif) in enumerate(zip(fcs, lifs)):
                s, mems[k] = lif(fc(s), mems[k])
                out[k].append(s)
    return [torch.stack(o, dim=1).numpy() for o in out]
