"""The `.snnc` file: a zip of `graph.json` (structure, scalars) and `tensors.npz`.

One generic serialiser keyed by node class name; arrays go to the npz, read
back with `allow_pickle=False`. A corrupt or foreign file raises FormatError
naming the file and what is wrong.
"""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from snnc.compiler.ir.graph import Graph
from snnc.compiler.ir.nodes import NODE_TYPES
from snnc.errors import FormatError, GraphError
from snnc.io import atomic_path

FORMAT = "snnc-graph"
FORMAT_VERSION = 1


def graph_to_dict(graph: Graph) -> tuple[dict, dict[str, np.ndarray]]:
    """Split a graph into a JSON-able dict and a dict of named arrays."""
    tensors: dict[str, np.ndarray] = {}
    nodes = []
    for name, node in graph.nodes.items():
        fields = {}
        for key, value in node.fields().items():
            if isinstance(value, np.ndarray):
                tensors[f"{name}/{key}"] = value
                fields[key] = {"tensor": f"{name}/{key}"}
            else:
                fields[key] = value
        nodes.append({"name": name, "type": type(node).__name__, "fields": fields})
    doc = {"format": FORMAT, "format_version": FORMAT_VERSION, "target": graph.target,
           "nodes": nodes, "edges": [list(e) for e in graph.edges], "metadata": graph.metadata}
    return doc, tensors


def graph_from_dict(doc: dict, tensors: dict[str, np.ndarray], source: str = "<dict>") -> Graph:
    """Rebuild a graph; every node re-validates itself on construction."""
    import snnc.targets  # noqa: F401  (the targets register their neuron kinds as node types)

    graph = Graph(target=doc["target"], metadata=doc.get("metadata", {}))
    for entry in doc["nodes"]:
        cls = NODE_TYPES.get(entry["type"])
        if cls is None:
            raise FormatError(f"{source}: unknown node type '{entry['type']}' for node '{entry['name']}'")
        fields = {k: _resolve(v, tensors, source) for k, v in entry["fields"].items()}
        try:
            graph.add(entry["name"], cls(**fields))
        except (TypeError, GraphError) as exc:
            raise FormatError(f"{source}: node '{entry['name']}': {exc}") from None
    for src, dst in doc["edges"]:
        graph.connect(src, dst)
    return graph


def _resolve(value, tensors, source):
    if isinstance(value, dict) and set(value) == {"tensor"}:
        if value["tensor"] not in tensors:
            raise FormatError(f"{source}: tensor '{value['tensor']}' missing from tensors.npz")
        return tensors[value["tensor"]]
    return value


def save(graph: Graph, path) -> Path:
    """Write `graph` to `path` atomically."""
    from snnc.compiler.ir.verify import check_graph
    check_graph(graph)
    doc, tensors = graph_to_dict(graph)
    buf = io.BytesIO()
    np.savez_compressed(buf, **tensors)
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("graph.json", json.dumps(doc, indent=1))
            zf.writestr("tensors.npz", buf.getvalue())
    return Path(path)


def load(path) -> Graph:
    """Read a `.snnc` file; raise FormatError (one line) if it is not a valid one."""
    path = Path(path)
    if not path.is_file():
        raise FormatError(f"{path}: no such file")
    try:
        with zipfile.ZipFile(path) as zf:
            doc = json.loads(zf.read("graph.json"))
            raw = zf.read("tensors.npz")
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, UnicodeDecodeError, OSError) as exc:
        raise FormatError(f"{path}: not a valid .snnc file ({_short(exc)})") from None
    _check_header(doc, path)
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            tensors = {k: npz[k] for k in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise FormatError(f"{path}: corrupt tensors.npz ({_short(exc)})") from None
    try:
        graph = graph_from_dict(doc, tensors, str(path))
        from snnc.compiler.ir.verify import check_graph
        return check_graph(graph)
    except GraphError as exc:
        raise FormatError(f"{path}: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise FormatError(f"{path}: malformed graph.json ({_short(exc)})") from None


def _check_header(doc, path):
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise FormatError(f"{path}: not an snnc graph (graph.json has no format '{FORMAT}')")
    if doc.get("format_version") != FORMAT_VERSION:
        raise FormatError(f"{path}: format version {doc.get('format_version')} is not supported "
                          f"(this snnc reads version {FORMAT_VERSION})")


def _short(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:160]
