"""How simulation cost grows: against activity, network size and batch.

Three sweeps of one Loihi LIF chain (`benchmark_case`: Poisson input, uniform
8-bit weights, du 1024, dv 512), each point timed for four rows:

* snnc event-driven on the loihi graph (`simulate(..., threads=1)`: one thread);
* the numpy dense stepper of the same integer semantics (`common.numpy_dense`;
  float64 matmul, exact here; BLAS on one thread);
* snnc event-driven on the float `ideal` twin (same weights as float32, LIF
  beta 0.875, zero reset, no synaptic delay), one thread;
* snnTorch `Leaky` on that twin (`torch.set_num_threads(1)`, no grad);
* snnc on the twin with every weight times (1 + 2^-20 u), u uniform in [-1, 1]:
  float32 weights no power-of-two lattice holds, so snnc sums them in float64 (its
  general float path; the twin's integer weights are summed exactly as integers,
  runtime/lattice.py), one thread.

Every row is checked before it is timed: the numpy stepper must give snnc's
spikes on the loihi graph, snnTorch snnc's spikes on the twin, the off-lattice
twin the event engine's spikes (runtime/event.py, the fused loop off; snnTorch's
float32 sums round differently there) (every layer, step and sample), or the
script stops. One process; every row one thread.
Setup (graphs, weights, torch layers) is outside every timer; snnc's plan and
numba's compilation happen in the warm-up call. A point is the best of
`--repeats` timed runs after one warm-up (one timed run from 10^8 synapses on).

Sweeps (`--quick`: fewer points, for `make bench`):
* activity: 700-256-256-20, 100 steps, input rate 0.5-20 % (plus 35, 50, 65, 80
  and 100 %, to find where the dense rows catch up), batch 1 and 64;
* size: n-n-n (2 n^2 synapses, 10^4 to 10^8), 50 steps, 5 % input, batch 1;
  vth grows with the fan-in (3000 n / 700, an estimate: benchmark_case is tuned
  for a fan-in of 700; hidden activity then stays at 8-25 %, each point prints
  its own); a size that would not fit in the available memory (60 bytes per
  synapse, 52 measured at 10^8) is named with the reason, not run;
* batch: 700-256-256-20, 100 steps, 5 % and 100 % input (every channel every step:
  the densest input there is), batch 1 to 1024 (2048 would exceed simulate's limit of
  2^27 recorded spike counts a run: it asks for the batch split).

For each sweep and pair (snnc vs numpy, snnc twin and its off-lattice form vs snnTorch) the script
prints the other row's time over snnc's, within this run only, and the
measured crossover: where that ratio falls below 1, interpolated between the
two grid points around it (log-log), or "none in the grid".

    .venv/bin/python benchmarks/sim_scaling.py [--quick] [--json r.json] [--plot p.png]
"""
from __future__ import annotations

import argparse
import os
import resource

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

import snnc  # noqa: E402
import snnc.io  # noqa: E402
from snnc.targets import loihi  # noqa: E402
from snnc.targets.loihi.lava_exec import benchmark_case  # noqa: E402
from common import (TWIN_VTH, batch_inputs, check, event_engine_spikes, ideal_twin, numpy_dense,  # noqa: E402
                    numpy_setup, off_lattice_twin, snntorch_dense, snntorch_setup, timed)

ROWS = ("snnc", "numpy dense", "snnc twin", "snnTorch twin", "snnc twin off lattice")
PAIRS = (("numpy dense", "snnc"), ("snnTorch twin", "snnc twin"), ("snnTorch twin", "snnc twin off lattice"))
DEFAULT_SIZES = (700, 256, 256, 20)
VTH, FAN_IN = 3000, 700       # benchmark_case's vth, tuned for a 700 fan-in (its docstring)
BYTES_PER_SYNAPSE = 60        # peak resident set per synapse: 4.9 GiB measured at 10^8 (52 B), rounded up
FULL = {"rates": (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.65, 0.8, 1.0), "rate_batches": (1, 64),
        "synapses": (1e4, 1e5, 1e6, 1e7, 1e8), "batches": (1, 4, 16, 64, 256, 1024), "batch_rates": (0.05, 1.0)}
QUICK = {"rates": (0.005, 0.05, 0.2), "rate_batches": (64,),
         "synapses": (1e4, 1e6), "batches": (1, 16, 256), "batch_rates": (0.05,)}


def chain(sizes, steps, rate, vth_per_fan_in=False):
    """benchmark_case's chain; vth scaled with the fan-in when asked (the size sweep)."""
    layers, spikes = benchmark_case(tuple(sizes), steps, rate)
    if vth_per_fan_in:
        for layer in layers:
            layer["vth"] = min(2**17 - 1, round(VTH * layer["weights"].shape[1] / FAN_IN))
    return layers, spikes


def point(layers, x, repeats) -> dict:
    """The five rows on one input, each checked, then timed; one row's graph or weights at a time
    in memory (each row is its own function)."""
    vth = TWIN_VTH * layers[0]["vth"] / VTH
    sec = {}
    sec["snnc"], ref, hidden, events = snnc_row(loihi.graph_from_lava_layers(layers, x.shape[2]), x, repeats)
    sec["numpy dense"] = numpy_row(layers, x, ref, repeats)
    sec["snnc twin"], twin_ref, _, _ = snnc_row(ideal_twin(layers, x.shape[2], vth=vth), x, repeats)
    sec["snnTorch twin"] = snntorch_row(layers, x, vth, twin_ref, repeats)
    sec["snnc twin off lattice"] = off_lattice_row(off_lattice_twin(layers, x.shape[2], vth=vth), x, repeats)
    return {"seconds": sec, "hidden_activity": hidden, "synaptic_events": events}


def off_lattice_row(graph, x, repeats) -> float:
    """snnc on the off-lattice twin (float64 sums), checked against the event engine."""
    sec, got, _, _ = snnc_row(graph, x, repeats)
    check("snnc twin off lattice", got, event_engine_spikes(graph, x))
    return sec


def snnc_row(graph, x, repeats):
    """(seconds, spikes per layer, mean activity of the populations, synaptic events)."""
    sec, res = timed(lambda: snnc.runtime.simulate(graph, x, threads=1), repeats)
    spikes = [res.spikes[p] for p in graph.neurons]
    return sec, spikes, float(np.mean([s.mean() for s in spikes])), int(res.totals["synaptic_events"])


def numpy_row(layers, x, ref, repeats) -> float:
    prepared = numpy_setup(layers)
    sec, out = timed(lambda: numpy_dense(prepared, x), repeats)
    check("numpy dense", out, ref)
    return sec


def snntorch_row(layers, x, vth, ref, repeats) -> float:
    import torch

    model = snntorch_setup(layers, vth=vth)
    xt = torch.as_tensor(x, dtype=torch.float32)
    sec, out = timed(lambda: snntorch_dense(model, xt), repeats)
    check("snnTorch twin", out, ref)
    return sec


def activity_sweep(grid, repeats) -> list[dict]:
    out = []
    for batch in grid["rate_batches"]:
        for rate in grid["rates"]:
            layers, spikes = chain(DEFAULT_SIZES, 100, rate)
            x = batch_inputs(spikes, batch) if batch > 1 else spikes[None]
            out.append(report({"sweep": f"activity, batch {batch}", "x": rate, **point(layers, x, repeats)}))
    return out


def size_sweep(grid, repeats) -> list[dict]:
    out = []
    for synapses in grid["synapses"]:
        n = round((synapses / 2) ** 0.5)
        row = {"sweep": "size, batch 1", "x": 2 * n * n}
        need = 2 * n * n * BYTES_PER_SYNAPSE
        if need > available_bytes():
            out.append(report({**row, "skipped": f"needs about {need / 2**30:.1f} GiB, "
                                                 f"{available_bytes() / 2**30:.1f} GiB available"}))
            continue
        layers, spikes = chain((n, n, n), 50, 0.05, vth_per_fan_in=True)
        out.append(report({**row, **point(layers, spikes[None], 1 if synapses >= 1e8 else repeats)}))
    return out


def batch_sweep(grid, repeats) -> list[dict]:
    points = []
    for rate in grid["batch_rates"]:
        layers, spikes = chain(DEFAULT_SIZES, 100, rate)
        points += [report({"sweep": f"batch, input {rate:.0%}", "x": b,
                           **point(layers, batch_inputs(spikes, b) if b > 1 else spikes[None], repeats)})
                   for b in grid["batches"]]
    return points


def available_bytes() -> int:
    with open("/proc/meminfo") as f:
        info = dict(line.split(":", 1) for line in f)
    return int(info["MemAvailable"].split()[0]) * 1024


def report(p: dict) -> dict:
    if "skipped" in p:
        print(f"{p['sweep']:<20} {p['x']:>10g}  not run: {p['skipped']}", flush=True)
        return p
    times = " ".join(f"{p['seconds'][r]:>14.4f}" for r in ROWS)
    print(f"{p['sweep']:<20} {p['x']:>10g} {times}  hidden {p['hidden_activity']:.3f}  "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.1f} GiB", flush=True)
    return p


def crossover_at(points: list[dict], other: str, ours: str) -> tuple | None:
    """(x0, x1, x*, winner beyond) where `other / ours` first crosses 1 along the sweep
    (x* interpolated log-log between the grid points x0 and x1), else None."""
    pts = [(p["x"], p["seconds"][other] / p["seconds"][ours]) for p in points if "seconds" in p]
    for (x0, r0), (x1, r1) in zip(pts, pts[1:]):
        if (r0 >= 1) != (r1 >= 1):
            f = np.log(r0) / (np.log(r0) - np.log(r1))
            return x0, x1, float(np.exp(np.log(x0) + f * (np.log(x1) - np.log(x0)))), ours if r1 >= 1 else other
    return None


def crossover(points: list[dict], other: str, ours: str) -> str:
    found = crossover_at(points, other, ours)
    if found:
        x0, x1, at, side = found
        return f"crossover between {x0:g} and {x1:g} (about {at:.3g}); beyond it {side} wins"
    ratios = [p["seconds"][other] / p["seconds"][ours] for p in points if "seconds" in p]
    if not ratios:
        return "no point ran"
    best = ours if ratios[0] >= 1 else other
    return f"none in the grid: {best} wins at every point ({', '.join(f'{r:.2f}x' for r in ratios)})"


def summary(points: list[dict]) -> list[str]:
    lines = []
    for sweep in dict.fromkeys(p["sweep"] for p in points):
        mine = [p for p in points if p["sweep"] == sweep]
        for other, ours in PAIRS:
            lines.append(f"{sweep}: {other} / {ours}: {crossover(mine, other, ours)}")
    return lines


def plot(points: list[dict], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sweeps = list(dict.fromkeys(p["sweep"] for p in points))
    fig, axes = plt.subplots(1, len(sweeps), figsize=(4.2 * len(sweeps), 3.8), squeeze=False)
    for ax, sweep in zip(axes[0], sweeps):
        mine = [p for p in points if p["sweep"] == sweep and "seconds" in p]
        for row, style in zip(ROWS, ("o-", "s--", "^-", "v--", "x:")):
            ax.plot([p["x"] for p in mine], [p["seconds"][row] for p in mine], style, label=row, markersize=4)
        mark_crossovers(ax, mine)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(sweep, fontsize=10)
        ax.set_xlabel(XLABEL[sweep.split(",")[0]])
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel("seconds per run (one thread)")
    axes[0][0].legend(fontsize=7)
    fig.suptitle("Loihi chain: snnc event-driven vs dense steppers (each row checked equal)", fontsize=10)
    fig.tight_layout()
    with snnc.io.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def mark_crossovers(ax, points) -> None:
    """A dotted line where a dense row catches up with its snnc row (measured, interpolated)."""
    for (other, ours), color in zip(PAIRS, ("tab:orange", "tab:red", "tab:purple")):
        found = crossover_at(points, other, ours)
        if found:
            ax.axvline(found[2], color=color, linestyle=":", linewidth=1)
            ax.annotate(f"{other} = {ours}", (found[2], 0.02), xycoords=("data", "axes fraction"),
                        rotation=90, fontsize=6, color=color, ha="right")


XLABEL = {"activity": "input spike rate per step (700-256-256-20, 100 steps)",
          "size": "synapses (n-n-n, 50 steps, 5 % input)", "batch": "batch (700-256-256-20, 100 steps)"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller grid (`make bench`)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per point (best is kept)")
    parser.add_argument("--json", help="write every point here")
    parser.add_argument("--plot", default="build/sim_scaling.png", help="PNG of the three sweeps")
    args = parser.parse_args(argv)
    grid = QUICK if args.quick else FULL
    print(f"load average {os.getloadavg()[0]:.1f} at the start; seconds per run, one thread per row")
    print(f"{'sweep':<20} {'x':>10} " + " ".join(f"{r:>14}" for r in ROWS))
    points = activity_sweep(grid, args.repeats) + size_sweep(grid, args.repeats) + batch_sweep(grid, args.repeats)
    print("\n".join(summary(points)))
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    if args.json:
        snnc.io.write_json(args.json, {"points": points, "crossovers": summary(points)})
    plot(points, args.plot)
    print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
