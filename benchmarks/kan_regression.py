"""KAN multilevel training vs single-level KANs and MLPs on the published 2-D regression.

Problem (SEEDS.md part 2; Southworth et al., arXiv 2603.04827, Table 2)::

    f(x, y) = cos(4 pi x') + sin(pi y') + sin(2 pi y') + |sin(3 pi y'^2)|,
    (x', y') = R(0.175) (x, y)   (R: counter-clockwise rotation)

20,000 uniform training points on [1e-4, 1 - 1e-4]^2 and a held-out test set
of 10,000 more, drawn once (data seed fixed); outputs normalised to [0, 1]
with the training set's min and max. Net [2, 5, 1], MSE loss, L-BFGS at lr 1,
float64 everywhere (the paper's precision is not stated; float64 keeps round-off
far below the ~1e-5 losses that the KAN rows reach).

Work. One epoch = one full-batch L-BFGS step of up to 20 iterations with a
strong-Wolfe line search (PyTorch's max_iter; pykan's `fit` does the same per
step; the paper's value is not in the text we could read). Every row gets 60
epochs: nested iteration {32, 16, 8, 4} over 8, 16, 32, 64 intervals per edge
(SEEDS.md), coarse-only = 60 epochs at 8 intervals, fine-only = 60 at 64. With
the sparse evaluation an epoch costs the same at every level; the plot's
x-axis counts function evaluations (full passes over the 20,000 points).

Rows: spline KAN (order 2, uniform knots) multilevel / coarse-only / fine-only
with a random init (coefficients N(0, 0.1^2)), multilevel and fine-only also
with a linear one (every edge a straight line, see `snnc.train.kan.model`;
coarse-only ends the same either way, 5.6e-4 in a 1-seed check); the same
model (random init, converted) trained in the ReLU basis, refined by injection;
free knots (multilevel, random init); MLPs [2,5,1],
[2,30,1], [2,20,20,1] (tanh, PyTorch's default init; the paper's activation
is not in the text we could read: an estimate); pykan's KAN [2,5,1] (grid 5,
k 3, its defaults: ~150 trainable numbers, like the coarse KAN and MLP
[2,30,1]; one pykan evaluation costs ~7x ours, so it runs `--pykan-seeds`
seeds only). Wall time is seconds per seed, training only.

Processes and threads: `--jobs` worker processes (default 1: this process),
each with `--threads` torch threads (default 1).

    .venv/bin/python benchmarks/kan_regression.py --seeds 5 --json kan.json --plot kan.png [--jobs 2]
    .venv/bin/python benchmarks/kan_regression.py --timing-only      # sparse vs dense evaluation
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import torch  # noqa: E402
from torch import nn  # noqa: E402

from snnc.train.kan import FitConfig, History, build_kan, fit, mse, train_multilevel  # noqa: E402
from snnc.train.kan.problem import make_data  # noqa: E402  (the problem, its splits and constants)

WIDTHS = (2, 5, 1)            # a tuple: pykan rewrites the width list it is given, in place
COARSE = 8                    # intervals on the coarsest level (estimate: 64 on the finest after 3 halvings)
SCHEDULE = (32, 16, 8, 4)     # epochs per level (SEEDS.md part 2)
EPOCHS = sum(SCHEDULE)        # every row's budget
TIMING_REPEATS = 5            # best of 5, as benchmarks/sim_throughput.py


@dataclass(frozen=True)
class Row:
    name: str
    kind: str                  # "kan" | "mlp" | "pykan"
    paper: float | None = None  # the paper's MSE (SEEDS.md part 2), None where it has no row
    schedule: tuple = SCHEDULE
    intervals: int = COARSE
    init: str = "random"
    basis: str = "spline"
    free_knots: bool = False
    hidden: tuple = ()
    plot: bool = False


ROWS = [
    Row("spline KAN multilevel", "kan", 3.67e-5, plot=True),
    Row("spline KAN multilevel, linear init", "kan", init="linear", plot=True),
    Row("spline KAN coarse-only", "kan", 1.65e-3, schedule=(EPOCHS,), plot=True),
    Row("spline KAN fine-only", "kan", 2.54e-3, schedule=(EPOCHS,), intervals=COARSE * 8, plot=True),
    Row("spline KAN fine-only, linear init", "kan", schedule=(EPOCHS,), intervals=COARSE * 8,
        init="linear", plot=True),
    Row("ReLU-basis KAN multilevel", "kan", 1.06e-2, basis="relu", plot=True),
    Row("free-knot spline KAN multilevel", "kan", free_knots=True),
    Row("MLP [2,5,1]", "mlp", 2.94e-2, hidden=(5,)),
    Row("MLP [2,30,1]", "mlp", 1.02e-3, hidden=(30,), plot=True),
    Row("MLP [2,20,20,1]", "mlp", 3.33e-4, hidden=(20, 20), plot=True),
    Row("pykan KAN [2,5,1] grid 5 k 3", "pykan"),
]


def build_mlp(hidden: tuple, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    sizes = [WIDTHS[0], *hidden, WIDTHS[-1]]
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [nn.Linear(a, b, dtype=torch.float64)] + ([nn.Tanh()] if i < len(sizes) - 2 else [])
    return nn.Sequential(*layers)


def train_kan(row: Row, seed: int, data) -> tuple[nn.Module, History]:
    g = torch.Generator().manual_seed(seed)
    model = build_kan(list(WIDTHS), row.intervals, 2, init=row.init, basis=row.basis,
                      free_knots=row.free_knots, generator=g)
    return train_multilevel(model, data[0], data[1], row.schedule, FitConfig())


def train_mlp(row: Row, seed: int, data) -> tuple[nn.Module, History]:
    model = build_mlp(row.hidden, seed)
    return model, fit(model, data[0], data[1], EPOCHS, FitConfig())


def train_pykan(row: Row, seed: int, data):
    from kan import KAN   # optional: the `bench` extra
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)   # pykan builds its tensors in the default dtype
    try:
        model = KAN(width=list(WIDTHS), grid=5, k=3, seed=seed, auto_save=False, symbolic_enabled=False)
        dataset = dict(train_input=data[0], train_label=data[1], test_input=data[2], test_label=data[3])
        start = time.perf_counter()
        with contextlib.redirect_stderr(io.StringIO()):   # its tqdm bar
            result = model.fit(dataset, opt="LBFGS", steps=EPOCHS, lr=1.0, log=EPOCHS + 1)
        history = History(loss=[v ** 2 for v in result["train_loss"]], seconds=time.perf_counter() - start)
        history.epochs = list(range(1, len(history.loss) + 1))
    finally:
        torch.set_default_dtype(previous)
    return model, history


TRAINERS = {"kan": train_kan, "mlp": train_mlp, "pykan": train_pykan}


def run_one(row: Row, seed: int, threads: int) -> dict:
    """Train one row at one seed; the numbers the table and the plot need."""
    torch.set_num_threads(threads)
    data = make_data()
    model, history = TRAINERS[row.kind](row, seed, data)
    return {"row": row.name, "seed": seed, "params": _params(model),
            "train_mse": mse(model, data[0], data[1]), "test_mse": mse(model, data[2], data[3]),
            "seconds": history.seconds, "loss": history.loss, "evals": history.evals}


def _params(model: nn.Module) -> int:
    """Trainable numbers; pykan's symbolic branch (disabled here) is left out."""
    return sum(p.numel() for name, p in model.named_parameters()
               if p.requires_grad and not name.startswith("symbolic_fun"))


def pykan_available() -> bool:
    try:
        import kan  # noqa: F401
    except ImportError:
        return False
    return True


def tasks(rows: list[Row], seeds: int, pykan_seeds: int) -> list[tuple[Row, int]]:
    """Every (row, seed); pykan's first: its runs are the longest, so workers end together."""
    out = []
    for row in sorted(rows, key=lambda r: r.kind != "pykan"):
        n = min(seeds, pykan_seeds) if row.kind == "pykan" else seeds
        out += [(row, seed) for seed in range(n)]
    return out


def run_all(rows, seeds, pykan_seeds, jobs, threads) -> list[dict]:
    todo = tasks(rows, seeds, pykan_seeds)
    if jobs <= 1:
        return [_report(run_one(row, seed, threads)) for row, seed in todo]
    import multiprocessing
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(run_one, row, seed, threads) for row, seed in todo]
        return [_report(f.result()) for f in futures]


def _report(result: dict) -> dict:
    print(f"  {result['row']:<38} seed {result['seed']}: train {result['train_mse']:.3e} "
          f"test {result['test_mse']:.3e} {result['seconds']:.1f} s", flush=True)
    return result


def summarise(rows: list[Row], results: list[dict]) -> list[dict]:
    table = []
    for row in rows:
        mine = [r for r in results if r["row"] == row.name]
        if not mine:
            continue
        train = [r["train_mse"] for r in mine]
        test = [r["test_mse"] for r in mine]
        table.append({
            "name": row.name, "params": mine[0]["params"],
            "train_mse_mean": statistics.fmean(train),
            "train_mse_std": statistics.stdev(train) if len(train) > 1 else 0.0,
            "test_mse_mean": statistics.fmean(test),
            "test_mse_std": statistics.stdev(test) if len(test) > 1 else 0.0,
            "seconds": statistics.fmean(r["seconds"] for r in mine),
            "seeds": len(mine), "paper_mse": row.paper, "init": row.init if row.kind == "kan" else None,
            "schedule": list(row.schedule) if row.kind == "kan" else [EPOCHS],
            "evals_mean": statistics.fmean(r["evals"][-1] for r in mine) if mine[0]["evals"] else None,
            "train_mse_per_seed": train})
    return table


def print_table(table: list[dict]) -> None:
    print("\n| row | params | train MSE mean (std) | test MSE mean | s / seed | seeds | paper MSE |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for t in table:
        paper = f"{t['paper_mse']:.3g}" if t["paper_mse"] else "-"
        print(f"| {t['name']} | {t['params']} | {t['train_mse_mean']:.3g} ({t['train_mse_std']:.2g}) | "
              f"{t['test_mse_mean']:.3g} | {t['seconds']:.1f} | {t['seeds']} | {paper} |")


def check_bar(table: list[dict]) -> str:
    """The issue's bar: multilevel mean train MSE <= 1e-4 and >= 10x below MLP [2,30,1]."""
    by = {t["name"]: t for t in table}
    ml, mlp = by.get("spline KAN multilevel"), by.get("MLP [2,30,1]")
    if not (ml and mlp):
        return "bar: not evaluated (rows missing)"
    ratio = mlp["train_mse_mean"] / ml["train_mse_mean"]
    ok = ml["train_mse_mean"] <= 1e-4 and ratio >= 10
    return (f"bar {'HOLDS' if ok else 'FAILS'}: spline KAN multilevel {ml['train_mse_mean']:.3g} "
            f"(<= 1e-4), MLP [2,30,1] / multilevel = {ratio:.1f} (>= 10)")


def plot(rows: list[Row], results: list[dict], path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for row in rows:
        mine = [r for r in results if r["row"] == row.name and r["evals"]]
        if not row.plot or not mine:
            continue
        length = min(len(r["loss"]) for r in mine)
        work = [statistics.fmean(r["evals"][i] for r in mine) for i in range(length)]
        geo = [math.exp(statistics.fmean(math.log(max(r["loss"][i], 1e-300)) for r in mine))
               for i in range(length)]
        ax.semilogy(work, geo, label=row.name)
    ax.set_xlabel("work: function evaluations (full passes over 20,000 points)")
    ax.set_ylabel("train MSE (geometric mean over seeds)")
    ax.set_title("[2,5,1] KAN, published 2-D regression: loss against work")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def time_evaluation(intervals: int) -> list[dict]:
    """Forward + backward of the [2,5,1] KAN on the 20,000 points, four ways.

    The input requires a gradient, so nothing is cached: every call evaluates
    the basis, as a hidden layer does.  Best of ``TIMING_REPEATS`` after a warm-up.
    """
    x = make_data()[0].clone().requires_grad_()
    model = build_kan(list(WIDTHS), intervals, 2, generator=torch.Generator().manual_seed(0))
    relu = model.to_relu()
    cases = {"spline, sparse (r active B-splines)": lambda: _forward(model, x, False),
             "spline, dense one-hot (all N)": lambda: _forward(model, x, True),
             "ReLU basis, prefix sums": lambda: _forward(relu, x, False),
             "ReLU basis, dense (all N channels)": lambda: _forward(relu, x, True)}
    out = []
    for name, forward in cases.items():
        seconds = _best_time(lambda: forward().sum().backward())
        out.append({"evaluation": name, "intervals": intervals, "ms": 1e3 * seconds})
    for o in out:
        o["x sparse"] = o["ms"] / out[0]["ms"]
    return out


def _forward(model, x, dense: bool):
    for layer in model.layers:
        x = layer(x, dense=dense)
    return x


def _best_time(step) -> float:
    step()
    best = math.inf
    for _ in range(TIMING_REPEATS):
        start = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--pykan-seeds", type=int, default=1, help="seeds for the (slow) pykan row")
    ap.add_argument("--json", help="write the table rows here")
    ap.add_argument("--plot", help="write loss-against-work PNG here")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process")
    ap.add_argument("--rows", help="comma-separated substrings: run only matching rows")
    ap.add_argument("--timing-only", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"load average {os.getloadavg()[0]:.2f}; {args.jobs} process(es) x {args.threads} thread(s)")
    for intervals in (COARSE, COARSE * 8):
        for t in time_evaluation(intervals):
            print(f"  {t['evaluation']:<36} {intervals:>3} intervals: {t['ms']:8.1f} ms "
                  f"({t['x sparse']:.1f}x)")
    if args.timing_only:
        return
    rows = [r for r in ROWS if not args.rows or any(s in r.name for s in args.rows.split(","))]
    if not pykan_available():
        print("pykan not installed (pip install -e .[bench]): skipping its row")
        rows = [r for r in rows if r.kind != "pykan"]
    start = time.perf_counter()
    results = run_all(rows, args.seeds, args.pykan_seeds, args.jobs, args.threads)
    table = summarise(rows, results)
    print_table(table)
    print(check_bar(table))
    print(f"total {time.perf_counter() - start:.0f} s wall; load average {os.getloadavg()[0]:.2f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(table, fh, indent=1)
    if args.plot:
        plot(rows, results, args.plot)


if __name__ == "__main__":
    main()
