"""Corrupt `.snnc` containers: every zip and npy header field, deflate corruption, bombs,
hostile JSON. The reader returns a graph or raises FormatError (one line), never anything
else, and it refuses before inflating or allocating what a header declares."""
from __future__ import annotations

import io
import json
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest

from snnc.compiler.ir import load, serialize
from snnc.compiler.ir.graph import Graph
from snnc.errors import FormatError
from tests.fuzz.helpers import assert_one_line_refusal, run_cli

HOSTILE_BYTES = (0x00, 0xFF, 0x7F, 0x80)


def _load_ok_or_format_error(path):
    try:
        graph = load(path)
    except FormatError as exc:
        assert "\n" not in str(exc)
        return None
    assert isinstance(graph, Graph)
    return graph


def _members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _zip(members: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _header_offsets(data: bytes) -> list[int]:
    """Byte offsets of every local header, central directory entry and end record field."""
    offsets = []
    for sig, fixed in ((b"PK\x03\x04", 30), (b"PK\x01\x02", 46), (b"PK\x05\x06", 22)):
        start = 0
        while (i := data.find(sig, start)) >= 0:
            offsets.extend(range(i, min(i + fixed, len(data))))
            start = i + 4
    return sorted(set(offsets))


def _mutations(data: bytes):
    for off in _header_offsets(data):
        for value in HOSTILE_BYTES:
            if data[off] != value:
                yield off, data[:off] + bytes([value]) + data[off + 1:]


def test_every_outer_zip_header_byte(graph_file, tmp_path):
    data = graph_file.read_bytes()
    path = tmp_path / "m.snnc"
    n = 0
    for _, mutated in _mutations(data):
        path.write_bytes(mutated)
        _load_ok_or_format_error(path)
        n += 1
    assert n > 300


def test_every_inner_npz_header_byte(graph_file, tmp_path):
    """Every header byte of the first two members, the last, the central directory and the end
    record; a fixed sample of the other members' (the npz holds one member per tensor)."""
    members = _members(graph_file)
    path = tmp_path / "m.snnc"
    inner = members["tensors.npz"]
    with zipfile.ZipFile(io.BytesIO(inner)) as zf:
        infos = zf.infolist()
    first = infos[1].header_offset if len(infos) > 1 else len(inner)
    rng = np.random.default_rng(2)
    cases = list(_mutations(inner))
    picked = [c for c in cases if c[0] < first]  # the first member's header: every byte
    others = [c for c in cases if c[0] >= first]
    picked += [others[i] for i in rng.choice(len(others), min(400, len(others)), replace=False)]
    for _, mutated in picked:
        path.write_bytes(_zip({**members, "tensors.npz": mutated}))
        _load_ok_or_format_error(path)


@pytest.mark.parametrize("member", ["graph.json", "tensors.npz"])
def test_deflate_stream_corruption(graph_file, tmp_path, member):
    """Flip bytes inside the compressed data of a member (a corrupt deflate stream)."""
    data = graph_file.read_bytes()
    with zipfile.ZipFile(graph_file) as zf:
        info = zf.getinfo(member)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    rng = np.random.default_rng(0)
    path = tmp_path / "d.snnc"
    positions = sorted(set(rng.integers(start, start + info.compress_size, 40).tolist()) | {start, start + 1})
    for pos in positions:
        for value in (0x00, 0xFF, data[pos] ^ 0x55):
            path.write_bytes(data[:pos] + bytes([value]) + data[pos + 1:])
            _load_ok_or_format_error(path)


def test_inner_deflate_corruption(graph_file, tmp_path):
    members = _members(graph_file)
    inner = members["tensors.npz"]
    path = tmp_path / "i.snnc"
    rng = np.random.default_rng(1)
    for pos in rng.integers(0, len(inner), 60).tolist():
        mutated = inner[:pos] + bytes([inner[pos] ^ 0xA5]) + inner[pos + 1:]
        path.write_bytes(_zip({**members, "tensors.npz": mutated}))
        _load_ok_or_format_error(path)


def _set_flag(data: bytes, bit: int) -> bytes:
    """Set a general-purpose flag bit in every local and central header."""
    out = bytearray(data)
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (i := out.find(sig, start)) >= 0:
            flags = struct.unpack_from("<H", out, i + off)[0] | bit
            struct.pack_into("<H", out, i + off, flags)
            start = i + 4
    return bytes(out)


def _set_method(data: bytes, method: int) -> bytes:
    out = bytearray(data)
    for sig, off in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        start = 0
        while (i := out.find(sig, start)) >= 0:
            struct.pack_into("<H", out, i + off, method)
            start = i + 4
    return bytes(out)


def test_encryption_flag(graph_file, tmp_path, capsys):
    path = tmp_path / "enc.snnc"
    path.write_bytes(_set_flag(graph_file.read_bytes(), 0x1))
    with pytest.raises(FormatError, match="encrypted"):
        load(path)
    code, _, err = run_cli(["inspect", path], capsys)
    assert_one_line_refusal(code, err, "encrypted")


@pytest.mark.parametrize("method", [1, 6, 9, 12, 14, 93, 95, 98, 99, 0xFFFF])
def test_unsupported_compression_method(graph_file, tmp_path, method):
    path = tmp_path / "m.snnc"
    path.write_bytes(_set_method(graph_file.read_bytes(), method))
    with pytest.raises(FormatError, match="compression method"):
        load(path)


def test_inner_encryption_and_method(graph_file, tmp_path):
    members = _members(graph_file)
    path = tmp_path / "m.snnc"
    for inner in (_set_flag(members["tensors.npz"], 1), _set_method(members["tensors.npz"], 14)):
        path.write_bytes(_zip({**members, "tensors.npz": inner}))
        with pytest.raises(FormatError):
            load(path)


# --- bombs: refused from the declared size, before inflating --------------------------

def test_graph_json_bomb(graph_file, tmp_path, monkeypatch):
    monkeypatch.setattr(serialize, "MAX_JSON_BYTES", 1 << 20)
    members = _members(graph_file)
    doc = members["graph.json"] + b" " * (4 << 20)  # valid JSON, 4 MiB of padding
    path = tmp_path / "bomb.snnc"
    path.write_bytes(_zip({**members, "graph.json": doc}))
    assert path.stat().st_size < 64 << 10
    with pytest.raises(FormatError, match="inflated"):
        load(path)


def test_tensor_bomb_outer_and_inner(graph_file, tmp_path, monkeypatch):
    monkeypatch.setattr(serialize, "MAX_TENSOR_BYTES", 1 << 20)
    members = _members(graph_file)
    buf = io.BytesIO()
    np.savez_compressed(buf, **{"pad": np.zeros(4 << 20, np.uint8)})
    path = tmp_path / "bomb.snnc"
    path.write_bytes(_zip({**members, "tensors.npz": buf.getvalue()}))
    with pytest.raises(FormatError, match="inflated"):
        load(path)


PEAK_BYTES = 64 << 20   # far below what any of these files declares; far above a real graph's load


def _refused_without_allocating(path) -> None:
    """FormatError from the header alone: the load's peak Python/numpy allocation stays small
    (deterministic, unlike a wall-clock bound on a shared machine)."""
    tracemalloc.start()
    try:
        with pytest.raises(FormatError):
            load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < PEAK_BYTES, f"{path.name}: {peak} bytes allocated before the refusal"


def test_real_bomb_is_refused_quickly(graph_file, tmp_path):
    """A member declaring 300 MB inflated (what a 300 KB deflate bomb declares): refused from
    the header, before anything large is allocated."""
    members = _members(graph_file)
    path = tmp_path / "big.snnc"
    path.write_bytes(_zip({**members, "tensors.npz": members["tensors.npz"]}))
    out = bytearray(path.read_bytes())
    for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        i = out.rfind(sig)
        struct.pack_into("<I", out, i + off, 300 << 20)
    path.write_bytes(bytes(out))
    _refused_without_allocating(path)


# --- npy headers inside tensors.npz ---------------------------------------------------

def _npy(header: dict | str, body: bytes = b"", version=(1, 0)) -> bytes:
    text = header if isinstance(header, str) else repr(header)
    text = text + " " * (63 - (len(text) + 10) % 64) + "\n"
    if version == (1, 0):
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1") + body
    return b"\x93NUMPY" + bytes(version) + struct.pack("<I", len(text)) + text.encode("latin1") + body


HOSTILE_NPY = [
    {"descr": "<i8", "fortran_order": False, "shape": (10**13,)},
    {"descr": "<i8", "fortran_order": False, "shape": (2**62, 2**62)},
    {"descr": "<i8", "fortran_order": False, "shape": (-1,)},
    {"descr": "<i8", "fortran_order": False, "shape": (6, 4)},        # no body
    {"descr": "|O", "fortran_order": False, "shape": (1,)},
    {"descr": "<U1", "fortran_order": False, "shape": (24,)},
    {"descr": "|V8", "fortran_order": False, "shape": (24,)},
    {"descr": [("a", "<i8")], "fortran_order": False, "shape": (24,)},
    {"descr": "<c16", "fortran_order": False, "shape": (24,)},
    {"descr": "<i8", "fortran_order": "yes", "shape": (24,)},
    {"descr": "<i8", "shape": (24,)},
    "{'descr': '<i8', 'fortran_order': False, 'shape': (1e13,)}",
    "{'descr': '<i8', 'fortran_order': False, 'shape': __import__('os')}",
    "[1, 2, 3]",
    "{" * 5000,
    "not python",
]


@pytest.mark.parametrize("header", HOSTILE_NPY, ids=range(len(HOSTILE_NPY)))
def test_hostile_npy_headers(graph_file, tmp_path, header):
    members = _members(graph_file)
    with zipfile.ZipFile(io.BytesIO(members["tensors.npz"])) as zf:
        names = zf.namelist()
        arrays = {n: zf.read(n) for n in names}
    victim = next(n for n in names if "weights" in n)
    body = bytes(6 * 4 * 8) if isinstance(header, dict) and header.get("shape") in ((10**13,),) else b""
    path = tmp_path / "h.snnc"
    for version in ((1, 0), (2, 0), (3, 0), (9, 9)):
        inner = _zip({**arrays, victim: _npy(header, body, version)})
        path.write_bytes(_zip({**members, "tensors.npz": inner}))
        _refused_without_allocating(path)


# --- graph.json: nesting, numbers, types ---------------------------------------------

def _with_doc(graph_file, tmp_path, doc_bytes: bytes):
    members = _members(graph_file)
    path = tmp_path / "j.snnc"
    path.write_bytes(_zip({**members, "graph.json": doc_bytes}))
    return path


@pytest.mark.parametrize("text", [
    "[" * 100_000 + "]" * 100_000,
    '{"a":' * 100_000 + "1" + "}" * 100_000,
    "1e400", "NaN", "-Infinity", "\xff\xfe", "", "null", "[]", '"x"',
])
def test_hostile_json_documents(graph_file, tmp_path, text):
    path = _with_doc(graph_file, tmp_path, text.encode("latin1"))
    with pytest.raises(FormatError):
        load(path)


INT_HOSTILE = [6.7, True, False, "6", None, 1e400, 1e999, -1e400, 1e12, 2**28, 2**63, -1, [], {}, {"tensor": 5}]
ANY_HOSTILE = INT_HOSTILE + ["NaN", 0.5, 10**30, [1, 2], {"tensor": "nope"}, ["a"], 1e308]


def _json_value(v):
    """JSON text for a value, writing 1e400-style literals as text (json.dumps would give Infinity)."""
    if isinstance(v, float) and abs(v) == float("inf"):
        return "1e400" if v > 0 else "-1e400"
    if v == "NaN":
        return "NaN"
    return json.dumps(v)


def test_hostile_value_in_every_node_field(graph_file, xylo_file, tmp_path):
    """Every field of every node gets every hostile value: a graph or FormatError; and an
    integer field never takes a non-integer (no 6.7 -> 6, no true -> 1)."""
    checked = 0
    for source in (graph_file, xylo_file):
        members = _members(source)
        doc = json.loads(members["graph.json"])
        for i, entry in enumerate(doc["nodes"]):
            for key in entry["fields"]:
                mutated = json.loads(json.dumps(doc))
                mutated["nodes"][i]["fields"][key] = "@@HOSTILE@@"
                template = json.dumps(mutated)
                for value in ANY_HOSTILE:
                    raw = template.replace('"@@HOSTILE@@"', _json_value(value))
                    path = tmp_path / "f.snnc"
                    path.write_bytes(_zip({**members, "graph.json": raw.encode()}))
                    graph = _load_ok_or_format_error(path)
                    if graph is not None:
                        got = graph.nodes[entry["name"]].fields()[key]
                        if isinstance(got, int):  # an integer field took it: it must be exactly an integer
                            assert isinstance(value, int) and not isinstance(value, bool) and got == value, \
                                (entry["name"], key, value, got)
                    checked += 1
    assert checked > 500


@pytest.mark.parametrize("size", [2**28, 10**12, "1e12", "1e400", "6.7", "true", "-3"])
def test_declared_population_refused_before_allocation(graph_file, tmp_path, size):
    doc = json.loads(_members(graph_file)["graph.json"])
    for entry in doc["nodes"]:
        if "size" in entry["fields"]:
            entry["fields"]["size"] = "@@S@@"
            for k, v in entry["fields"].items():  # scalar parameters broadcast to `size`
                if isinstance(v, dict):
                    entry["fields"][k] = 1
            break
    raw = json.dumps(doc).replace('"@@S@@"', str(size)).encode()
    path = _with_doc(graph_file, tmp_path, raw)
    _refused_without_allocating(path)


def test_valid_files_still_load(graph_file, xylo_file):
    for path in (graph_file, xylo_file):
        assert isinstance(load(path), Graph)


@pytest.mark.parametrize("content", [b"", b"PK", b"PK\x05\x06" + bytes(18), b"\x00" * 1000, b"{}"])
def test_cli_garbage_files_one_line(tmp_path, capsys, content):
    path = tmp_path / "junk.snnc"
    path.write_bytes(content)
    for cmd in (["inspect", path], ["simulate", path, "--input", path]):
        code, _, err = run_cli(cmd, capsys)
        assert_one_line_refusal(code, err)


def test_cli_special_input_paths(tmp_path, capsys):
    import os

    fifo = tmp_path / "fifo.snnc"
    os.mkfifo(fifo)
    for path in (tmp_path, fifo, tmp_path / "missing.snnc", "/dev/null"):
        code, _, err = run_cli(["inspect", path], capsys)
        assert_one_line_refusal(code, err)
