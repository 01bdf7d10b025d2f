"""`snnc simulate FILE.snnc --input spikes.npy`: run, print, report JSON, plot PNG."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from snnc.compiler.ir import load
from snnc.errors import InputError
from snnc.runtime.report import plot_report
from snnc.runtime.simulate import ENGINES, simulate


def cmd_simulate(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="snnc simulate", description=__doc__)
    parser.add_argument("file", help="compiled graph (.snnc)")
    parser.add_argument("--input", help="spike counts .npy, [T, N] or [B, T, N]")
    parser.add_argument("--data", nargs="?", const="", metavar="NAME",
                        help="a data set split instead of --input (digits, digits-seq; default: the one "
                             "the graph was compiled for, with its encoding and classes); reports accuracy")
    parser.add_argument("--split", default="test", choices=("train", "test"))
    parser.add_argument("--report", help="write the JSON report here")
    parser.add_argument("--plot", help="write a PNG (raster of one sample, rates, energy) here")
    parser.add_argument("--engine", default="event", choices=sorted(ENGINES))
    parser.add_argument("--check", default="error", choices=("error", "warn"),
                        help="warn: run a graph that breaks capacity rules (sizes, fan-out), listing them")
    args = parser.parse_args(argv)
    graph = load(args.file)
    if args.input is not None and args.data is not None:
        raise InputError("give --input or --data, not both")
    if args.input is None:
        return _simulate_data(graph, args)
    result = simulate(graph, load_spikes(args.input), progress=True, check=args.check, engine=args.engine)
    print_summary(result)
    _write(args, result.summary(), lambda path: plot_report(result, path))
    return 0


def _simulate_data(graph, args) -> int:
    """Deployed run on a data set: accuracy, per-inference counters and energy, latency."""
    from snnc.runtime import deploy
    from snnc.runtime.datasets import data_from_graph, load_split
    from snnc.runtime.per_inference import energy

    data = data_from_graph(graph, args.data or None)
    x, y = load_split(data, args.split)
    logits, result = deploy.run(graph, x, engine=args.engine, progress=True, check=args.check)
    per_inf = energy(graph, result.spikes)
    summary = {"data": data, "split": args.split, "samples": int(len(y)),
               "accuracy": float(np.mean(logits.argmax(1) == y)),
               "latency_steps": int(graph.metadata.get("pad_steps", 0)), "steps": int(result.steps),
               **per_inf, "overflow_events": result.totals["overflow_events"],
               "violations": getattr(result, "violations", [])}
    print(f"{data['name']} {args.split}: {len(y)} samples, accuracy {summary['accuracy']:.4f}, "
          f"latency {summary['latency_steps']} steps ({result.steps} per inference)")
    print_per_inference(per_inf)
    _write(args, summary, lambda path: plot_report(result, path, per_inference=per_inf, title=args.file))
    return 0


def _write(args, summary: dict, plot) -> None:
    from snnc.io import write_json

    if args.report:
        write_json(args.report, summary)
        print(f"report: {args.report}")
    if args.plot:
        plot(args.plot)
        print(f"plot: {args.plot}")


def print_per_inference(e: dict) -> None:
    print(f"{'layer':<12}{'spikes/inf':>12}{'syn ev/inf':>12}{'energy/inf':>14}")
    for name, row in e["per_layer"].items():
        print(f"{name:<12}{row['spikes']:>12.1f}{row['synaptic_events']:>12.1f}{row['energy_j']:>12.3g} J")
    m = e["energy_per_inference_j"]
    est = f" (estimated terms: {', '.join(e['estimates'])})" if e["estimates"] else ""
    print(f"energy per inference {m['mean']:.3g} J, std {m['std']:.2g}{est}")


def load_spikes(path) -> np.ndarray:
    """Read a spike array from .npy (never unpickling); one-line error otherwise."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file (expected a .npy spike array)")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"{path}: not a readable .npy array ({str(exc).splitlines()[0][:120]})") from None


def print_summary(result) -> None:
    shape = f"batch {result.batch}, " if result.batch is not None else ""
    print(f"target '{result.target}': {shape}{result.steps} steps")
    print(f"{'node':<12}{'rate':>8}{'spikes':>10}{'syn events':>12}{'updates':>10}{'overflow':>10}{'energy':>12}")
    for name, st in result.stats.items():
        rate = result.rates().get(name, 0.0)
        energy = result.energy["per_node"].get(name)
        e = f"{energy:.3g} J" if energy is not None else "-"
        print(f"{name:<12}{rate:>8.3f}{st['spikes']:>10}{st['synaptic_events']:>12}{st['neuron_updates']:>10}"
              f"{st['overflow_events']:>10}{e:>12}")
    terms = ", ".join(f"{k} {v:.3g} J" for k, v in result.energy["terms"].items())
    print(f"energy total {result.energy['total_j']:.3g} J ({terms})")
