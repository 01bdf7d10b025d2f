"""`snnc train --config FILE.toml --out DIR [--resume]`."""
from __future__ import annotations

import argparse
import json

from snnc.train import config as config_mod


def cmd_train(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="snnc train", description="train an SBNN, binary or SG net from a TOML config")
    parser.add_argument("--config", required=True, help="TOML file (see configs/)")
    parser.add_argument("--out", required=True, help="run folder: checkpoint.pt, metrics.jsonl, summary.json")
    parser.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.pt")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    args = parser.parse_args(argv)
    cfg = config_mod.load(args.config)
    from snnc.train.trainer import run  # torch is imported only for a valid config

    summary = run(cfg, args.out, resume=args.resume, progress=not args.quiet)
    if summary.get("test_accuracy") is not None and _is_main():
        print(json.dumps({k: summary[k] for k in ("test_accuracy", "test_accuracy_sampled",
                                                   "hidden_spike_rate", "epochs", "seconds", "device")}))
    return 0


def _is_main() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"
