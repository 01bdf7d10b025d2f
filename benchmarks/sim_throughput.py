"""Simulator throughput: one Loihi chain, same network and inputs everywhere.

700-256-256-20 LIF chain, 100 steps, 5% Poisson input (hidden activity 2-15%).
Rows, each checked first: it must produce snnc's spikes (every layer, every
step, every sample) or the script stops with an error.

* snnc event-driven (batch 1 and 64): `snnc.runtime.simulate` on the loihi
  graph; numba kernels, one thread (`threads=1`). One more row: batch 64 on
  every core the process may use (`simulate`'s default), its spikes checked
  against the one-thread row.
* Lava's own run phase (batch 1): `time_lava_run`, the seconds of Lava's
  `run()` alone (compile and process start-up excluded); Lava runs one OS
  process per Lava process (input, 3 Dense, 3 LIF) plus its runtime, so
  several processes. Checked with `run_lava_graph` on the same input.
* numpy dense stepper (batch 1 and 64): plain numpy of the same integer
  semantics (Lava's wraps, clip, truncating decay, bias, one-step Dense
  delay); float64 matmul, exact here; BLAS on one thread.
* onnxruntime (batch 1 and 64): the exported sequence model
  (`snnc.compiler.export.onnx`), one intra-op and one inter-op thread.
* snnc event-driven on the `ideal` twin (batch 1 and 64) and snnTorch
  (batch 1 and 64): the same weights as float32, `FloatLIF` with beta 0.875,
  zero reset, no synaptic state, synapses without delay, against snnTorch's
  `Leaky` (reset_mechanism "zero", reset_delay False) after `nn.Linear`, no
  grad, `torch.set_num_threads(1)`. snnTorch is checked against this twin:
  float LIF cannot reproduce Loihi's integer decay.

Setup is outside every timer: graphs, weights, the ONNX session, torch layers
and Lava's compile are built before timing; the snnc plan is built by the
warm-up call. Each row is the best of `--repeats` (default 5) timed runs after
one warm-up; Lava's row the best of 3 `run()` calls.

    .venv/bin/python benchmarks/sim_throughput.py [--repeats 5] [--json out.json]
"""
from __future__ import annotations

import argparse
import os
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

import snnc  # noqa: E402
import snnc.io  # noqa: E402
from snnc.compiler.ir import FloatLIF, Graph, Input, Output, Synapse  # noqa: E402
from snnc.errors import BackendUnavailable  # noqa: E402
from snnc.targets.loihi.lava_exec import benchmark_case, run_lava_graph, time_lava_run  # noqa: E402
from snnc.targets import loihi  # noqa: E402

BATCH = 64
TWIN_BETA, TWIN_VTH = 0.875, 850.0  # the ideal twin: per-layer activity close to the Loihi chain's


def timed(run, repeats):
    out = run()  # warm-up: numba compilation, plan, allocator, caches
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
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
            c = wrap(decay(u[k], du + 1) + wrap(a_in << 6, 32), 32)
            w24 = np.where(c > 2**23, c - 2**24, c)
            u[k] = wrap(np.where(w24 <= -(2**23), c + 2**24, w24), 32)
            v[k] = np.clip(wrap(wrap(decay(v[k], dv) + u[k], 32) + bias, 32), -(2**23) + 1, 2**23 - 1)
            spk = v[k] > vth
            v[k][spk] = 0
            out[k][:, t] = spk
            s = spk.astype(np.float64)
    return out


# --- the float twin: snnc ideal and snnTorch -----------------------------------

def ideal_twin(layers, n_in) -> Graph:
    g = Graph(target="ideal", metadata={"source": "sim_throughput twin"})
    prev = g.add("input", Input(n_in))
    for k, l in enumerate(layers):
        w = loihi.effective_weights(l["weights"]).astype(np.float32)
        g.add(f"fc{k}", Synapse(w, 0, 0), [prev])
        prev = g.add(f"lif{k}", FloatLIF(w.shape[0], beta=TWIN_BETA, vth=TWIN_VTH, reset="zero"), [f"fc{k}"])
    g.add("output", Output(g.nodes[prev].size), [prev])
    return g


def snntorch_setup(layers):
    import snntorch as snn
    import torch

    torch.set_num_threads(1)
    fcs = []
    for l in layers:
        w = loihi.effective_weights(l["weights"])
        fc = torch.nn.Linear(w.shape[1], w.shape[0], bias=False)
        fc.weight.data = torch.as_tensor(w, dtype=torch.float32)
        fcs.append(fc)
    lifs = [snn.Leaky(beta=TWIN_BETA, threshold=TWIN_VTH, reset_mechanism="zero", reset_delay=False)
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


# --- rows ---------------------------------------------------------------------------

def snnc_rows(rows, name, graph, inputs, repeats):
    """Time simulate() per batch; return the spikes per layer of each batch (the reference)."""
    spikes = {}
    pops = list(graph.neurons)
    for label, x in inputs.items():
        sec, res = timed(lambda x=x: snnc.runtime.simulate(graph, x, threads=1), repeats)
        rows[f"{name}, {label}"] = (sec, res.totals["synaptic_events"])
        spikes[label] = [res.spikes[p] for p in pops]
    return spikes


def threads_row(rows, graph, x, label, ref, repeats):
    """snnc on every core this process may use (`simulate`'s default), checked against one thread."""
    from snnc.runtime.simulate import default_threads

    n = default_threads()
    sec, res = timed(lambda: snnc.runtime.simulate(graph, x, threads=n), repeats)
    check(f"snnc {n} threads", [res.spikes[p] for p in graph.neurons], ref)
    rows[f"snnc event-driven, {label}, {n} threads"] = (sec, res.totals["synaptic_events"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per row (best is kept)")
    parser.add_argument("--json", help="also write the rows as JSON")
    args = parser.parse_args()
    layers, spikes = benchmark_case()
    graph = loihi.graph_from_lava_layers(layers, spikes.shape[1])
    inputs = {"batch 1": spikes[None], f"batch {BATCH}": batch_inputs(spikes, BATCH)}
    rows, r = {}, args.repeats
    ref = snnc_rows(rows, "snnc event-driven", graph, inputs, r)
    events = {label: rows[f"snnc event-driven, {label}"][1] for label in inputs}
    threads_row(rows, graph, inputs[f"batch {BATCH}"], f"batch {BATCH}", ref[f"batch {BATCH}"], r)
    lava_row(rows, graph, layers, spikes, ref["batch 1"], events["batch 1"])
    prepared = numpy_setup(layers)
    for label, x in inputs.items():
        sec, out = timed(lambda x=x: numpy_dense(prepared, x), r)
        check(f"numpy {label}", out, ref[label])
        rows[f"numpy dense stepper, {label}"] = (sec, events[label])
    onnx_rows(rows, graph, inputs, ref, events, r)
    twin = ideal_twin(layers, spikes.shape[1])
    twin_ref = snnc_rows(rows, "snnc event-driven, ideal twin", twin, inputs, r)
    model = snntorch_setup(layers)
    import torch
    for label, x in inputs.items():
        xt = torch.as_tensor(x, dtype=torch.float32)
        sec, out = timed(lambda xt=xt: snntorch_dense(model, xt), r)
        check(f"snnTorch {label}", out, twin_ref[label])
        rows[f"snnTorch Leaky (ideal twin), {label}"] = (sec, rows[f"snnc event-driven, ideal twin, {label}"][1])
    print_table(rows, graph, twin, spikes)
    if args.json:
        snnc.io.write_json(args.json, {k: {"seconds": s, "synaptic_events": e} for k, (s, e) in rows.items()})
    return 0


def lava_row(rows, graph, layers, spikes, ref, events):
    try:
        out = run_lava_graph(graph, spikes[None], record=())
        check("Lava", [out[p]["spikes"] for p in graph.neurons], ref)
        rows["Lava run phase (fixed_pt), batch 1"] = (min(time_lava_run(layers, spikes) for _ in range(3)), events)
    except BackendUnavailable as exc:
        print(f"Lava row skipped: {exc}")


def onnx_rows(rows, graph, inputs, ref, events, repeats):
    from snnc.compiler.export.onnx import build, session

    sess = session(build(graph), threads=1)
    names = [o.name for o in sess.get_outputs()]
    for label, x in inputs.items():
        feed = {"input": x.astype(np.int32)}
        sec, out = timed(lambda feed=feed: sess.run(None, feed), repeats)
        got = dict(zip(names, out))
        check(f"onnxruntime {label}", [got[f"{p}.spikes"] for p in graph.neurons], ref[label])
        rows[f"onnxruntime (exported ONNX), {label}"] = (sec, events[label])


def print_table(rows, graph, twin, spikes):
    for name, g in (("loihi chain", graph), ("ideal twin", twin)):
        rates = {n: round(float(r), 4) for n, r in snnc.runtime.simulate(g, spikes).rates().items()}
        print(f"{name} 700-256-256-20, 100 steps, activity per step {rates}")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    base = rows["snnc event-driven, batch 1"][0]
    print(f"{'implementation':<44}{'seconds':>10}{'x snnc b1':>11}{'syn events/s':>15}")
    for name, (sec, events) in rows.items():
        print(f"{name:<44}{sec:>10.4f}{sec / base:>11.1f}{events / sec:>15.3g}")


if __name__ == "__main__":
    raise SystemExit(main())
