"""`snnc simulate FILE.snnc --input spikes.npy`: run, print, report JSON, plot PNG."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from snnc.compiler.ir import load
from snnc.errors import InputError
from snnc.runtime.report import plot_report, write_report
from snnc.runtime.simulate import ENGINES, simulate


def cmd_simulate(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="snnc simulate", description=__doc__)
    parser.add_argument("file", help="compiled graph (.snnc)")
    parser.add_argument("--input", required=True, help="spike counts .npy, [T, N] or [B, T, N]")
    parser.add_argument("--report", help="write the JSON report here")
    parser.add_argument("--plot", help="write a PNG (raster, rates, energy) here")
    parser.add_argument("--engine", default="event", choices=sorted(ENGINES))
    args = parser.parse_args(argv)
    graph = load(args.file)
    result = simulate(graph, load_spikes(args.input), progress=True)
    print_summary(result)
    if args.report:
        write_report(result, args.report)
        print(f"report: {args.report}")
    if args.plot:
        plot_report(result, args.plot)
        print(f"plot: {args.plot}")
    return 0


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
