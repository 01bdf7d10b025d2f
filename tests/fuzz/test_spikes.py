"""Odd spike inputs, as files for `snnc simulate --input` and as arrays for `simulate`:
one-line InputError, exit status 2, never a wrapped, truncated or warned-about value."""
from __future__ import annotations

import struct
import warnings

import numpy as np
import pytest

from snnc.compiler.ir import load
from snnc.errors import InputError
from snnc.runtime.simulate import simulate
from tests.fuzz.helpers import assert_one_line_refusal, run_cli

T, N = 5, 4


def _npy_raw(header: str, body: bytes = b"") -> bytes:
    text = header + " " * (63 - (len(header) + 10) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1") + body


ARRAYS = {
    "uint64_2p63": np.full((T, N), 2**63, np.uint64),
    "uint64_max": np.full((T, N), 2**64 - 1, np.uint64),
    "uint64_2p63_one": np.where(np.eye(T, N, dtype=bool), np.uint64(2**63), np.uint64(0)),
    "float_1e30": np.full((T, N), 1e30),
    "float_nan": np.full((T, N), np.nan),
    "float_inf": np.full((T, N), np.inf),
    "float_neg": np.full((T, N), -1.0),
    "float_frac": np.full((T, N), 0.5),
    "float16_inf": np.full((T, N), np.inf, np.float16),
    "int_neg": np.full((T, N), -1, np.int64),
    "int64_min": np.full((T, N), np.iinfo(np.int64).min),
    "complex": np.ones((T, N), np.complex128),
    "strings": np.full((T, N), "1"),
    "bytes": np.full((T, N), b"1"),
    "four_d": np.zeros((1, 1, T, N), np.int64),
    "one_d": np.zeros(N, np.int64),
    "empty": np.zeros((0, N), np.int64),
    "structured": np.zeros((T, N), dtype=[("a", "<i4")]),
    "datetime": np.zeros((T, N), "datetime64[s]"),
    "huge_count": np.full((T, N), 2**40, np.int64),
}


@pytest.mark.parametrize("name", sorted(ARRAYS))
def test_hostile_arrays_via_cli(graph_file, tmp_path, capsys, name):
    path = tmp_path / "in.npy"
    np.save(path, ARRAYS[name])
    report = tmp_path / "r.json"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning on the way to the refusal
        code, out, err = run_cli(["simulate", graph_file, "--input", path, "--report", report], capsys)
    assert_one_line_refusal(code, err)
    assert not report.exists()


@pytest.mark.parametrize("name", sorted(ARRAYS))
def test_hostile_arrays_via_api(graph_file, name):
    graph = load(graph_file)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InputError):
            simulate(graph, ARRAYS[name])


FILES = {
    "npz": None,  # written below
    "text": b"1 2 3\n4 5 6\n",
    "empty": b"",
    "magic_only": b"\x93NUMPY",
    "truncated": None,
    "pickle": None,
    "huge_header": _npy_raw("{'descr': '<i8', 'fortran_order': False, 'shape': (10000000000000,)}"),
    "huge_2d": _npy_raw("{'descr': '<i8', 'fortran_order': False, 'shape': (4611686018427387904, 4)}"),
    "neg_shape": _npy_raw("{'descr': '<i8', 'fortran_order': False, 'shape': (-5, 4)}"),
    "bad_header": _npy_raw("{" * 3000),
    "code_header": _npy_raw("{'descr': '<i8', 'fortran_order': False, 'shape': __import__('os').getpid()}"),
    "version_9": b"\x93NUMPY\x09\x00" + bytes(100),
    "zip": b"PK\x03\x04" + bytes(40),
}


@pytest.mark.parametrize("name", sorted(FILES))
def test_hostile_files_via_cli(graph_file, tmp_path, capsys, name):
    path = tmp_path / "in.npy"
    content = FILES[name]
    if name == "npz":
        np.savez(tmp_path / "in.npz", x=np.zeros((T, N), np.uint8))
        path = tmp_path / "in.npz"
    elif name == "truncated":
        np.save(path, np.zeros((T, N), np.int64))
        path.write_bytes(path.read_bytes()[:-9])
    elif name == "pickle":
        np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    else:
        path.write_bytes(content)
    code, _, err = run_cli(["simulate", graph_file, "--input", path], capsys)
    assert_one_line_refusal(code, err)
    if name in ("npz", "zip"):
        assert ".npz" in err and "dtype <U" not in err


def test_special_input_paths(graph_file, tmp_path, capsys):
    import os

    os.mkfifo(tmp_path / "fifo.npy")
    for path in (tmp_path, tmp_path / "fifo.npy", tmp_path / "missing.npy", "/dev/zero"):
        code, _, err = run_cli(["simulate", graph_file, "--input", path], capsys)
        assert_one_line_refusal(code, err)


@pytest.mark.parametrize("spikes", [
    [[1, 0, 0, 0], [1, 0]],                       # ragged
    [[[1, 0, 0, 0]], [[1, 0, 0, 0], [0, 0, 0, 0]]],
    None, "0101", [[None] * N] * T, [["1"] * N] * T, object(), {"a": 1},
])
def test_odd_python_inputs(graph_file, spikes):
    with pytest.raises(InputError):
        simulate(load(graph_file), spikes)


@pytest.mark.parametrize("chunk", [0, -1, 1.5, True, None, "8"])
def test_bad_chunk(graph_file, chunk):
    with pytest.raises(InputError, match="chunk"):
        simulate(load(graph_file), np.zeros((T, N), np.int64), chunk=chunk)


def test_valid_inputs_still_run(graph_file):
    graph = load(graph_file)
    for x in (np.ones((T, N), np.uint64), np.ones((2, T, N), np.float64), np.ones((T, N), bool),
              [[1, 0, 0, 1]] * T):
        result = simulate(graph, x, chunk=1)
        assert result.totals["spikes"] >= 0 and result.energy["total_j"] >= 0


@pytest.mark.parametrize("name", ["uint64_2p63", "uint64_max", "float_1e30", "huge_count", "float_nan"])
def test_no_wrap_whatever_the_target(name):
    """Counts are checked before any cast, not only against a target's input range."""
    from snnc.runtime.simulate import _as_batch

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InputError):
            _as_batch(ARRAYS[name])
