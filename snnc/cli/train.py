"""`snnc train --config FILE.toml --out DIR [--resume]`."""
from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from snnc.args import ArgumentParser
from snnc.errors import ConfigError, OutputError
from snnc.train import config as config_mod

RUN_FILES = ("checkpoint.pt", "metrics.jsonl", "summary.json")


def _check_out(out: Path, args) -> None:
    """--out must be a folder (or not exist); a fresh run does not overwrite another run
    unless --force; --resume without a checkpoint says that it starts fresh."""
    for up in (out, *out.parents):
        if up.exists():
            if not up.is_dir():
                raise OutputError(f"--out {out}: {'is' if up == out else f'lies under {up}, which is'} a file, "
                                  f"not a run folder")
            break
    if args.resume and args.force:
        raise ConfigError("give --resume or --force, not both")
    if args.resume:
        if not (out / "checkpoint.pt").exists() and _is_main():
            print(f"--resume: no checkpoint in {out}; starting fresh", file=sys.stderr)
        return
    present = [name for name in RUN_FILES if (out / name).exists()]
    if present and not args.force:
        raise OutputError(f"--out {out} already holds a run ({', '.join(present)}); "
                          f"--resume continues it, --force starts over")


def _is_kan_config(path) -> bool:
    """Readable TOML with a [kan] table (checked without importing torch); anything
    else goes to the SBNN loader, whose errors name what is wrong."""
    import tomllib

    p = Path(path)
    try:
        if not p.is_file() or p.stat().st_size > config_mod.MAX_CONFIG_BYTES:
            return False
        return isinstance(tomllib.loads(p.read_bytes().decode("utf-8")).get("kan"), dict)
    except (OSError, ValueError, RecursionError):
        return False


def _interrupted(epochs_saved) -> None:
    """Ctrl-C: one line, then die of SIGINT as an interrupted program should."""
    if _is_main():
        if epochs_saved:
            print(f"interrupted after epoch {epochs_saved}; continue with --resume", file=sys.stderr)
        else:
            print("interrupted before the first epoch was saved; nothing to resume", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGINT)
    raise SystemExit(130)  # not reached where SIGINT kills


def cmd_train(argv: list[str]) -> int:
    parser = ArgumentParser(prog="snnc train", description="train an SBNN, binary or SG net from a TOML config")
    parser.add_argument("--config", required=True, help="TOML file (see configs/)")
    parser.add_argument("--out", required=True, help="run folder: checkpoint.pt, metrics.jsonl, summary.json")
    parser.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.pt")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    parser.add_argument("--force", action="store_true",
                        help="start a fresh run in a folder that already holds one (its metrics are replaced)")
    args = parser.parse_args(argv)
    if _is_kan_config(args.config):  # a [kan] table: the KAN regression run (snnc.train.kan.run)
        from snnc.train.kan.run import cmd_train_kan
        return cmd_train_kan(args, _check_out)
    cfg = config_mod.load(args.config)
    out = Path(args.out)
    _check_out(out, args)
    from snnc.train.trainer import run

    try:
        summary = run(cfg, args.out, resume=args.resume, progress=not args.quiet)
    except KeyboardInterrupt as exc:
        _interrupted(getattr(exc, "epochs_saved", None))
    if summary.get("test_accuracy") is not None and _is_main():
        keys = ("val_accuracy", "test_accuracy", "test_accuracy_stochastic", "test_accuracy_sampled",
                "hidden_spike_rate", "epochs", "seconds", "device")
        print(json.dumps({k: summary.get(k) for k in keys}))
    return 0


def _is_main() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"
