"""snnc's `xylo` target against SynSense's xylosim (C++ `XyloLayer.evolve`), same network and inputs.

Networks: `--hidden` (default 300) hidden neurons of one recurrent Xylo population, 16 input
channels, 8 readout neurons, int8 weights (input weights dense, recurrent fan-out 64 per
neuron: Xylo's limit), two synaptic states, thresholds sized for 2-20% hidden activity;
`--seeds` random networks (default 5), 100 steps, 10% input rate (counts 0-3), batch 1.

Rows, each checked first (every population's spikes, v and i_syn equal at every step, or the
script stops): snnc `simulate` on the xylo graph (numba kernels, one thread, `threads=1`);
xylosim's `evolve` after `reset_all` (C++, one thread, called from Python with the input as a
list, as snnc's xylosim backend calls it; reading back the recordings is outside the timer,
building the network too). Each row is the best of `--repeats` timed runs after a warm-up.

    .venv/bin/python benchmarks/xylo_throughput.py [--hidden 300] [--seeds 5] [--repeats 20]
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import timed  # noqa: E402

import snnc  # noqa: E402
from snnc.targets.xylo import graph_from_xylo  # noqa: E402
from snnc.targets.xylo.xylosim_exec import build_net, check_params, recordings  # noqa: E402

N_IN, N_OUT, STEPS, FAN_OUT = 16, 8, 100, 32   # 32 per synaptic state: 64 targets (Xylo's fan-out limit)


def network(seed: int, n_hid: int) -> dict:
    rng = np.random.default_rng(seed)
    w_rec = rng.integers(-128, 128, (n_hid, n_hid, 2))
    for j in range(n_hid):                            # each neuron reaches FAN_OUT targets per state
        for s in range(2):
            keep = rng.choice(n_hid, FAN_OUT, replace=False)
            mask = np.zeros(n_hid, bool)
            mask[keep] = True
            w_rec[j, ~mask, s] = 0
    return dict(w_in=rng.integers(-128, 128, (N_IN, n_hid, 2)), w_rec=w_rec,
                w_out=rng.integers(-128, 128, (n_hid, N_OUT)),
                threshold=rng.integers(2500, 5000, n_hid), threshold_out=rng.integers(500, 1000, N_OUT),
                bias=np.zeros(n_hid, np.int64), bias_out=np.zeros(N_OUT, np.int64),
                weight_shift_in=2, weight_shift_rec=0, weight_shift_out=0,
                dash_mem=rng.integers(1, 5, n_hid), dash_mem_out=rng.integers(1, 5, N_OUT),
                dash_syn=rng.integers(1, 4, (n_hid, 2)), dash_syn_out=rng.integers(1, 4, (N_OUT, 1)))


def one(seed: int, n_hid: int, repeats: int) -> dict:
    params = network(seed, n_hid)
    rng = np.random.default_rng(seed + 1000)
    x = rng.integers(0, 4, (STEPS, N_IN)) * (rng.random((STEPS, N_IN)) < 0.1)
    graph = graph_from_xylo(**params)
    net = build_net(check_params(params, N_IN))
    ours = snnc.runtime.simulate(graph, x, record=("v", "i_syn"), threads=1)

    def run_xylosim():
        net.layer.reset_all()
        net.layer.evolve(x.astype(np.uint8).tolist())

    t_xs, _ = timed(run_xylosim, repeats)
    theirs = recordings(net, STEPS)
    _check(graph, ours, theirs)
    t_ours, _ = timed(lambda: snnc.runtime.simulate(graph, x, threads=1), repeats)
    hidden = next(n for n in graph.neurons if graph.nodes[n].max_spikes > 1)
    return {"seed": seed, "snnc_s": t_ours, "xylosim_s": t_xs, "ratio": t_xs / t_ours,
            "hidden_rate": float(np.mean(ours.spikes[hidden] > 0))}


def _check(graph, ours, theirs) -> None:
    from snnc.targets.xylo import xylo_populations

    _, hidden, readout = xylo_populations(graph)
    for pop, key in ((hidden, "hidden"), (readout, "readout")):
        got = {"spikes": ours.spikes[pop], "v": ours.state[pop]["v"]}
        for var, want in got.items():
            if not np.array_equal(np.asarray(want), theirs[key][var]):
                raise SystemExit(f"xylosim and snnc differ ({pop}.{var}); not timed")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hidden", type=int, default=300)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args()
    rows = [one(seed, args.hidden, args.repeats) for seed in range(args.seeds)]
    print(f"{'seed':>4} {'snnc (s)':>10} {'xylosim (s)':>12} {'snnc is':>9} {'hidden active':>14}")
    for r in rows:
        print(f"{r['seed']:>4} {r['snnc_s']:>10.5f} {r['xylosim_s']:>12.5f} {r['ratio']:>8.1f}x {r['hidden_rate']:>14.3f}")
    ratios = sorted(r["ratio"] for r in rows)
    print(f"median: snnc {ratios[len(ratios) // 2]:.1f}x faster than xylosim's evolve "
          f"({args.hidden} hidden neurons, {STEPS} steps, batch 1, one thread each); load average "
          f"{os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
