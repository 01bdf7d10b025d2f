"""Learning-rate (and setting) sweep selected on the validation split, test reported once.

    python benchmarks/lr_sweep.py --config configs/digits_resnet.toml --lrs 5e-4,1e-3,2e-3,5e-3 \
        --methods sbnn,sg --epochs 30 --json sweep.json
    python benchmarks/lr_sweep.py --config configs/digits_seq_sbnn.toml --lrs 1e-2 \
        --grid model.readout=mean,leaky --grid model.tau_mem=1,10 --json seq.json

Every point trains the config with one lr (and one combination of the `--grid`
settings) for each method (`sbnn`: the config's SBNN; `sg`: the same net with
`method.name = "sg"`, snnTorch surrogate gradients), then reads its summary:
`val_accuracy` (posterior mean on the held-out validation split, see
`snnc.train.data`) and `test_accuracy`. Per method the point with the highest
validation accuracy is chosen (ties: the first in the order given) and marked
`*`; its test accuracy is the number to report. The test column of the other
points is printed for transparency only: it never takes part in the choice.

Threads and processes: one process, points one after another; torch uses the
config's `train.threads` (1 in the digits configs).
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path


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


def sweep(path: Path, methods: list[str], lrs: list[float], grid, epochs: int | None) -> list[dict]:
    from snnc.train.trainer import run

    rows = []
    combos = [dict(zip([k for k, _ in grid], values)) for values in itertools.product(*[v for _, v in grid])]
    for method, settings, lr in itertools.product(methods, combos, lrs):
        cfg = point_config(path, method, lr, settings, epochs)
        t0 = time.time()
        with tempfile.TemporaryDirectory() as out:
            summary = run(cfg, Path(out) / "run", progress=False)
        rows.append({"config": path.name, "method": method, **settings, "lr": lr, "epochs": cfg.train.epochs,
                     "seed": cfg.train.seed, "val_accuracy": summary["val_accuracy"],
                     "test_accuracy": summary["test_accuracy"],
                     "hidden_spike_rate": summary["hidden_spike_rate"], "seconds": round(time.time() - t0, 1)})
        print(_line(rows[-1], grid), flush=True)
    return mark_chosen(rows)


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


def table(rows: list[dict], grid) -> str:
    keys = [k for k, _ in grid]
    head = "| method | " + "".join(f"{k} | " for k in keys) + "lr | val acc. | test acc. |"
    lines = [head, "|" + "---|" * (len(keys) + 4)]
    for r in rows:
        mark = " *" if r["chosen"] else ""
        val = "n/a" if r["val_accuracy"] is None else f"{r['val_accuracy']:.3f}"
        lines.append(f"| {r['method']} | " + "".join(f"{r[k]} | " for k in keys)
                     + f"{r['lr']:g} | {val}{mark} | {r['test_accuracy']:.3f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--lrs", required=True, help="comma-separated learning rates")
    parser.add_argument("--methods", default="sbnn", help="comma-separated: sbnn, sg")
    parser.add_argument("--grid", action="append", default=[], help="section.key=v1,v2 (repeatable)")
    parser.add_argument("--epochs", type=int, default=None, help="override train.epochs (shorter sweeps)")
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args(argv)
    lrs = [float(v) for v in args.lrs.split(",")]
    methods = [m.strip() for m in args.methods.split(",")]
    grid = parse_grid(args.grid)
    rows = sweep(args.config, methods, lrs, grid, args.epochs)
    from snnc.io import write_json

    write_json(args.json, {"command": " ".join(sys.argv), "rows": rows})
    print(table(rows, grid))
    return 0


if __name__ == "__main__":
    sys.exit(main())
