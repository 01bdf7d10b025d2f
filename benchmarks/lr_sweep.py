"""Learning-rate (and setting) sweep selected on the validation split, test reported once.

    python benchmarks/lr_sweep.py --config configs/digits_resnet.toml --lrs 5e-4,1e-3,2e-3,5e-3 \
        --methods sbnn,sg --epochs 30 --json sweep.json
    python benchmarks/lr_sweep.py --config configs/digits_seq_sbnn.toml --lrs 1e-2 \
        --grid model.readout=mean,leaky --grid model.tau_mem=1,10 --json seq.json
    python benchmarks/lr_sweep.py --config configs/digits_sbnn.toml --lrs 2e-3,5e-3,1e-2 \
        --methods sbnn,sg --seeds 0,1,2 --json mlp.json

Every point trains the config with one lr (and one combination of the `--grid`
settings) for each method (`sbnn`: the config's SBNN; `sg`: the same net with
`method.name = "sg"`, snnTorch surrogate gradients), then reads its summary:
`val_accuracy` (posterior mean on the held-out validation split, see
`snnc.train.data`) and `test_accuracy`. With `--seeds`, every point trains once
per seed and is scored by its mean validation accuracy over the seeds (one
validation sample moves a single run by 1/145 on digits, which decides many
single-seed choices). Per method the point with the highest (mean) validation
accuracy is chosen (ties: the first in the order given) and marked `*`; its
(mean) test accuracy is the number to report. The test column of the other
points is printed for transparency only: it never takes part in the choice.

Threads and processes: by default one process, points one after another;
`--jobs N` spreads the training runs over N local worker processes, `--ray
local|auto|ADDRESS` over Ray tasks of one CPU each (`benchmarks/jobs.py`; a
local pool when ray is not installed). torch uses the config's `train.threads`
(1 in the digits configs) and every worker one OpenMP thread, so each run's
metrics equal the serial run's (tests/test_sweep_jobs.py); `seconds` varies.

    python benchmarks/lr_sweep.py --config configs/digits_sbnn.toml --lrs 2e-3,5e-3,1e-2 --jobs 2
    python benchmarks/lr_sweep.py --config configs/digits_sbnn.toml --lrs 2e-3,5e-3,1e-2 --ray auto
"""
from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/jobs.py, also when imported by path
import jobs  # noqa: E402


def parse_grid(items: list[str]) -> list[tuple[str, list]]:
    """`section.key=v1,v2` -> (key, [values]) with TOML-typed values."""
    import tomllib

    grid = []
    for item in items:
        key, _, values = item.partition("=")
        if "." not in key or not values:
            sys.exit(f"--grid {item!r}: expected section.key=value1,value2")
        grid.append((key, [tomllib.loads(f"v = {_toml(v)}")["v"] for v in values.split(",")]))
    return grid


def _toml(value: str) -> str:
    """A bare word becomes a TOML string; numbers and booleans stay as they are."""
    import tomllib

    try:
        tomllib.loads(f"v = {value}")
        return value
    except tomllib.TOMLDecodeError:
        return json.dumps(value)


def point_config(path: Path, method: str, lr: float, settings: dict, epochs: int | None):
    """The config of one sweep point (SG baseline and posterior samples off: only the
    trained net's own validation and test accuracy are read)."""
    from snnc.train import config as config_mod

    raw = config_mod.tomllib.loads(path.read_text())
    for key, value in settings.items():
        section, name = key.split(".")
        raw.setdefault(section, {})[name] = value
    raw.setdefault("method", {})["name"] = method
    raw.setdefault("train", {}).update({"lr": lr, "eval_samples": 0})
    if epochs:
        raw["train"]["epochs"] = epochs
    raw.setdefault("baseline", {})["sg"] = False
    return config_mod.from_dict(raw)


def sweep(path: Path, methods: list[str], lrs: list[float], grid, epochs: int | None,
          seeds: list[int] | None = None, workers: int = 1, ray: str | None = None) -> list[dict]:
    """One row per training run: every method x grid combination x lr (x seed), in
    that order whichever way the runs are spread (`jobs.run_jobs`)."""
    combos = [dict(zip([k for k, _ in grid], values)) for values in itertools.product(*[v for _, v in grid])]
    todo = [{"path": str(Path(path).resolve()), "method": method, "lr": lr, "settings": settings,
             "seed": seed, "epochs": epochs}
            for method, settings, lr, seed in itertools.product(methods, combos, lrs, seeds or [None])]
    return jobs.run_jobs(train_one, todo, workers=workers, ray=ray,
                    done=lambda i, row: print(_line(row, grid), flush=True))


def train_one(path: str, method: str, lr: float, settings: dict, seed: int | None, epochs: int | None) -> dict:
    """Train one sweep point (`--grid` settings, `--seeds` seed) and return its row (one job of `sweep`)."""
    from snnc.train.trainer import run

    cfg = point_config(Path(path), method, lr, settings if seed is None else {**settings, "train.seed": seed}, epochs)
    t0 = time.time()
    with tempfile.TemporaryDirectory() as out:
        summary = run(cfg, Path(out) / "run", progress=False)
    return {"config": Path(path).name, "method": method, **settings, "lr": lr, "epochs": cfg.train.epochs,
            "seed": cfg.train.seed, "val_accuracy": summary["val_accuracy"],
            "test_accuracy": summary["test_accuracy"],
            "hidden_spike_rate": summary["hidden_spike_rate"], "seconds": round(time.time() - t0, 1)}


def aggregate(rows: list[dict], keys: list[str]) -> list[dict]:
    """One point per method x `keys` settings x lr: its seeds' validation and test
    accuracies and their means, chosen per method on the mean validation accuracy;
    each row's `chosen` says whether its point was."""
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["method"], *(r[k] for k in keys), r["lr"]), []).append(r)
    points = []
    for runs in groups.values():
        vals = [r["val_accuracy"] for r in runs]
        tests = [r["test_accuracy"] for r in runs]
        points.append({"method": runs[0]["method"], **{k: runs[0][k] for k in keys}, "lr": runs[0]["lr"],
                       "seeds": [r["seed"] for r in runs],
                       "val_accuracy": None if None in vals else statistics.mean(vals),
                       "test_accuracy": statistics.mean(tests),
                       "val_per_seed": vals, "test_per_seed": tests})
    mark_chosen(points)
    for point, runs in zip(points, groups.values()):
        for r in runs:
            r["chosen"] = point["chosen"]
    return points


def mark_chosen(rows: list[dict]) -> list[dict]:
    """Per method, the row with the best validation accuracy gets `chosen = True`."""
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        best = max(mine, key=lambda r: -1.0 if r["val_accuracy"] is None else r["val_accuracy"])
        for r in mine:
            r["chosen"] = r is best
    return rows


def _line(row: dict, grid) -> str:
    settings = " ".join(f"{k.split('.')[1]}={row[k]}" for k, _ in grid)
    val = "n/a" if row["val_accuracy"] is None else f"{row['val_accuracy']:.3f}"
    return (f"{row['method']:>5} {settings} lr {row['lr']:<7g} val {val}  test {row['test_accuracy']:.3f}  "
            f"rate {row['hidden_spike_rate']:.3f}  {row['seconds']:.0f}s")


def table(points: list[dict], keys: list[str]) -> str:
    """Markdown: one line per point; with several seeds, the mean and each seed's test."""
    seeded = any(len(p["seeds"]) > 1 for p in points)
    head = "| method | " + "".join(f"{k} | " for k in keys) + "lr | val acc. | test acc. |"
    head += " test per seed |" if seeded else ""
    lines = [head, "|" + "---|" * (len(keys) + 4 + seeded)]
    for p in points:
        mark = " *" if p["chosen"] else ""
        val = "n/a" if p["val_accuracy"] is None else f"{p['val_accuracy']:.3f}"
        line = (f"| {p['method']} | " + "".join(f"{p[k]} | " for k in keys)
                + f"{p['lr']:g} | {val}{mark} | {p['test_accuracy']:.3f} |")
        if seeded:
            line += " " + " / ".join(f"{v:.3f}" for v in p["test_per_seed"]) + " |"
        lines.append(line)
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--lrs", required=True, help="comma-separated learning rates")
    parser.add_argument("--methods", default="sbnn", help="comma-separated: sbnn, sg")
    parser.add_argument("--grid", action="append", default=[], help="section.key=v1,v2 (repeatable)")
    parser.add_argument("--epochs", type=int, default=None, help="override train.epochs (shorter sweeps)")
    parser.add_argument("--seeds", default=None, help="comma-separated train.seed values: each point "
                        "trains once per seed and is chosen on its mean validation accuracy")
    parser.add_argument("--json", type=Path, required=True)
    jobs.add_arguments(parser)
    args = parser.parse_args(argv)
    lrs = [float(v) for v in args.lrs.split(",")]
    methods = [m.strip() for m in args.methods.split(",")]
    grid = parse_grid(args.grid)
    seeds = None if args.seeds is None else [int(v) for v in args.seeds.split(",")]
    if seeds and any(key == "train.seed" for key, _ in grid):
        parser.error("give the seeds by --seeds or by --grid train.seed=..., not both")
    rows = sweep(args.config, methods, lrs, grid, args.epochs, seeds, args.jobs, args.ray)
    keys = [k for k, _ in grid]
    points = aggregate(rows, keys)
    from snnc.io import write_json

    write_json(args.json, {"command": " ".join(sys.argv), "points": points, "rows": rows})
    print(table(points, keys))
    return 0


if __name__ == "__main__":
    sys.exit(main())
