"""`snnc adapt CKPT --target T [--data FILE.npz] --epochs N --out RUN [--lr LR]`: fine-tune a
trained checkpoint with the dynamics and integer weights the compiler deploys it with
(snnc.evaluation.adapt), then compile the checkpoint before and after and print both."""
from __future__ import annotations

import math
from pathlib import Path

from snnc.args import ArgumentParser
from snnc.errors import ConfigError, OutputError
from snnc.targets import all_targets

RUN_FILES = ("checkpoint.pt", "metrics.jsonl", "summary.json")
MAX_EPOCHS = 1_000_000   # as train.epochs (train/config.py MAXIMUM)
MAX_LR = 1e3             # as train.lr
MAX_RATE = 1e9           # as any other config number (train/config.py DEFAULT_MAXIMUM)
COLUMNS = (("float_torch", "float"), ("target_dynamics", "target dynamics"), ("deployed", "deployed"))


def cmd_adapt(argv: list[str]) -> int:
    from snnc.compiler.compile import DEFAULT_CALIBRATION

    chips = sorted(name for name, t in all_targets().items() if t.weight_grid)
    parser = ArgumentParser(prog="snnc adapt", description="fine-tune a checkpoint with a target's dynamics and "
                                                           "integer weights, the epoch chosen on validation")
    parser.add_argument("checkpoint", help="checkpoint.pt written by `snnc train` (SBNN or SG)")
    parser.add_argument("--target", required=True, choices=chips)
    parser.add_argument("--epochs", required=True, type=int, help="fine-tuning epochs (>= 1)")
    parser.add_argument("--out", required=True, help="run folder: checkpoint.pt, metrics.jsonl, summary.json")
    parser.add_argument("--lr", type=float, default=None,
                        help="learning rate, cosine down over the epochs (default: the checkpoint's train.lr)")
    parser.add_argument("--data", metavar="FILE.npz", default=None,
                        help="fine-tune, validate and evaluate on your own data (x_train, y_train, x_test, y_test; "
                             "the validation split is carved from x_train as the trainer carves it)")
    parser.add_argument("--rate-weight", type=float, default=None,
                        help="loss.rate_weight (default: the checkpoint's; 1.0 where the chip emits more spikes "
                             "per step than the net was trained to and it had no rate penalty)")
    parser.add_argument("--rate-target", type=float, default=None,
                        help="loss.rate_target: spikes per neuron and step above which the penalty acts "
                             "(default: the checkpoint's, or 0.5 with the default above)")
    parser.add_argument("--calibrate", type=int, default=DEFAULT_CALIBRATION,
                        help="training samples that size the integer scales (as compile's)")
    parser.add_argument("--force", action="store_true", help="replace a run already in --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    args = parser.parse_args(argv)
    _check_options(args)
    data = _data(args.data)
    from snnc.evaluation.adapt import prepare
    from snnc.train.adapt import fine_tune

    plan = prepare(args.checkpoint, args.target, args.epochs, args.out, lr=args.lr, data=data,
                   calibrate=args.calibrate, rate_weight=args.rate_weight, rate_target=args.rate_target)
    for note in plan.notes:
        print(f"adapt: {note}")
    shown = None if args.quiet else lambda row: _print_epoch(row, args.epochs)
    summary = fine_tune(plan.run, plan.assess, not args.quiet, shown, plan.about)
    print(f"chose epoch {summary['chosen_epoch']} of {summary['epochs']} on the validation split "
          f"(deployed {summary['val_deployed']:.4f})")
    _before_after(args, data, summary)
    return 0


def _check_options(args) -> None:
    """Bad numbers and a folder that holds another run are one line, before any work."""
    if not 1 <= args.epochs <= MAX_EPOCHS:
        raise ConfigError(f"--epochs must lie in [1, {MAX_EPOCHS}], got {args.epochs}")
    if args.lr is not None and not (math.isfinite(args.lr) and 0 < args.lr <= MAX_LR):
        raise ConfigError(f"--lr must be a finite number in (0, {MAX_LR:g}], got {args.lr}")
    for flag, value in (("--rate-weight", args.rate_weight), ("--rate-target", args.rate_target)):
        if value is not None and not (math.isfinite(value) and 0 <= value <= MAX_RATE):
            raise ConfigError(f"{flag} must be a finite number in [0, {MAX_RATE:g}], got {value}")
    if args.calibrate < 1:
        raise ConfigError(f"--calibrate must be >= 1 training samples, got {args.calibrate}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out}: is a file, not a run folder")
    present = [name for name in RUN_FILES if (out / name).exists()]
    if present and not args.force:
        raise OutputError(f"--out {out} already holds a run ({', '.join(present)}); --force replaces it")
    if Path(args.checkpoint).resolve() == (out / "checkpoint.pt").resolve():
        raise OutputError(f"--out {out}: would overwrite the checkpoint being adapted")


def _data(path) -> dict | None:
    if path is None:
        return None
    from snnc.evaluation.datasets import data_file

    data = data_file(path)
    if "file" not in data:
        raise ConfigError(f"--data {path}: adapt takes an .npz of x_train, y_train, x_test, y_test")
    return data


def _print_epoch(row: dict, epochs: int, lines: int = 25) -> None:
    """About `lines` epoch lines (always the start and the last); the progress bar shows the rest."""
    from tqdm import tqdm

    if row["epoch"] not in (0, epochs) and row["epoch"] % max(1, epochs // lines):
        return

    cells = [f"{key[4:]} {row[key]:.4f}" for key in ("val_quantised_torch", "val_target_dynamics", "val_deployed")
             if row.get(key) is not None]
    loss = f"loss {row['loss']:.4f}  " if "loss" in row else ""
    tqdm.write(f"epoch {row['epoch']:>3}  {loss}val: {'  '.join(cells)}  {row['seconds']:.1f}s")


def _before_after(args, data, summary: dict) -> None:
    """Compile both checkpoints, score each on its own data config's test split (as `snnc compile`
    does; read only now, after the epoch was chosen), print their accuracies and fidelity gates;
    summary.json records them."""
    from snnc.evaluation.compiled import compile_checkpoint, fidelity
    from snnc.io import write_json
    from snnc.targets import get as get_target

    max_drop = get_target(args.target).max_drop
    adapted = Path(args.out) / "checkpoint.pt"
    print(f"test split ({args.target}):{'':<9}" + "".join(f"{title:>17}" for _, title in COLUMNS) + "   gate")
    for when, ckpt in (("before", args.checkpoint), ("after", adapted)):
        report = compile_checkpoint(ckpt, args.target, calibrate=args.calibrate, data=data).report
        acc, gate = report["accuracy"], fidelity(report, max_drop)
        metric = "accuracy" if "accuracy" in acc["deployed"] else "agreement"
        summary[when] = {**{key: acc[key][metric] for key, _ in COLUMNS}, "metric": metric,
                         "gate": "passes" if gate is None else gate}
        verdict = "passes" if gate is None else f"refuses (drop {100 * gate['drop']:.2f} > {100 * max_drop:g} points)"
        print(f"  {when:<26}" + "".join(f"{acc[key][metric]:>17.4f}" for key, _ in COLUMNS) + f"   {verdict}")
    write_json(Path(args.out) / "summary.json", summary)
    print(f"wrote {adapted} (compile it: snnc compile {adapted} --target {args.target} --out F.snnc)")
