"""Hostile models and inputs for `snnc export M.onnx --run X.npy --out Y.npz` (and the empty
batch of every ONNX executor): one line `error: ...`, exit status 2, nothing written, no
hang, no crash of this process, nothing from onnxruntime on stderr."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto as TP
from onnx import helper

import snnc.compiler.export.onnx as ox
import snnc.compiler.export.onnx_run as run
from snnc.compiler.export.onnx_edge import run_model
from snnc.compiler.ir import Graph, Input, Output, save
from snnc.compiler.ir.dense import Gemm
from snnc.errors import InputError
from tests.fuzz.helpers import assert_one_line_refusal, run_cli, small_loihi_graph

T, N = 5, 4  # small_loihi_graph: 4 inputs


def _model(nodes, inputs, outputs, inits=(), opsets=(("", 18),), functions=()):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets], functions=list(functions))
    m.ir_version = 9
    return m


def _vi(name, elem=TP.INT64, shape=("B",)):
    return helper.make_tensor_value_info(name, elem, list(shape))


def _identity(out_name="y", elem=TP.INT64):
    return _model([helper.make_node("Identity", ["x"], [out_name])], [_vi("x", elem)], [_vi(out_name, elem)])


def _loop(trips_nodes, trips_inits):
    """y = x + M: a Loop whose trip count M is an initializer or computed."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Add", ["v_in", "one"], ["v_out"])],
        "body", [_vi("i", shape=()), _vi("cond_in", TP.BOOL, ()), _vi("v_in")], [_vi("cond_out", TP.BOOL, ()), _vi("v_out")],
        [helper.make_tensor("one", TP.INT64, [], [1])])
    nodes = list(trips_nodes) + [helper.make_node("Loop", ["M", "cond", "x"], ["y"], name="spin", body=body)]
    return _model(nodes, [_vi("x")], [_vi("y")], [helper.make_tensor("cond", TP.BOOL, [], [True]), *trips_inits])


def _save(tmp_path, model, name="m.onnx"):
    path = tmp_path / name
    path.write_bytes(model.SerializeToString())
    return path


def _npy(tmp_path, x, name="x.npy"):
    path = tmp_path / name
    np.save(path, x)
    return path


@pytest.fixture(scope="module")
def loihi_onnx(tmp_path_factory):
    """snnc's own export of a small loihi graph, through the CLI."""
    folder = tmp_path_factory.mktemp("onnxrun")
    save(small_loihi_graph(), folder / "g.snnc")
    from snnc.cli import main
    assert main(["export", str(folder / "g.snnc"), "--format", "onnx", "--out", str(folder / "m.onnx")]) == 0
    return folder / "m.onnx"


def _refused_in_child(tmp_path, model, x, needle, setup="pass"):
    """`_refused` with the CLI in a child process under a timeout: where the defect comes back
    (a blocking FIFO, an endless Loop, a SIGFPE), this test fails instead of hanging or
    killing the suite."""
    out = tmp_path / "y.npz"
    before = sorted(p.name for p in tmp_path.iterdir())
    code = f"import sys; import snnc.compiler.export.onnx_run as run; {setup}; from snnc.cli import main; " \
           "sys.exit(main(sys.argv[1:]))"
    done = subprocess.run([sys.executable, "-c", code, "export", str(model), "--run", str(x), "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert_one_line_refusal(done.returncode, done.stderr, needle)
    assert sorted(p.name for p in tmp_path.iterdir()) == before and not out.exists()


def _refused(capsys, tmp_path, model, x, needle=None):
    out = tmp_path / "y.npz"
    before = sorted(p.name for p in tmp_path.iterdir())
    code, _, err = run_cli(["export", model, "--run", x, "--out", out], capsys)
    assert_one_line_refusal(code, err, needle)
    assert sorted(p.name for p in tmp_path.iterdir()) == before and not out.exists()
    return err


# --- what works ------------------------------------------------------------------

def test_own_export_runs_and_matches_onnxruntime(tmp_path, capsys, loihi_onnx):
    x = (np.random.default_rng(0).random((2, T, N)) < 0.5).astype(np.int64)
    code, out, err = run_cli(["export", loihi_onnx, "--run", _npy(tmp_path, x), "--out", tmp_path / "y.npz"], capsys)
    assert code == 0 and err == "" and "wrote" in out
    sess = ox.session(run.load_model(loihi_onnx))
    want = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"input": x.astype(np.int32)})))
    with np.load(tmp_path / "y.npz", allow_pickle=False) as got:
        assert sorted(got.files) == sorted(want)
        for key, value in want.items():
            np.testing.assert_array_equal(got[key], value)


def test_multi_spike_counts_run_where_the_target_takes_them(tmp_path, capsys, xylo_file):
    """xylo takes counts up to 255 per channel and step: 3 is legal there, not on loihi."""
    model = tmp_path / "x.onnx"
    assert run_cli(["export", xylo_file, "--format", "onnx", "--out", model], capsys)[0] == 0
    code, _, err = run_cli(["export", model, "--run", _npy(tmp_path, np.full((1, T, 3), 3)),
                            "--out", tmp_path / "y.npz"], capsys)
    assert code == 0 and err == ""
    (tmp_path / "y.npz").unlink()
    _refused(capsys, tmp_path, model, _npy(tmp_path, np.full((1, T, 3), 256), "big.npy"), "255")


@pytest.mark.parametrize("name", ["allow_pickle", "file", "lif0.spikes"])
def test_output_names_that_are_numpy_keywords_are_kept(tmp_path, capsys, name):
    code, _, err = run_cli(["export", _save(tmp_path, _identity(name)), "--run", _npy(tmp_path, np.arange(3)),
                            "--out", tmp_path / "y.npz"], capsys)
    assert code == 0 and err == ""
    with np.load(tmp_path / "y.npz", allow_pickle=False) as got:
        assert got.files == [name] and got[name].tolist() == [0, 1, 2]


def test_onnxruntime_log_lines_stay_off_stderr(tmp_path, capfd):
    """An unused initializer makes onnxruntime warn at session creation, a failing kernel logs an
    error line beside its exception: snnc's sessions print neither (the exception is the message)."""
    model = _identity()
    model.graph.initializer.append(helper.make_tensor("unused", TP.INT64, [1], [7]))
    assert ox.session(model).run(None, {"x": np.arange(2)})[0].tolist() == [0, 1]
    div = _model([helper.make_node("Div", ["x", "d"], ["y"])], [_vi("x"), _vi("d")], [_vi("y")])
    with pytest.raises(Exception, match="division by zero"):
        ox.session(div).run(None, {"x": np.arange(2), "d": np.zeros(2, np.int64)})
    assert capfd.readouterr().err == ""


# --- 3. crashes and hangs ----------------------------------------------------------

def test_empty_batch_is_refused_by_the_cli(tmp_path, loihi_onnx):
    _refused_in_child(tmp_path, loihi_onnx, _npy(tmp_path, np.zeros((0, T, N), np.int32)), "empty")


def test_empty_batch_is_refused_by_every_onnx_executor():
    """`verify --backends onnx --samples 0` reaches these with B = 0 (onnxruntime: SIGFPE)."""
    graph = small_loihi_graph()
    with pytest.raises(InputError, match="empty batch"):
        ox.run_sequence(graph, np.zeros((0, T, N), np.int64))
    with pytest.raises(InputError, match="empty axis"):
        ox.run_sequence(graph, np.zeros((1, 0, N), np.int64))
    g = Graph("edge-int8")
    g.add("input", Input(2))
    g.add("fc", Gemm(np.ones((1, 2), np.int64), np.zeros(1, np.int64), np.array([1 << 30]), np.zeros(1, np.int64),
                     0, 0, -128, 127, requantise=True), ["input"])
    g.add("output", Output(1, read="v"), ["fc"])
    with pytest.raises(InputError, match="empty batch"):
        run_model(g, np.zeros((0, 1, 2), np.int64))
    assert run_model(g, np.ones((1, 1, 2), np.int64))["fc"]["v"].shape == (1, 1, 1)


@pytest.mark.parametrize("which", ["model", "input"])
def test_fifo_is_refused_without_blocking(tmp_path, loihi_onnx, which):
    """Run in a child with a timeout: a regression hangs the child, not the suite."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    x = _npy(tmp_path, np.zeros((1, T, N), np.int32))
    model, data = (fifo, x) if which == "model" else (loihi_onnx, fifo)
    _refused_in_child(tmp_path, model, data, "is a FIFO, not a regular file")


def test_constant_loop_trip_count_above_the_limit_is_refused(tmp_path, capsys):
    model = _loop([], [helper.make_tensor("M", TP.INT64, [], [2**62])])
    err = _refused(capsys, tmp_path, _save(tmp_path, model), _npy(tmp_path, np.arange(2)), "4611686018427387904")
    assert "at most 1048576" in err


def test_loop_inside_a_subgraph_is_checked_too(tmp_path, capsys):
    inner = _loop([], [helper.make_tensor("M", TP.INT64, [], [2**40])]).graph
    inner = helper.make_graph(list(inner.node), "then", [], [_vi("y")], list(inner.initializer))
    other = helper.make_graph([helper.make_node("Identity", ["x"], ["z"])], "else", [], [_vi("z")])
    model = _model([helper.make_node("If", ["c"], ["out"], then_branch=inner, else_branch=other)], [_vi("x")],
                   [_vi("out")], [helper.make_tensor("c", TP.BOOL, [], [False])])
    _refused(capsys, tmp_path, _save(tmp_path, model), _npy(tmp_path, np.arange(2)), "If")


def test_computed_loop_trip_count_is_stopped_by_the_time_limit(tmp_path):
    model = _loop([helper.make_node("Add", ["a", "a"], ["M"])], [helper.make_tensor("a", TP.INT64, [], [2**61])])
    _refused_in_child(tmp_path, _save(tmp_path, model), _npy(tmp_path, np.arange(2)), "ran longer than 2 s",
                      setup="run.RUN_SECONDS = 2.0")


def test_allocation_above_the_memory_limit_is_refused(tmp_path, capsys, monkeypatch):
    """1 GiB of ConstantOfShape against a 64 MiB limit (a regression only costs 1 GiB briefly)."""
    monkeypatch.setattr(run, "RUN_MEMORY", 64 * 2**20)
    model = _model([helper.make_node("Mul", ["x", "big"], ["shape"]),
                    helper.make_node("ConstantOfShape", ["shape"], ["y"],
                                     value=helper.make_tensor("v", TP.FLOAT, [1], [1.0]))],
                   [_vi("x", shape=(1,))], [_vi("y", TP.FLOAT, ("n",))], [helper.make_tensor("big", TP.INT64, [1], [2**28])])
    _refused(capsys, tmp_path, _save(tmp_path, model), _npy(tmp_path, np.ones(1, np.int64)), "memory limit")


def test_a_crash_of_onnxruntime_is_one_line(tmp_path):
    """INT64_MIN / -1 raises SIGFPE inside onnxruntime: the worker dies, snnc does not."""
    model = _model([helper.make_node("Div", ["x", "d"], ["y"])], [_vi("x")], [_vi("y")],
                   [helper.make_tensor("d", TP.INT64, [1], [-1])])
    _refused_in_child(tmp_path, _save(tmp_path, model), _npy(tmp_path, np.array([-(2**63)], np.int64)), "SIGFPE")


# --- 7. odd files ----------------------------------------------------------------

def test_npz_input_is_refused(tmp_path, capsys, loihi_onnx):
    np.savez(tmp_path / "x.npz", x=np.zeros((1, T, N), np.int32))
    _refused(capsys, tmp_path, loihi_onnx, tmp_path / "x.npz", "zip/.npz")


def test_huge_npy_header_is_refused(tmp_path, capsys, loihi_onnx):
    text = "{'descr': '<i4', 'fortran_order': False, 'shape': (1, 5, 4), }" + " " * 200_000 + "\n"
    (tmp_path / "x.npy").write_bytes(b"\x93NUMPY\x02\x00" + len(text).to_bytes(4, "little") + text.encode()
                                     + bytes(80))
    _refused(capsys, tmp_path, loihi_onnx, tmp_path / "x.npy", "x.npy")


def test_npy_header_declaring_more_than_the_file_holds_is_refused(tmp_path, capsys, loihi_onnx):
    text = "{'descr': '<i4', 'fortran_order': False, 'shape': (1000000000, 5, 4), }\n"
    (tmp_path / "x.npy").write_bytes(b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text.encode()
                                     + bytes(80))
    _refused(capsys, tmp_path, loihi_onnx, tmp_path / "x.npy", "header declares shape")


def test_custom_op_is_refused(tmp_path, capsys):
    model = _model([helper.make_node("Foo", ["x"], ["y"], domain="com.example")], [_vi("x")], [_vi("y")],
                   opsets=(("", 18), ("com.example", 1)))
    _refused(capsys, tmp_path, _save(tmp_path, model), _npy(tmp_path, np.arange(2)), "com.example.Foo")


def test_external_data_is_never_read(tmp_path, capsys):
    model = _identity()
    tensor = helper.make_tensor("w", TP.INT64, [1], [0])
    tensor.ClearField("int64_data")
    tensor.data_location = TP.EXTERNAL
    tensor.external_data.add(key="location", value="secret.bin")
    (tmp_path / "secret.bin").write_bytes(bytes(8))
    model.graph.initializer.append(tensor)
    _refused(capsys, tmp_path, _save(tmp_path, model), _npy(tmp_path, np.arange(2)), "external file")


def test_output_path_is_checked_before_running(tmp_path, capsys, loihi_onnx):
    os.mkfifo(tmp_path / "y.npz")
    code, _, err = run_cli(["export", loihi_onnx, "--run", _npy(tmp_path, np.zeros((1, T, N), np.int32)),
                            "--out", tmp_path / "y.npz"], capsys)
    assert_one_line_refusal(code, err, "FIFO")


# --- 8. values the input cannot hold, unsafe output names -------------------------

LOIHI_VALUES = {
    "nan": (np.full((1, T, N), np.nan), "NaN"),
    "inf": (np.full((1, T, N), np.inf), "NaN or infinity"),
    "two_to_63": (np.full((1, T, N), 2.0**63), "9223372036854775808"),
    "uint64_2p63": (np.full((1, T, N), 2**63, np.uint64), "9223372036854775808"),
    "fraction": (np.full((1, T, N), 0.5), "non-integer"),
    "negative": (np.full((1, T, N), -1), "[-1, -1]"),
    "count_3_on_binary_loihi": (np.full((1, T, N), 3), "binary"),
    "wrong_channels": (np.zeros((1, T, N + 1), np.int32), "does not fit"),
    "wrong_rank": (np.zeros((T, N), np.int32), "does not fit"),
}


@pytest.mark.parametrize("case", LOIHI_VALUES)
def test_values_the_model_does_not_take_are_refused(tmp_path, capsys, loihi_onnx, case):
    x, needle = LOIHI_VALUES[case]
    _refused(capsys, tmp_path, loihi_onnx, _npy(tmp_path, x), needle)


@pytest.mark.parametrize("x, elem, needle", [
    (np.array([2**31]), TP.INT32, "2147483648"),
    (np.array([2.0**63]), TP.INT64, "9223372036854775808"),
    (np.array([1.5]), TP.INT32, "non-integer"),
    (np.array([0.1]), TP.FLOAT, "does not represent exactly"),
    (np.array([2**24 + 1]), TP.FLOAT, "16777217"),
    (np.array([np.nan], np.float32), TP.FLOAT, "NaN"),
])
def test_foreign_model_takes_only_what_its_input_holds(tmp_path, capsys, x, elem, needle):
    _refused(capsys, tmp_path, _save(tmp_path, _identity(elem=elem)), _npy(tmp_path, x), needle)


@pytest.mark.parametrize("name", ["../x", "/etc/x", ".hidden", "a/b", "", "x" * 201])
def test_unsafe_output_names_are_refused(tmp_path, capsys, name):
    model = _model([helper.make_node("Identity", ["x"], [name or "tmp"])], [_vi("x")], [_vi(name or "tmp")])
    if not name:  # an empty graph-output name: written past onnx.helper's own check
        model.graph.output[0].name = ""
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    _refused(capsys, tmp_path, path, _npy(tmp_path, np.arange(2)))


def test_edge_int8_export_declares_its_input_range(tmp_path, capsys):
    g = Graph("edge-int8")
    g.add("input", Input(2))
    g.add("fc", Gemm(np.ones((1, 2), np.int64), np.zeros(1, np.int64), np.array([1 << 30]), np.zeros(1, np.int64),
                     0, 0, -128, 127, requantise=True), ["input"])
    g.add("output", Output(1, read="v"), ["fc"])
    save(g, tmp_path / "e.snnc")
    assert run_cli(["export", tmp_path / "e.snnc", "--format", "onnx", "--out", tmp_path / "e.onnx"], capsys)[0] == 0
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "e.onnx")).metadata_props}
    assert props["snnc.input_range"] == "[-128, 127]"
    code, _, err = run_cli(["export", tmp_path / "e.onnx", "--run", _npy(tmp_path, np.full((1, 1, 2), -128)),
                            "--out", tmp_path / "y.npz"], capsys)
    assert code == 0 and err == ""
    (tmp_path / "y.npz").unlink()
    _refused(capsys, tmp_path, tmp_path / "e.onnx", _npy(tmp_path, np.full((1, 1, 2), 200), "big.npy"), "[-128, 127]")
