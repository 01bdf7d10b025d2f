"""Simulator throughput: one Loihi chain, same network and inputs everywhere.

700-256-256-20 LIF chain, 100 steps, 5% Poisson input (hidden activity 2-15%).
Rows, each checked first: it must produce snnc's spikes (every layer, every
step, every sample) or the script stops with an error.

* snnc event-driven (batch 1 and 64): `snnc.runtime.simulate` on the loihi
  graph; numba kernels, one thread (`threads=1`). One more row: batch 64 on
  every core the process may use (`simulate`'s default), its spikes checked
  against the one-thread row.
* snnc's per-call cost: `simulate` on a 1-step, 10-neuron `ideal` net (one
  identity synapse, one FloatLIF), the best of 200 calls: what a call costs
  besides the network's own work.
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
  float LIF cannot reproduce Loihi's integer decay. The twin's weights are
  Loihi's integers, a power-of-two lattice, so snnc sums them as integers
  (runtime/lattice.py: exactly its float64 sums). One more row, no bar: the
  twin with every weight moved by a relative 2^-20 (float32 weights no lattice
  holds: float64 sums, the general float path), batch 64, checked against the
  event engine (`runtime.event`, the fused loop off).

Setup is outside every timer: graphs, weights, the ONNX session, torch layers
and Lava's compile are built before timing; the snnc plan is built by the
warm-up call. Each row is the best of at least `--repeats` (default 5) timed
runs after one warm-up, and of as many more as fill 0.5 s (`common.timed`: a
fast row is timed in its steady state, as a slow one is); Lava's row the best
of 3 workers, each the best of 3 `run()` calls in one runtime.

    .venv/bin/python benchmarks/sim_throughput.py [--repeats 5 | --quick] [--json out.json]

Shared pieces (numpy stepper, twin, snnTorch, timing, checks) are in benchmarks/common.py.
"""
from __future__ import annotations

import argparse
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

import snnc  # noqa: E402
import snnc.io  # noqa: E402
from snnc.errors import BackendUnavailable  # noqa: E402
from snnc.targets.loihi.lava_exec import benchmark_case, run_lava_graph, time_lava_run  # noqa: E402
from snnc.targets import loihi  # noqa: E402
from common import (batch_inputs, check, event_engine_spikes, ideal_twin, numpy_dense, numpy_setup,  # noqa: E402
                    off_lattice_twin, snntorch_dense, snntorch_setup, timed)

BATCH = 64


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


def call_row(rows):
    """The per-call cost: simulate() on a 1-step, 10-neuron ideal net (best of 200 calls)."""
    from snnc.compiler.ir import FloatLIF, Graph, Input, Output, Synapse

    g = Graph(target="ideal")
    g.add("input", Input(10))
    g.add("w", Synapse(np.eye(10, dtype=np.float32), 0, 1), ["input"])
    g.add("lif", FloatLIF(10), ["w"])
    g.add("output", Output(10), ["lif"])
    x = np.ones((1, 10), np.int64)
    sec, res = timed(lambda: snnc.runtime.simulate(g, x, threads=1), 200)
    rows["snnc simulate() call, 1 step, 10 neurons"] = (sec, res.totals["synaptic_events"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per row (best is kept)")
    parser.add_argument("--json", help="also write the rows as JSON")
    parser.add_argument("--quick", action="store_true", help="at least 2 timed runs per row, not 5 (`make bench`)")
    args = parser.parse_args()
    if args.quick:
        args.repeats = 2
    layers, spikes = benchmark_case()
    graph = loihi.graph_from_lava_layers(layers, spikes.shape[1])
    inputs = {"batch 1": spikes[None], f"batch {BATCH}": batch_inputs(spikes, BATCH)}
    rows, r = {}, args.repeats
    ref = snnc_rows(rows, "snnc event-driven", graph, inputs, r)
    events = {label: rows[f"snnc event-driven, {label}"][1] for label in inputs}
    threads_row(rows, graph, inputs[f"batch {BATCH}"], f"batch {BATCH}", ref[f"batch {BATCH}"], r)
    call_row(rows)
    lava_row(rows, graph, layers, spikes, ref["batch 1"], events["batch 1"])
    prepared = numpy_setup(layers)
    for label, x in inputs.items():
        sec, out = timed(lambda x=x: numpy_dense(prepared, x), r)
        check(f"numpy {label}", out, ref[label])
        rows[f"numpy dense stepper, {label}"] = (sec, events[label])
    onnx_rows(rows, graph, inputs, ref, events, r)
    twin = ideal_twin(layers, spikes.shape[1])
    twin_ref = snnc_rows(rows, "snnc event-driven, ideal twin", twin, inputs, r)
    off_lattice_row(rows, layers, spikes.shape[1], inputs[f"batch {BATCH}"], r)
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


def off_lattice_row(rows, layers, n_in, x, repeats):
    """The twin with weights off every lattice: snnc's general float path, checked against the event engine."""
    from snnc.runtime import fused
    from snnc.runtime.plan import prepare

    off = off_lattice_twin(layers, n_in)
    if fused.layout(off, prepare(off)).input_limit is not None:
        raise SystemExit("off-lattice twin: its weights still lie on a lattice; row not reported")
    sec, res = timed(lambda: snnc.runtime.simulate(off, x, threads=1), repeats)
    check("snnc off-lattice twin", [res.spikes[p] for p in off.neurons], event_engine_spikes(off, x))
    rows[f"snnc event-driven, twin off a lattice, batch {BATCH}"] = (sec, res.totals["synaptic_events"])


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
        print(f"{name:<44}{sec:>10.5f}{sec / base:>11.2f}{events / sec:>15.3g}")
    print_bars(rows)


def print_bars(rows):
    """Issue 21's bars, as ratios of rows of this run."""
    sec = {name: s for name, (s, _) in rows.items()}
    b = f"batch {BATCH}"
    threaded = [n for n in sec if n.startswith(f"snnc event-driven, {b}, ")]
    bars = [("Lava run phase / snnc, batch 1 (bar >= 500)", "Lava run phase (fixed_pt), batch 1",
             "snnc event-driven, batch 1"),
            (f"snnTorch / snnc on the twin, {b} (bar >= 5)", f"snnTorch Leaky (ideal twin), {b}",
             f"snnc event-driven, ideal twin, {b}"),
            (f"one thread / {threaded[0].rsplit(', ', 1)[1]}, {b} (bar >= 1.7 on 2 cores)" if threaded else "",
             f"snnc event-driven, {b}", threaded[0] if threaded else "")]
    for label, num, den in bars:
        if num in sec and den in sec:
            print(f"{label}: {sec[num] / sec[den]:.2f}")
    off = f"snnc event-driven, twin off a lattice, {b}"
    if off in sec and f"snnTorch Leaky (ideal twin), {b}" in sec:
        print(f"snnTorch on the twin / snnc on the twin off a lattice, {b} (no bar: float64 sums): "
              f"{sec[f'snnTorch Leaky (ideal twin), {b}'] / sec[off]:.2f}")
    events = rows[f"snnc event-driven, {b}"]
    print(f"synaptic events/s, one thread, {b} (bar >= 2e9): {events[1] / events[0]:.3g}")
    call = sec.get("snnc simulate() call, 1 step, 10 neurons")
    if call is not None:
        print(f"simulate() on a 1-step, 10-neuron net: {call * 1e6:.1f} us")


if __name__ == "__main__":
    raise SystemExit(main())
