"""Accuracy against energy per inference on a chip: train, compile, simulate.

    python benchmarks/energy_front.py --target loihi --json front.json --plot front.png

For each method (SBNN, SG) and each activity-penalty weight: train the target's
digits config (loihi: `configs/digits_loihi.toml`, xylo:
`configs/digits_seq_xylo.toml`) with that weight, compile the posterior mean (SG:
the trained weights) for the target, run the deployed integer graph on the event
simulator over the whole test split and measure its accuracy and energy per
inference from the target's energy table (`snnc targets` cites each constant).
Every number on the plot is measured by the simulator; nothing is predicted.
Beside each point (`--dense-baseline`, on by default): the non-spiking int8 MLP of the
same accuracy on `edge-int8` (`snnc.evaluation.dense_baseline`), rows with method "dense-int8".

The penalty is the trainer's activity term (`loss.rate_weight` with
`loss.rate_target = 0`: the squared mean spike rate of each hidden layer, so a
larger weight trades accuracy for fewer spikes and synaptic events).

Threads and processes: by default one process, points one after another;
`--jobs N` spreads the points (train + compile + simulate) over N local worker
processes, `--ray local|auto|ADDRESS` over Ray tasks of one CPU each
(`benchmarks/jobs.py`; a local pool when ray is not installed). torch uses
`train.threads` of the config (1) for training, every worker one OpenMP
thread, and the simulator one thread: each point's numbers equal the serial
run's (`seconds` aside). The dense baseline rows are computed in this process.

    python benchmarks/energy_front.py --target loihi --jobs 2 --json front.json
    python benchmarks/energy_front.py --target loihi --ray auto --json front.json
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/jobs.py, also when imported by path
import jobs  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = {"loihi": "digits_loihi.toml", "xylo": "digits_seq_xylo.toml"}
DEFAULT_PENALTIES = (0.0, 3.0, 30.0, 300.0)


def train_point(target: str, method: str, penalty: float, run_dir: Path, epochs: int | None) -> dict:
    """Train one point of the front; returns the trainer's summary."""
    from snnc.train import config as config_mod
    from snnc.train.trainer import run

    cfg = config_mod.load(ROOT / "configs" / CONFIGS[target])
    cfg.method.name = method
    if method == "sg":   # the SBNN's LIF step with the surrogate spike: the dynamics the chip runs
        cfg.method.sg_neuron = "target"
    cfg.loss.rate_weight, cfg.loss.rate_target = penalty, 0.0
    if epochs:
        cfg.train.epochs = epochs
    return run(cfg, run_dir, progress=False)


def measure_point(ckpt: Path, target: str) -> dict:
    """Deployed accuracy and energy per inference on the test split, on the event simulator."""
    from snnc.evaluation.compiled import compile_checkpoint
    from snnc.runtime import deploy
    from snnc.evaluation.datasets import load_split
    from snnc.runtime.per_inference import energy

    compiled = compile_checkpoint(ckpt, target, "mean", evaluate=False)
    x, y = load_split(compiled.graph.metadata["data"], "test")
    logits, result = deploy.run(compiled.graph, x, threads=1)
    e = energy(compiled.graph, result.spikes)
    return {"deployed_accuracy": float(np.mean(logits.argmax(axis=1) == y)),
            "energy_per_inference_j": e["energy_per_inference_j"]["mean"],
            "energy_per_inference_std_j": e["energy_per_inference_j"]["std"],
            "synaptic_events_per_inference": e["synaptic_events_per_inference"],
            "spikes_per_inference": e["spikes_per_inference"], "test_samples": int(len(y))}


def front(target: str, methods: list[str], penalties: list[float], out: Path, epochs: int | None,
          workers: int = 1, ray: str | None = None) -> list[dict]:
    """One row per method x penalty, in that order whichever way the runs are spread (`jobs.run_jobs`)."""
    todo = [{"target": target, "method": method, "penalty": penalty, "epochs": epochs,
             "run_dir": str(Path(out).resolve() / f"{target}-{method}-{penalty:g}")}
            for method in methods for penalty in penalties]
    return jobs.run_jobs(front_point, todo, workers=workers, ray=ray, done=lambda i, row: print(_line(row), flush=True))


def front_point(target: str, method: str, penalty: float, run_dir: str, epochs: int | None) -> dict:
    """Train, compile and measure one point of the front (one job of `front`)."""
    t0 = time.time()
    summary = train_point(target, method, penalty, Path(run_dir), epochs)
    return {"method": method, "target": target, "penalty": penalty, "float_accuracy": summary["test_accuracy"],
            "hidden_spike_rate": summary["hidden_spike_rate"],
            **measure_point(Path(run_dir) / "checkpoint.pt", target), "seconds": round(time.time() - t0, 1)}


def dense_rows(rows: list[dict], target: str) -> list[dict]:
    """The dense int8 baseline on edge-int8 beside each point, at its float accuracy
    (`snnc.evaluation.dense_baseline`: width chosen on validation, measured on the test split)."""
    from snnc.evaluation.dense_baseline import WidthGrid, analog_data, config_data, front_row

    data = config_data(ROOT / "configs" / CONFIGS[target])
    grid = WidthGrid(analog_data(data))
    out = [front_row(r, data, grid) for r in rows if r["method"] != "dense-int8"]
    for r in out:
        print(f"{_line(r)}   {r['verdict']}", flush=True)
    return out


def _line(r: dict) -> str:
    return (f"{r['method']:<5} {r['penalty']:>8g} {r['float_accuracy']:>7.4f} {r['deployed_accuracy']:>9.4f} "
            f"{r['energy_per_inference_j']:>11.3e} {r['synaptic_events_per_inference']:>10.0f} "
            f"{r['hidden_spike_rate']:>6.3f} {r['seconds']:>6.0f}")


def plot(rows: list[dict], path: Path, target: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for method, marker in (("sbnn", "o"), ("sg", "s"), ("dense-int8", "x")):
        pts = sorted((r for r in rows if r["method"] == method), key=lambda r: r["energy_per_inference_j"])
        if not pts:
            continue
        ax.plot([r["energy_per_inference_j"] for r in pts], [r["deployed_accuracy"] for r in pts],
                marker=marker, label="dense int8 on edge-int8" if method == "dense-int8" else method.upper())
        for r in pts:
            label = f"hidden {r['width']}" if method == "dense-int8" else f"{r['penalty']:g}"
            ax.annotate(label, (r["energy_per_inference_j"], r["deployed_accuracy"]),
                        textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel(f"energy per inference on {target} (dense: on edge-int8) (J, simulator)")
    ax.set_ylabel("deployed test accuracy")
    ax.set_title(f"digits on {target}: accuracy-energy front (labels: penalty weight)", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    from snnc.io import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", choices=sorted(CONFIGS), required=True)
    p.add_argument("--methods", default="sbnn,sg", help="comma-separated: sbnn, sg")
    p.add_argument("--penalties", default=",".join(f"{v:g}" for v in DEFAULT_PENALTIES),
                   help="comma-separated activity-penalty weights (loss.rate_weight; >= 4 for a front)")
    p.add_argument("--epochs", type=int, help="override the config's epochs (say so when recording)")
    p.add_argument("--out", default="build/energy_front", help="folder for the training runs")
    p.add_argument("--json", type=Path, help="write the rows here")
    p.add_argument("--plot", type=Path, help="write the front here (PNG)")
    p.add_argument("--dense-baseline", action=argparse.BooleanOptionalAction, default=True,
                   help="add the same-accuracy dense int8 net on edge-int8 beside each point (method dense-int8)")
    jobs.add_arguments(p)
    a = p.parse_args(argv)
    methods = [m for m in a.methods.split(",") if m]
    penalties = [float(v) for v in a.penalties.split(",") if v]
    print(f"{'method':<5} {'penalty':>8} {'float':>7} {'deployed':>9} {'energy/inf':>11} {'syn ev/inf':>10} "
          f"{'rate':>6} {'sec':>6}")
    rows = front(a.target, methods, penalties, Path(a.out), a.epochs, a.jobs, a.ray)
    if a.dense_baseline:
        rows += dense_rows(rows, a.target)
    if a.json:
        from snnc.io import write_json

        write_json(a.json, rows)
    if a.plot:
        plot(rows, a.plot, a.target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
