"""Evaluation data of a compiled graph: the checkpoint's own data set, encoding, class
subset and split (`data_from_graph`), as arrays (`load_split`, snnc.train.data.arrays)."""
from __future__ import annotations

from snnc.errors import InputError
from snnc.train.data.arrays import DATA_KEYS, checked_data, load_split  # noqa: F401  (the evaluation API)


def data_from_graph(graph, name: str | None = None, split: str = "test") -> dict:
    """The data config a graph was compiled with, or `name` with its defaults, or the user's
    file `name` (an `.npz` of x_train, y_train, x_test, y_test: snnc.train.data.arrays), or a
    folder of a data set's local files (read with the graph's encoding and steps)."""
    from pathlib import Path

    meta = graph.metadata.get("data") or {}
    if name is not None and (name.endswith(".npz") or Path(name).is_dir()):
        return with_base(data_file(name), meta if isinstance(meta, dict) else {},
                         {"steps": graph.metadata.get("steps")})
    if name is None and isinstance(meta, dict) and "file" in meta:
        return data_file(meta["file"])
    data = checked_data(meta)
    if name is not None and name != data.get("name"):
        data = {"name": name, "steps": graph.metadata.get("steps")}
    if not data.get("name"):
        raise InputError("this graph carries no data set (not compiled from a checkpoint): pass --data NAME")
    return data


def data_file(path) -> dict:
    """The data config of `--data PATH`: a user's `.npz` file, or a folder of a data set's local
    files in the layout tonic reads (`{"name": "shd", "root": PATH}`); one line when it is neither."""
    from pathlib import Path

    from snnc.io import require_file
    from snnc.train.data import dataset_in_folder

    if Path(path).is_dir():
        return {"name": dataset_in_folder(path), "root": str(path)}
    return {"file": str(require_file(path, "an .npz of x_train, y_train, x_test, y_test, or a data set's folder"))}


def with_base(data: dict, base: dict, defaults: dict | None = None) -> dict:
    """A folder's data config completed from `base` (the checkpoint's or graph's own data config:
    encoding, steps, classes) when it holds the same data set, else from `defaults`; a file's as is."""
    if "file" in data:
        return data
    if base.get("name") == data["name"]:
        return checked_data({**base, "root": data["root"]})
    if base.get("name"):
        raise InputError(f"{data['root']}: holds {data['name']} files, but this was trained on {base['name']}")
    return checked_data({**{k: v for k, v in (defaults or {}).items() if v is not None}, **data})
