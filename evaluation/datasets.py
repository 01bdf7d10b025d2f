"""Evaluation data of a compiled graph: the checkpoint's own data set, encoding, class
subset and split (`data_from_graph`), as arrays (`load_split`, snnc.train.data.arrays)."""
from __future__ import annotations

from snnc.errors import InputError
from snnc.train.data.arrays import DATA_KEYS, checked_data, load_split  # noqa: F401  (the evaluation API)


def data_from_graph(graph, name: str | None = None, split: str = "test") -> dict:
    """The data config a graph was compiled with, or `name` with its defaults, or the user's
    file `name` (an `.npz` of x_train, y_train, x_test, y_test: snnc.train.data.arrays)."""
    if name is not None and name.endswith(".npz"):
        return data_file(name)
    meta = graph.metadata.get("data") or {}
    if name is None and isinstance(meta, dict) and "file" in meta:
        return data_file(meta["file"])
    data = checked_data(meta)
    if name is not None and name != data.get("name"):
        data = {"name": name, "steps": graph.metadata.get("steps")}
    if not data.get("name"):
        raise InputError("this graph carries no data set (not compiled from a checkpoint): pass --data NAME")
    return data


def data_file(path) -> dict:
    """The data config of a user's `.npz` file: one line when it is not a readable regular file."""
    from snnc.io import require_file

    return {"file": str(require_file(path, "an .npz of x_train, y_train, x_test, y_test"))}
