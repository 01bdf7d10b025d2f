"""`snnc data export NAME|CKPT FILE.npz`: a built-in data set, or a checkpoint's own data (its
encoding, steps and class subset), as the `.npz` every `--data FILE.npz` takes: x_train (the
training part, validation samples held out as the trainer does), y_train, x_test, y_test."""
from __future__ import annotations

from pathlib import Path

from snnc.args import ArgumentParser


def cmd_data(argv: list[str]) -> int:
    import numpy as np

    from snnc.evaluation.datasets import load_split
    from snnc.io import atomic_path, check_writable

    parser = ArgumentParser(prog="snnc data", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("export",))
    parser.add_argument("source", help="a data set name (digits, digits-seq, ...) or a checkpoint.pt")
    parser.add_argument("out", help="the .npz to write")
    args = parser.parse_args(argv)
    check_writable(args.out)
    data = _data_config(args.source)
    arrays = {}
    for split in ("train", "test"):
        arrays[f"x_{split}"], arrays[f"y_{split}"] = load_split(data, split)
    with atomic_path(args.out) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    print(f"wrote {args.out}: " + ", ".join(f"{k} {v.dtype} {v.shape}" for k, v in arrays.items()))
    return 0


def _data_config(source: str) -> dict:
    """A checkpoint's own data config (what it was trained on), or a named set's defaults."""
    if Path(source).is_file():
        from snnc.train.checkpoint import checkpoint_info

        data = dict(checkpoint_info(source)["config"]["data"])
        return {k: v for k, v in data.items() if v is not None and k != "limit"}
    return {"name": source}
