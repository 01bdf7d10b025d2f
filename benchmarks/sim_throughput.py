"""Simulator throughput: one Loihi chain, same network and inputs everywhere.

700-256-256-20 LIF chain, 100 steps, 5% Poisson input (hidden activity 2-15%).
Rows: snnc event-driven (batch 1 and 64), Lava's own run phase (batch 1),
a plain numpy dense stepper of the same integer semantics (batch 1 and 64),
and snnTorch's dense float forward of the same shape (batch 1 and 64).
Each row is the best of REPEATS runs after one warm-up (numba compile,
caches), on one thread; Lava's row is the best of 3 timed `run()` calls.

    .venv/bin/python benchmarks/sim_throughput.py [--json out.json]
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import snnc  # noqa: E402
import snnc.io  # noqa: E402
from snnc.errors import BackendUnavailable  # noqa: E402
from snnc.runtime.lava_exec import benchmark_case, time_lava_run  # noqa: E402
from snnc.targets import loihi  # noqa: E402

BATCH = 64
REPEATS = 5


def timed(fn, *args):
    out = fn(*args)  # warm-up: numba compilation, allocator, caches
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - start)
    return best, out


def batch_inputs(layers, spikes, batch, seed=1):
    rng = np.random.default_rng(seed)
    rate = spikes.mean()
    return (rng.random((batch,) + spikes.shape) < rate).astype(np.int64)


def numpy_dense(layers, x):
    """Plain per-step numpy: float64 matmul (exact here) + the same LIF integer ops, batched."""
    weights = [loihi.effective_weights(l["weights"]).astype(np.float64) for l in layers]
    B, T, _ = x.shape
    u = [np.zeros((B, w.shape[0]), np.int64) for w in weights]
    v = [np.zeros_like(a) for a in u]
    pending = [np.zeros_like(a) for a in u]  # Dense output delivered next step
    for t in range(T):
        s = x[:, t].astype(np.float64)
        for k, (w, layer) in enumerate(zip(weights, layers)):
            a_in, pending[k] = pending[k], (s @ w.T).astype(np.int64) << layer["weight_exp"]
            u[k] = loihi.decay12(u[k], layer["du"] + 1) + (a_in << 6)
            v[k] = np.clip(loihi.decay12(v[k], layer["dv"]) + u[k], -(2**23) + 1, 2**23 - 1)
            spk = v[k] > layer["vth"] << 6
            v[k][spk] = 0
            s = spk.astype(np.float64)
    return s


def snntorch_dense(layers, x):
    """snnTorch float forward of the same shape (Linear + Leaky per layer), no grad."""
    import snntorch as snn
    import torch
    torch.set_num_threads(1)
    fcs = [torch.nn.Linear(l["weights"].shape[1], l["weights"].shape[0], bias=False) for l in layers]
    lifs = [snn.Leaky(beta=0.75, threshold=1.0) for _ in layers]
    xt = torch.as_tensor(x, dtype=torch.float32)
    with torch.no_grad():
        mems = [lif.init_leaky() for lif in lifs]
        for t in range(xt.shape[1]):
            s = xt[:, t]
            for k, (fc, lif) in enumerate(zip(fcs, lifs)):
                s, mems[k] = lif(fc(s), mems[k])
    return s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the rows as JSON")
    args = parser.parse_args()
    layers, spikes = benchmark_case()
    graph = loihi.graph_from_lava_layers(layers, spikes.shape[1])
    xb = batch_inputs(layers, spikes, BATCH)
    xb[0] = spikes
    rows = {}
    t1, r1 = timed(snnc.runtime.simulate, graph, spikes)
    t64, r64 = timed(snnc.runtime.simulate, graph, xb)
    rows["snnc event-driven, batch 1"] = (t1, r1.totals["synaptic_events"])
    rows[f"snnc event-driven, batch {BATCH}"] = (t64, r64.totals["synaptic_events"])
    try:
        lava_s = min(time_lava_run(layers, spikes) for _ in range(3))
        rows["Lava run phase (fixed_pt), batch 1"] = (lava_s, r1.totals["synaptic_events"])
    except BackendUnavailable as exc:
        print(f"Lava row skipped: {exc}")
    rows["numpy dense stepper, batch 1"] = (timed(numpy_dense, layers, spikes[None])[0], r1.totals["synaptic_events"])
    rows[f"numpy dense stepper, batch {BATCH}"] = (timed(numpy_dense, layers, xb)[0], r64.totals["synaptic_events"])
    rows["snnTorch dense float, batch 1"] = (timed(snntorch_dense, layers, spikes[None])[0], r1.totals["synaptic_events"])
    rows[f"snnTorch dense float, batch {BATCH}"] = (timed(snntorch_dense, layers, xb)[0], r64.totals["synaptic_events"])
    print_table(rows, r1)
    if args.json:
        snnc.io.write_json(args.json, {k: {"seconds": s, "synaptic_events": e} for k, (s, e) in rows.items()})
    return 0


def print_table(rows, r1):
    rates = {n: round(float(r), 4) for n, r in r1.rates().items()}
    print(f"network 700-256-256-20, 100 steps, activity per step {rates}")
    base = rows["snnc event-driven, batch 1"][0]
    print(f"{'implementation':<36}{'seconds':>10}{'x snnc b1':>11}{'syn events/s':>15}")
    for name, (sec, events) in rows.items():
        print(f"{name:<36}{sec:>10.4f}{sec / base:>11.1f}{events / sec:>15.3g}")


if __name__ == "__main__":
    raise SystemExit(main())
