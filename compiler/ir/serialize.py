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
import tokenize
import zipfile
import zlib
from pathlib import Path

import numpy as np

from snnc.compiler.ir.graph import Graph
from snnc.compiler.ir.metadata import check_metadata
from snnc.compiler.ir.nodes import NODE_TYPES, TARGET_NAMES
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
    return _build(doc, tensors, source, consume=False)


def _build(doc: dict, tensors: dict[str, np.ndarray], source: str, consume: bool) -> Graph:
    """`graph_from_dict`; with `consume`, each array leaves `tensors` as its node takes it
    (the node keeps its own int64/float32 copy, so the file's array is freed at once)."""
    graph = Graph(target=doc["target"], metadata=doc.get("metadata", {}))
    for entry in doc["nodes"]:
        cls = NODE_TYPES.get(entry["type"])
        if cls is None:
            raise FormatError(f"{source}: unknown node type '{entry['type'][:80]}' for node '{entry['name'][:80]}'")
        fields = {k: _resolve(v, tensors, source, consume) for k, v in entry["fields"].items()}
        try:
            graph.add(entry["name"], cls(**fields))
        except (TypeError, GraphError) as exc:
            raise FormatError(f"{source}: node '{entry['name'][:80]}': {exc}") from None
        del fields
    for src, dst in doc["edges"]:
        graph.connect(src, dst)
    return graph


def _resolve(value, tensors, source, consume=False):
    if isinstance(value, dict) and set(value) == {"tensor"}:
        if value["tensor"] not in tensors:
            raise FormatError(f"{source}: tensor '{value['tensor']}' missing from tensors.npz")
        return tensors.pop(value["tensor"]) if consume else tensors[value["tensor"]]
    return value


def save(graph: Graph, path) -> Path:
    """Write `graph` to `path` atomically, after checking that `load` reads the bytes back:
    a value no .snnc file can hold (an integer beyond 2^53, a NaN, a size beyond a reader's
    limit) is one GraphError naming the node and field (or metadata key), and nothing is written."""
    from snnc.compiler.ir.verify import check_graph
    check_graph(graph)
    doc, tensors = graph_to_dict(graph)
    _check_values(doc, path)
    raw_doc = json.dumps(doc, indent=1, allow_nan=False).encode("utf-8")
    buf = io.BytesIO()
    np.savez_compressed(buf, **tensors)
    raw_npz = buf.getvalue()
    try:
        _decode(raw_doc, raw_npz, path)   # the reader's own checks, on the very bytes to be written
    except FormatError as exc:
        text = str(exc)
        text = text[len(f"{path}: "):] if text.startswith(f"{path}: ") else text
        raise GraphError(f"{path}: not written: load would refuse it ({text})") from None
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("graph.json", raw_doc)
            zf.writestr("tensors.npz", raw_npz)
    return Path(path)


# Limits checked before anything is inflated or allocated: a .snnc file declares
# its sizes (zip member sizes, npy headers, node sizes) and is refused when they
# exceed what any graph for a supported target needs. Together they keep the peak
# memory of a load (or of a refusal) under about 1 GB and its time linear in the file.
MAX_JSON_BYTES = 8 << 20         # graph.json, inflated. Parsed, JSON takes up to ~24x its size as Python
                                 # objects ('[{},{},..]': 16 MiB -> 385 MB, measured), which the graph keeps;
                                 # a compiled graph.json holds names and scalars only (tensors are in
                                 # tensors.npz): one of 8,000 synapses is 1.9 MB as save writes it
MAX_TENSOR_BYTES = 256 << 20     # tensors.npz, inflated, and the sum of its arrays' bytes
MAX_TENSOR_ELEMENTS = 1 << 25    # sum of the arrays' elements: nodes hold them as int64 or float32
                                 # (<= 8 bytes), so a loaded graph's arrays stay <= 256 MiB whatever
                                 # dtype the file uses (int8 weights would widen 8x). Need (computed from
                                 # compiler/frontend/checkpoint.py): the largest graph compiled from the
                                 # shipped configs, digits-seq srnn with --mode samples --k 64, holds
                                 # 16.8M (a 4096x4096 block-diagonal recurrent matrix); Xylo's largest
                                 # (1000 hidden, 2 synaptic states) 2M
MAX_POPULATION = 1 << 22         # neurons (or channels) in one node
MAX_NEURONS = 1 << 22            # sum of the `size` of all nodes: each neuron holds a few int64/float32
                                 # parameters (LoihiLIF: 5, 40 bytes), <= ~200 MB in all; 32x the 131,072
                                 # compartments of a Loihi chip (Davies et al., IEEE Micro 38(1), 2018)
MAX_NODES = 1 << 15              # nodes (estimate: a compiled net has 3 per layer; a node is ~250 bytes
                                 # of graph.json as save writes it, so MAX_JSON_BYTES holds about this many)
MAX_EDGES = 1 << 17              # edges (4 per node; a Synapse has 2)
MAX_JSON_DEPTH = 64              # nesting of graph.json (a graph needs about 6)
MAX_INT = (1 << 53)              # any integer in graph.json (JSON readers hold numbers as doubles)
_DEPTH_CHUNK = 1 << 16           # bytes per step of the nesting scan (its only memory)


def load(path) -> Graph:
    """Read a `.snnc` file; raise FormatError (one line) if it is not a valid one."""
    path = Path(path)
    if not path.exists():
        raise FormatError(f"{path}: no such file")
    if not path.is_file():
        raise FormatError(f"{path}: not a regular file")
    try:
        with zipfile.ZipFile(path) as zf:
            info_doc = _member(zf, "graph.json", MAX_JSON_BYTES, path)
            info_npz = _member(zf, "tensors.npz", MAX_TENSOR_BYTES, path)
            raw_doc = zf.read(info_doc)
            doc = _parse_doc(raw_doc, path)   # nodes, edges and sizes checked before any tensor is read
            del raw_doc
            raw = zf.read(info_npz)
    except FormatError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, OSError, EOFError, zlib.error,
            NotImplementedError, RuntimeError, ValueError, OverflowError, MemoryError) as exc:
        raise FormatError(f"{path}: not a valid .snnc file ({_short(exc)})") from None
    tensors = _read_npz(raw, path)
    del raw
    return _to_graph(doc, tensors, path)


def _decode(raw_doc: bytes, raw_npz: bytes, path) -> Graph:
    """What `load` makes of a graph.json and a tensors.npz (save runs it before writing)."""
    for raw, name, limit in ((raw_doc, "graph.json", MAX_JSON_BYTES), (raw_npz, "tensors.npz", MAX_TENSOR_BYTES)):
        if len(raw) > limit:
            raise FormatError(f"{path}: {name} declares {len(raw)} bytes inflated, more than the "
                              f"{limit >> 20} MiB limit")
    doc = _parse_doc(raw_doc, path)
    return _to_graph(doc, _read_npz(raw_npz, path), path)


def _parse_doc(raw_doc: bytes, path) -> dict:
    """graph.json parsed and checked (header, types, sizes, counts) before any tensor is read."""
    doc = _parse_json(raw_doc, path)
    _check_header(doc, path)
    try:
        _check_doc(doc, path)
    except FormatError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError, RecursionError) as exc:
        raise FormatError(f"{path}: malformed graph.json ({_short(exc)})") from None
    return doc


def _to_graph(doc: dict, tensors: dict[str, np.ndarray], path) -> Graph:
    try:
        graph = _build(doc, tensors, str(path), consume=True)
        from snnc.compiler.ir.verify import check_graph
        return check_graph(graph)
    except FormatError:
        raise
    except GraphError as exc:
        raise FormatError(f"{path}: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError,
            RecursionError, MemoryError) as exc:
        raise FormatError(f"{path}: malformed graph.json ({_short(exc)})") from None


def _member(zf: zipfile.ZipFile, name: str, limit: int, where) -> zipfile.ZipInfo:
    """One zip member's entry, refused before inflating when it is encrypted, compressed
    with a method other than stored/deflate, or declares more than `limit`."""
    info = zf.getinfo(name)  # KeyError: missing
    _check_info(info, limit, f"{where}: {name}")
    return info


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


_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_OPEN, _CLOSE = (ord("["), ord("{")), (ord("]"), ord("}"))


def _json_depth(raw: bytes) -> int:
    """Deepest bracket nesting outside strings: one pass over the bytes in fixed chunks,
    so time is linear in the length and the extra memory is a few chunk-sized arrays,
    however long a string or a run of brackets is. A quote after an odd run of
    backslashes is escaped (inside a string); UTF-8 continuation bytes are never ASCII."""
    data = np.frombuffer(raw, np.uint8)
    depth = best = 0
    in_string = 0      # 1 while the scan is inside a string
    run = 0            # backslashes ending the previous chunk
    for start in range(0, len(data), _DEPTH_CHUNK):
        c = data[start:start + _DEPTH_CHUNK]
        n = len(c)
        index = np.arange(n, dtype=np.int64)
        is_backslash = c == _BACKSLASH
        last = np.where(is_backslash, -1, index)             # last non-backslash at or before i
        np.maximum.accumulate(last, out=last)
        before = np.empty(n, np.int64)                        # backslashes just before i
        before[0] = run
        before[1:] = np.where(last[:-1] < 0, index[1:] + run, index[1:] - 1 - last[:-1])
        quote = (c == _QUOTE) & (before % 2 == 0)
        inside = (np.cumsum(quote, dtype=np.int64) + in_string) & 1
        step = (((c == _OPEN[0]) | (c == _OPEN[1])).astype(np.int64)
                - ((c == _CLOSE[0]) | (c == _CLOSE[1])).astype(np.int64)) * (inside == 0)
        level = np.cumsum(step) + depth
        if n:
            best = max(best, int(level.max()))
            depth = int(level[-1])
            in_string = int(inside[-1])
            run = int(run + n if last[-1] < 0 else n - 1 - last[-1])
    return best


def _read_npz(raw: bytes, path) -> dict[str, np.ndarray]:
    """The arrays of tensors.npz, each npy header checked (dtype, shape, size against the
    bytes present and the limits) before its array is allocated; each array is read
    straight from its inflating member (no second copy of its bytes); never unpickles."""
    tensors: dict[str, np.ndarray] = {}
    total = elements = 0
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as inner:
            for info in inner.infolist():
                what = f"{path}: tensors.npz member '{info.filename[:80]}'"
                _check_info(info, MAX_TENSOR_BYTES - total, what)
                total += info.file_size
                if not info.filename.endswith(".npy"):
                    raise FormatError(f"{what} is not an .npy array")
                with inner.open(info) as fp:
                    arr = read_npy(fp, info.file_size, what, FormatError,
                                   max_elements=MAX_TENSOR_ELEMENTS - elements,
                                   limit_text=_left(MAX_TENSOR_ELEMENTS, elements, "elements", "all tensors"))
                    while fp.read(1 << 16):  # to the end, in small pieces: zipfile checks the CRC there
                        pass
                elements += arr.size
                tensors[info.filename[:-4]] = arr
    except FormatError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, zlib.error, NotImplementedError,
            RuntimeError, ValueError, TypeError, SyntaxError, OverflowError, MemoryError, KeyError,
            RecursionError, tokenize.TokenError) as exc:
        raise FormatError(f"{path}: corrupt tensors.npz ({_short(exc)})") from None
    return tensors


def _left(limit: int, used: int, unit: str, what: str) -> str:
    whole = f"the {limit}-{unit[:-1]} limit on {what}"
    return whole if not used else f"the {limit - used} {unit} left of {whole}"


def _check_doc(doc: dict, path) -> None:
    """Types and sizes of graph.json's values before any node is built: integer fields
    hold JSON integers (not 6.7, not true), sizes are bounded (each, and summed over the
    graph), names are strings, each tensor belongs to one field."""
    if not isinstance(doc.get("nodes"), list) or not isinstance(doc.get("edges"), list):
        raise FormatError(f"{path}: malformed graph.json ('nodes' and 'edges' must be lists)")
    if not isinstance(doc.get("target"), str):
        raise FormatError(f"{path}: malformed graph.json ('target' must be a string)")
    if not isinstance(doc.get("metadata", {}), dict):
        raise FormatError(f"{path}: malformed graph.json ('metadata' must be an object)")
    known = TARGET_NAMES
    if doc["target"] not in known:
        raise FormatError(f"{path}: target '{doc['target'][:40]}' unknown (known: {', '.join(sorted(known))})")
    try:
        check_metadata(doc.get("metadata", {}))
    except GraphError as exc:
        raise FormatError(f"{path}: {exc}") from None
    for key, limit in (("nodes", MAX_NODES), ("edges", MAX_EDGES)):
        if len(doc[key]) > limit:
            raise FormatError(f"{path}: graph.json has {len(doc[key])} {key}, more than the limit of {limit}")
    neurons = 0
    owner: dict[str, str] = {}
    for entry in doc["nodes"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) \
                or not isinstance(entry.get("type"), str) or not isinstance(entry.get("fields"), dict):
            raise FormatError(f"{path}: malformed graph.json (each node needs a string 'name', "
                              f"a string 'type' and an object 'fields')")
        cls = NODE_TYPES.get(entry["type"])
        if cls is None:
            continue  # graph_from_dict names it
        kinds = _field_kinds(cls)
        for key, value in entry["fields"].items():
            where = f"{path}: node '{entry['name'][:80]}' field '{str(key)[:40]}'"
            if key not in kinds:
                raise FormatError(f"{where}: unknown field for {entry['type']}")
            _check_field(where, key, kinds[key], value)
            if key == "size" and isinstance(value, int):
                neurons += value
                if neurons > MAX_NEURONS:
                    raise FormatError(f"{where}: the nodes' sizes add up to more than the limit of "
                                      f"{MAX_NEURONS} neurons and channels")
            if isinstance(value, dict) and set(value) == {"tensor"}:
                name = value["tensor"]
                if name in owner:
                    raise FormatError(f"{where}: tensor '{name[:80]}' already belongs to {owner[name]} "
                                      f"(each tensor holds one field)")
                owner[name] = f"node '{entry['name'][:80]}' field '{str(key)[:40]}'"
    for edge in doc["edges"]:
        if not (isinstance(edge, list) and len(edge) == 2 and all(isinstance(e, str) for e in edge)):
            raise FormatError(f"{path}: malformed graph.json (an edge must be [source, target] names, "
                              f"got {str(edge)[:60]})")


def _check_values(doc: dict, path) -> None:
    """Before writing: every value of graph.json is one the reader takes back, named when
    not (an integer beyond 2^53, a NaN or infinity, a non-JSON object, nesting too deep)."""
    for entry in doc["nodes"]:
        for key, value in entry["fields"].items():   # inside {doc: [nodes: {node: {fields:
            _check_value(value, f"node '{entry['name'][:80]}' field '{str(key)[:40]}'", path, 4)
    _check_value(doc["metadata"], "metadata", path, 1)


def _check_value(value, where: str, path, depth: int) -> None:
    """`value`, found inside `depth` brackets of graph.json."""
    if isinstance(value, (dict, list, tuple)) and depth + 1 > MAX_JSON_DEPTH:
        raise GraphError(f"{path}: {where} is nested more than {MAX_JSON_DEPTH} deep (load would refuse it); "
                         f"not written")
    if value is None or isinstance(value, (bool, str)):
        return
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            raise GraphError(f"{path}: {where} = {str(value)[:40]} is beyond 2^53, the largest integer a "
                             f".snnc file holds (load would refuse it); not written")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise GraphError(f"{path}: {where} = {value} is not a finite number (load would refuse it); "
                             f"not written")
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise GraphError(f"{path}: {where} has a key {str(key)[:40]!r} that is not a string; not written")
            _check_value(item, f"{where}.{key[:40]}" if where.startswith("metadata") else where, path, depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_value(item, where, path, depth + 1)
    else:
        raise GraphError(f"{path}: {where} holds a {type(value).__name__}, not a JSON value; not written")


_KINDS: dict[type, dict[str, str]] = {}


def _field_kinds(cls) -> dict[str, str]:
    """Field name -> kind of a node class (computed once per class)."""
    if cls not in _KINDS:
        _KINDS[cls] = {f.name: _kind(f.type) for f in dataclasses.fields(cls)}
    return _KINDS[cls]


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
