"""The `.snnc` file: a zip of `graph.json` (structure, scalars) and `tensors.npz`.

One generic serialiser keyed by node class name; arrays go to the npz, read
back with `allow_pickle=False`. A corrupt or foreign file raises FormatError
naming the file and what is wrong.
"""
from __future__ import annotations

import dataclasses
import io
import json
import math
import re
import tokenize
import zipfile
import zlib
from pathlib import Path

import numpy as np

from snnc.compiler.ir.graph import Graph
from snnc.compiler.ir.nodes import NODE_TYPES
from snnc.errors import FormatError, GraphError
from snnc.io import atomic_path, read_npy

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


# Limits checked before anything is inflated or allocated: a .snnc file declares
# its sizes (zip member sizes, npy headers, node sizes) and is refused when they
# exceed what any graph for a supported target needs.
MAX_JSON_BYTES = 64 << 20        # graph.json, inflated
MAX_TENSOR_BYTES = 256 << 20     # tensors.npz, inflated, and the sum of its arrays
MAX_POPULATION = 1 << 22         # neurons (or channels) in one node
MAX_JSON_DEPTH = 64              # nesting of graph.json (a graph needs about 6)
MAX_INT = (1 << 53)              # any integer in graph.json


def load(path) -> Graph:
    """Read a `.snnc` file; raise FormatError (one line) if it is not a valid one."""
    path = Path(path)
    if not path.exists():
        raise FormatError(f"{path}: no such file")
    if not path.is_file():
        raise FormatError(f"{path}: not a regular file")
    try:
        with zipfile.ZipFile(path) as zf:
            raw_doc = _read_member(zf, "graph.json", MAX_JSON_BYTES, path)
            raw = _read_member(zf, "tensors.npz", MAX_TENSOR_BYTES, path)
    except FormatError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, OSError, EOFError, zlib.error,
            NotImplementedError, RuntimeError, ValueError, OverflowError, MemoryError) as exc:
        raise FormatError(f"{path}: not a valid .snnc file ({_short(exc)})") from None
    doc = _parse_json(raw_doc, path)
    _check_header(doc, path)
    tensors = _read_npz(raw, path)
    try:
        _check_doc(doc, path)
        graph = graph_from_dict(doc, tensors, str(path))
        from snnc.compiler.ir.verify import check_graph
        return check_graph(graph)
    except FormatError:
        raise
    except GraphError as exc:
        raise FormatError(f"{path}: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError,
            RecursionError, MemoryError) as exc:
        raise FormatError(f"{path}: malformed graph.json ({_short(exc)})") from None


def _read_member(zf: zipfile.ZipFile, name: str, limit: int, where) -> bytes:
    """One zip member's bytes, refused before inflating when it is encrypted,
    compressed with a method other than stored/deflate, or declares more than `limit`."""
    info = zf.getinfo(name)  # KeyError: missing
    _check_info(info, limit, f"{where}: {name}")
    return zf.read(info)


def _check_info(info: zipfile.ZipInfo, limit: int, what: str) -> None:
    if info.flag_bits & 0x1:
        raise FormatError(f"{what} is encrypted (snnc files are never encrypted)")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise FormatError(f"{what} uses compression method {info.compress_type} "
                          f"(only stored and deflate are read)")
    if info.file_size > limit:
        raise FormatError(f"{what} declares {info.file_size} bytes inflated, more than the "
                          f"{limit >> 20} MiB limit")
    if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
        raise FormatError(f"{what}: stored member with compressed size {info.compress_size} "
                          f"!= size {info.file_size}")


def _parse_json(raw: bytes, path) -> dict:
    def bad_constant(name):
        raise ValueError(f"{name} is not a JSON number")

    def checked_float(text):
        value = float(text)
        if not math.isfinite(value):
            raise ValueError(f"number {text[:40]} is out of range")
        return value

    def checked_int(text):
        if len(text) > 20 or abs(int(text)) > MAX_INT:
            raise ValueError(f"integer {text[:40]} is out of range")
        return int(text)

    depth = _json_depth(raw)
    if depth > MAX_JSON_DEPTH:
        raise FormatError(f"{path}: malformed graph.json (nested {depth} deep, at most {MAX_JSON_DEPTH})")
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=bad_constant, parse_float=checked_float,
                          parse_int=checked_int)
    except (ValueError, UnicodeDecodeError, RecursionError, MemoryError) as exc:
        raise FormatError(f"{path}: graph.json is not valid JSON ({_short(exc)})") from None


def _json_depth(raw: bytes) -> int:
    """Deepest bracket nesting outside strings (a cheap scan before parsing)."""
    text = raw.decode("utf-8", errors="replace")
    if "[" not in text and "{" not in text:
        return 0
    # strings cannot contain raw brackets that matter once removed
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)
    depth = best = 0
    for ch in re.findall(r"[\[\]{}]", text):
        depth += 1 if ch in "[{" else -1
        best = max(best, depth)
    return best


def _read_npz(raw: bytes, path) -> dict[str, np.ndarray]:
    """The arrays of tensors.npz, each npy header checked (dtype, shape, size against the
    bytes present and the limit) before its array is allocated; never unpickles."""
    tensors: dict[str, np.ndarray] = {}
    total = 0
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as inner:
            for info in inner.infolist():
                what = f"{path}: tensors.npz member '{info.filename[:80]}'"
                _check_info(info, MAX_TENSOR_BYTES - total, what)
                data = inner.read(info)
                total += len(data)
                if not info.filename.endswith(".npy"):
                    raise FormatError(f"{what} is not an .npy array")
                tensors[info.filename[:-4]] = _read_npy(data, what)
    except FormatError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, zlib.error, NotImplementedError,
            RuntimeError, ValueError, TypeError, SyntaxError, OverflowError, MemoryError, KeyError,
            RecursionError, tokenize.TokenError) as exc:
        raise FormatError(f"{path}: corrupt tensors.npz ({_short(exc)})") from None
    return tensors


def _read_npy(data: bytes, what: str) -> np.ndarray:
    return read_npy(io.BytesIO(data), len(data), what, FormatError)


def _check_doc(doc: dict, path) -> None:
    """Types and sizes of graph.json's values before any node is built: integer fields
    hold JSON integers (not 6.7, not true), sizes are bounded, names are strings."""
    import snnc.targets  # noqa: F401

    if not isinstance(doc.get("nodes"), list) or not isinstance(doc.get("edges"), list):
        raise FormatError(f"{path}: malformed graph.json ('nodes' and 'edges' must be lists)")
    if not isinstance(doc.get("target"), str):
        raise FormatError(f"{path}: malformed graph.json ('target' must be a string)")
    if not isinstance(doc.get("metadata", {}), dict):
        raise FormatError(f"{path}: malformed graph.json ('metadata' must be an object)")
    for entry in doc["nodes"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) \
                or not isinstance(entry.get("type"), str) or not isinstance(entry.get("fields"), dict):
            raise FormatError(f"{path}: malformed graph.json (each node needs a string 'name', "
                              f"a string 'type' and an object 'fields')")
        cls = NODE_TYPES.get(entry["type"])
        if cls is None:
            continue  # graph_from_dict names it
        kinds = {f.name: _kind(f.type) for f in dataclasses.fields(cls)}
        for key, value in entry["fields"].items():
            where = f"{path}: node '{entry['name'][:80]}' field '{str(key)[:40]}'"
            if key not in kinds:
                raise FormatError(f"{where}: unknown field for {entry['type']}")
            _check_field(where, key, kinds[key], value)
    for edge in doc["edges"]:
        if not (isinstance(edge, list) and len(edge) == 2 and all(isinstance(e, str) for e in edge)):
            raise FormatError(f"{path}: malformed graph.json (an edge must be [source, target] names, "
                              f"got {str(edge)[:60]})")


def _kind(annotation) -> str:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    text = text.replace(" ", "")
    if text in ("int",):
        return "int"
    if text in ("float",):
        return "float"
    if text in ("bool",):
        return "bool"
    if text in ("str",):
        return "str"
    if "ndarray" in text:
        return "array"
    return "any"


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_field(where: str, key: str, kind: str, value) -> None:
    if isinstance(value, dict) and set(value) == {"tensor"}:
        if kind in ("int", "float", "bool", "str") or not isinstance(value["tensor"], str):
            raise FormatError(f"{where}: expected a {kind}, got a tensor reference")
        return
    if kind == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            raise FormatError(f"{where}: expected an integer, got {json.dumps(value)[:40]}")
        if key == "size" and not 0 <= value <= MAX_POPULATION:
            raise FormatError(f"{where}: size {value} is outside 0..{MAX_POPULATION}")
    elif kind == "float":
        if not _is_number(value):
            raise FormatError(f"{where}: expected a number, got {json.dumps(value)[:40]}")
    elif kind == "bool":
        if not isinstance(value, bool):
            raise FormatError(f"{where}: expected true or false, got {json.dumps(value)[:40]}")
    elif kind == "str":
        if not isinstance(value, str):
            raise FormatError(f"{where}: expected a string, got {json.dumps(value)[:40]}")
    elif kind == "array":
        flat = value if isinstance(value, list) else [value]
        if len(flat) > MAX_POPULATION or not all(_is_number(v) and abs(v) <= MAX_INT for v in flat):
            raise FormatError(f"{where}: expected a number or a tensor reference, got {json.dumps(value)[:40]}")


def _check_header(doc, path):
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise FormatError(f"{path}: not an snnc graph (graph.json has no format '{FORMAT}')")
    if doc.get("format_version") != FORMAT_VERSION:
        raise FormatError(f"{path}: format version {doc.get('format_version')} is not supported "
                          f"(this snnc reads version {FORMAT_VERSION})")


def _short(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:160]
