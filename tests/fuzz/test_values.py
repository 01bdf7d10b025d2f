"""Values a node cannot hold are one line naming the node and the value as it is in the
file: an infinite or 1e30 threshold is not cast (and wrapped to -2^63) before the check,
a uint64 weight beyond int64 is not wrapped, and no numpy warning adds a line."""
from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from snnc.compiler.ir.serialize import graph_to_dict
from tests.fuzz.helpers import assert_one_line_refusal, run_cli, small_loihi_graph


def _write(path, doc: dict, tensors: dict):
    """A .snnc written by hand, without save()'s checks."""
    buf = io.BytesIO()
    np.savez(buf, **tensors)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("graph.json", json.dumps(doc))
        zf.writestr("tensors.npz", buf.getvalue())
    return path


def _with_tensor(path, key: str, value: np.ndarray):
    doc, tensors = graph_to_dict(small_loihi_graph())
    tensors[key] = value
    return _write(path, doc, tensors)


@pytest.mark.parametrize("key, value, needle", [
    ("lif0/vth", np.full(6, np.inf), "parameter 'vth' must lie in [0, 131071], got [inf, inf]"),
    ("lif0/vth", np.full(6, -np.inf), "parameter 'vth' must lie in [0, 131071], got [-inf, -inf]"),
    ("lif0/vth", np.full(6, 1e30), "parameter 'vth' must lie in [0, 131071], got [1e+30, 1e+30]"),
    ("lif0/vth", np.full(6, np.nan), "parameter 'vth' must be integer"),
    ("lif0/du", np.full(6, 2**64 - 1, np.uint64), "parameter 'du' must lie in [0, 4095]"),
    ("dense0/weights", np.full((6, 4), 2**64 - 1, np.uint64), "beyond int64"),
])
def test_a_value_beyond_the_nodes_range_is_named_as_it_is(key, value, needle, tmp_path, capsys):
    path = _with_tensor(tmp_path / "g.snnc", key, value)
    with np.errstate(all="raise"):  # no numpy floating-point warning may be hit on the way
        code, _, err = run_cli(["inspect", path], capsys)
    assert_one_line_refusal(code, err, needle)
    assert "-9223372036854775808" not in err


def _with_metadata(path, **meta):
    doc, tensors = graph_to_dict(small_loihi_graph())
    doc["metadata"].update(meta)
    return _write(path, doc, tensors)


@pytest.mark.parametrize("meta, needle", [
    ({"k": "eight"}, "graph metadata 'k' must be an integer in [1, 64]"),
    ({"k": 0}, "graph metadata 'k'"),
    ({"pad_steps": -1}, "graph metadata 'pad_steps'"),
    ({"pad_steps": "2"}, "graph metadata 'pad_steps'"),
    ({"steps": 10**12}, "graph metadata 'steps'"),
    ({"seed": "0"}, "graph metadata 'seed'"),
    ({"seed": -5}, "graph metadata 'seed'"),
    ({"data": "digits"}, "graph metadata 'data' must be an object"),
    ({"data": [1, 2]}, "graph metadata 'data' must be an object"),
    ({"mode": "median"}, "graph metadata 'mode'"),
    ({"task": 3}, "graph metadata 'task'"),
    ({"input_quant": {"scale": -1}}, "graph metadata 'input_quant'"),
    ({"checkpoint": 5}, "graph metadata 'checkpoint' must be a string"),
])
@pytest.mark.parametrize("command", ["inspect", "simulate", "verify"])
def test_wrong_typed_metadata_is_one_line_in_every_command(meta, needle, command, tmp_path, capsys):
    path = _with_metadata(tmp_path / "g.snnc", **meta)
    code, _, err = run_cli([command, path], capsys)
    assert_one_line_refusal(code, err, needle)


def test_data_metadata_with_wrong_keys_is_one_line(tmp_path, capsys):
    path = _with_metadata(tmp_path / "g.snnc", data={"name": "digits", "steps": "many"})
    code, _, err = run_cli(["verify", path, "--backends", "sim,lava"], capsys)
    assert_one_line_refusal(code, err, "data.steps: expected")


def test_a_graph_for_an_unknown_target_is_refused_on_load(tmp_path, capsys):
    doc, tensors = graph_to_dict(small_loihi_graph())
    doc["target"] = "loihi9"
    _write(tmp_path / "g.snnc", doc, tensors)
    code, _, err = run_cli(["inspect", tmp_path / "g.snnc"], capsys)
    assert_one_line_refusal(code, err, "target 'loihi9' unknown")


@pytest.mark.parametrize("name", ["", "a/b", "x\x00y", "new\nline", "n" * 300])
def test_a_node_name_no_writer_can_hold_is_one_line(name, tmp_path, capsys):
    doc, tensors = graph_to_dict(small_loihi_graph())
    doc["nodes"][0]["name"] = name
    doc["edges"] = [[name if a == "input" else a, b] for a, b in doc["edges"]]
    _write(tmp_path / "g.snnc", doc, tensors)
    code, _, err = run_cli(["inspect", tmp_path / "g.snnc"], capsys)
    assert_one_line_refusal(code, err, "node name")
