"""Your data, everywhere: a checkpoint's own data exported as .npz (`snnc data export`) and
given back through `--data FILE.npz` gives the same compile and verify figures as the
built-in set; a file that does not fit is one line naming the file and the array."""
from __future__ import annotations

import json

import numpy as np
import pytest

from snnc.cli import main
from tests.fuzz.helpers import assert_one_line_refusal, run_cli


@pytest.fixture(scope="module")
def exported(loihi_ckpt, tmp_path_factory):
    path = tmp_path_factory.mktemp("userdata") / "digits.npz"
    assert main(["data", "export", str(loihi_ckpt), str(path)]) == 0
    return path


def _report(path):
    return json.loads(path.with_suffix(".report.json").read_text())


def test_a_checkpoints_data_as_npz_compiles_and_verifies_to_the_same_figures(loihi_ckpt, exported, tmp_path):
    own, file = tmp_path / "own.snnc", tmp_path / "file.snnc"
    assert main(["compile", str(loihi_ckpt), "--target", "loihi", "--out", str(own)]) == 0
    assert main(["compile", str(loihi_ckpt), "--target", "loihi", "--data", str(exported), "--out", str(file)]) == 0
    assert _report(own)["accuracy"] == _report(file)["accuracy"]
    assert _report(own)["layers"] == _report(file)["layers"]          # same calibration, same integers
    for name, data in (("own", []), ("file", ["--data", str(exported)])):
        graph = own if name == "own" else file
        assert main(["verify", str(graph), "--checkpoint", str(loihi_ckpt), "--backends", "sim,reference,onnx",
                     *data, "--json", str(tmp_path / f"{name}.json")]) == 0
    a, b = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("own", "file"))
    for key in ("deployed", "agreement", "float_accuracy", "energy_per_inference_j", "samples"):
        assert a[key] == b[key], key


def test_simulate_runs_on_a_users_file(loihi_ckpt, exported, tmp_path, capsys):
    graph = tmp_path / "g.snnc"
    assert main(["compile", str(loihi_ckpt), "--target", "loihi", "--out", str(graph)]) == 0
    assert main(["simulate", str(graph), "--data", str(exported), "--report", str(tmp_path / "r.json")]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["samples"] == 360


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("arrays, needle", [
    (dict(x_train=np.zeros((2, 8, 64)), y_train=np.zeros(2, int)), "no array 'x_test'"),
    (dict(x_test=np.zeros((2, 8, 64)), y_test=np.zeros(3, int)), "'y_test' must be 2 integer labels"),
    (dict(x_test=np.zeros((2, 64)), y_test=np.zeros(2, int)), "'x_test' must be (N, T, C) numbers"),
    (dict(x_test=np.full((2, 8, 64), np.nan), y_test=np.zeros(2, int)), "NaN or infinite"),
    (dict(x_test=-np.ones((2, 8, 64), int), y_test=np.zeros(2, int)), "negative values"),
    (dict(x_test=np.zeros((2, 8, 5), int), y_test=np.zeros(2, int)), "channels"),
])
def test_a_data_file_that_does_not_fit_is_one_line(loihi_ckpt, tmp_path, capsys, arrays, needle):
    graph = tmp_path / "g.snnc"
    assert main(["compile", str(loihi_ckpt), "--target", "loihi", "--out", str(graph)]) == 0
    capsys.readouterr()
    bad = _npz(tmp_path / "bad.npz", **arrays)
    code, _, err = run_cli(["verify", graph, "--backends", "sim,onnx", "--data", bad], capsys)
    assert_one_line_refusal(code, err, needle)


def test_an_object_array_is_never_unpickled(loihi_ckpt, tmp_path, capsys):
    graph = tmp_path / "g.snnc"
    assert main(["compile", str(loihi_ckpt), "--target", "loihi", "--out", str(graph)]) == 0
    capsys.readouterr()
    bad = _npz(tmp_path / "obj.npz", x_test=np.array([object()] * 2, dtype=object), y_test=np.zeros(2, int))
    code, _, err = run_cli(["simulate", graph, "--data", bad], capsys)
    assert_one_line_refusal(code, err, "pickled objects are never read")


@pytest.fixture(scope="module")
def unlabelled(exported, tmp_path_factory):
    """The same digits without y_train and y_test: what a user with only inputs has."""
    arrays = np.load(exported, allow_pickle=False)
    path = tmp_path_factory.mktemp("unlabelled") / "x.npz"
    np.savez(path, x_train=arrays["x_train"], x_test=arrays["x_test"])
    return path


def test_unlabelled_data_compiles_with_the_agreement_gate(loihi_ckpt, exported, unlabelled, tmp_path):
    """Without labels, compile scores each step's argmax against the PyTorch model's, and the
    agreement of the deployed graph is what the labelled run's predictions give."""
    labelled, bare = tmp_path / "l.snnc", tmp_path / "u.snnc"
    assert main(["compile", str(loihi_ckpt), "--target", "loihi", "--data", str(exported), "--out", str(labelled)]) == 0
    assert main(["compile", str(loihi_ckpt), "--target", "loihi", "--data", str(unlabelled), "--out", str(bare)]) == 0
    acc = _report(bare)["accuracy"]
    assert acc["labelled"] is False and acc["float_torch"] == {"agreement": 1.0}
    assert 0.98 <= acc["deployed"]["agreement"] <= 1.0
    assert _report(labelled)["layers"] == _report(bare)["layers"]       # calibration reads x_train only


def test_unlabelled_data_that_disagrees_fails_the_gate():
    """--max-drop does not apply without labels: the gate is agreement >= 0.98, and names the
    step whose agreement fell most."""
    from snnc.evaluation.compiled import fidelity, gate_reason

    report = {"accuracy": {"float_torch": {"agreement": 1.0}, "float_graph": {"agreement": 0.99},
                           "target_dynamics": {"agreement": 0.91}, "deployed": {"agreement": 0.9}}}
    gate = fidelity(report, max_drop=0.5)
    assert gate["metric"] == "agreement" and gate["largest"] == "dynamics mapping"
    assert "90.00%" in gate_reason(gate) and "at least 98% needed" in gate_reason(gate)
    report["accuracy"]["deployed"]["agreement"] = report["accuracy"]["target_dynamics"]["agreement"] = 0.985
    assert fidelity(report, max_drop=0.0) is None


def test_verify_on_unlabelled_data_reports_agreement_only(loihi_ckpt, unlabelled, tmp_path, capsys):
    graph, out = tmp_path / "g.snnc", tmp_path / "v.json"
    assert main(["compile", str(loihi_ckpt), "--target", "loihi", "--out", str(graph)]) == 0
    assert main(["verify", str(graph), "--checkpoint", str(loihi_ckpt), "--data", str(unlabelled),
                 "--backends", "sim,onnx", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["labelled"] is False and r["deployed"] == {"sim": None, "onnx": None}
    assert r["agreement"] == {"onnx": 1.0} and "float_accuracy" not in r
    assert r["gate"]["passed"] and r["float_agreement"]["mean"] >= 0.98
    assert "unlabelled data" in capsys.readouterr().out


def test_simulate_on_unlabelled_data(loihi_ckpt, unlabelled, tmp_path, capsys):
    graph = tmp_path / "g.snnc"
    assert main(["compile", str(loihi_ckpt), "--target", "loihi", "--out", str(graph)]) == 0
    assert main(["simulate", str(graph), "--data", str(unlabelled), "--report", str(tmp_path / "r.json")]) == 0
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["samples"] == 360 and r["accuracy"] is None
    assert "360 samples, unlabelled" in capsys.readouterr().out
