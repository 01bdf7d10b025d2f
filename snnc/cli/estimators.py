"""`snnc estimators`: bias and variance of the IW-ST estimator family (snnc.train.analysis)."""
from __future__ import annotations

import argparse
import time

import torch

from snnc.args import ArgumentParser
from snnc.cli.plots import plot_tradeoff
from snnc.errors import ConfigError
from snnc.io import write_json
from snnc.train.analysis import grid_of, make_net, run_rows


def _parse(argv: list[str]) -> argparse.Namespace:
    ap = ArgumentParser(prog="snnc estimators", description=__doc__.splitlines()[0])
    ap.add_argument("--json", required=True, help="output rows (JSON list)")
    ap.add_argument("--plot", help="figure of the bias-variance trade-off (.png, .pdf or .svg)")
    ap.add_argument("--draws", type=int, default=10_000, help="stochastic gradients per row")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--config", help="training config (TOML) whose [method] estimator settings "
                                     "get their own row and set the grid's noise and relaxation")
    args = ap.parse_args(argv)
    if args.draws < 2:
        raise ConfigError(f"--draws must be an integer >= 2, got {args.draws}")
    return args


def cmd_estimators(argv: list[str]) -> int:
    """`snnc estimators --json F [--plot P] [--draws N] [--seed S] [--config C]`."""
    args = _parse(argv)
    from snnc.io import check_writable
    from snnc.io import plot_format

    if args.plot:
        plot_format(args.plot)
    for path in (args.json, args.plot):
        if path:
            check_writable(path)  # refused before the draws, and before either file is written
    grid, noise, trained = grid_of(args.config)
    threads, start = torch.get_num_threads(), time.perf_counter()
    torch.set_num_threads(1)  # sized for one core; the draws are batched, not threaded
    try:
        rows = run_rows(make_net(args.seed, noise=noise), args.draws, args.seed, grid)
    finally:
        torch.set_num_threads(threads)
    if trained:
        rows[0].update(training=True, config=str(args.config))
    write_json(args.json, rows)
    if args.plot:
        plot_tradeoff(rows, args.plot)
    print(f"{len(rows)} rows, {args.draws} draws each, {time.perf_counter() - start:.1f} s -> {args.json}")
    return 0
