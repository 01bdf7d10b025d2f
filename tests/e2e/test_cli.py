"""The command line as a user runs it: tables, files written, one-line errors."""
import json
import subprocess
import sys

import numpy as np
import pytest

from snnc.cli import main
from snnc.compiler.ir import save
from snnc.targets import loihi, xylo


@pytest.fixture
def loihi_file(tmp_path):
    rng = np.random.default_rng(0)
    g = loihi.graph_from_lava_layers([dict(weights=rng.integers(-50, 120, (12, 6)), vth=100, du=500, dv=200),
                                      dict(weights=rng.integers(-50, 120, (3, 12)), vth=100)], 6)
    return save(g, tmp_path / "net.snnc")


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_targets_table(capsys):
    code, out, _ = run(["targets"], capsys)
    assert code == 0
    for text in ("loihi", "xylo", "ideal", "23.60 pJ", "Davies et al.", "[estimate]", "fan_out"):
        assert text in out
    code, out, _ = run(["targets", "--json"], capsys)
    assert json.loads(out)["xylo"]["limits"]["fan_out"] == 64


def test_inspect(loihi_file, capsys):
    code, out, _ = run(["inspect", str(loihi_file)], capsys)
    assert code == 0 and "dense0" in out and "lif1" in out and "total memory" in out
    code, out, _ = run(["inspect", str(loihi_file), "--json"], capsys)
    doc = json.loads(out)
    assert doc["target"] == "loihi" and {r["name"] for r in doc["nodes"]} >= {"dense0", "lif0"}


def test_simulate_writes_report_and_plot(loihi_file, tmp_path, capsys):
    x = (np.random.default_rng(1).random((3, 20, 6)) < 0.4).astype(np.int8)
    np.save(tmp_path / "in.npy", x)
    code, out, _ = run(["simulate", str(loihi_file), "--input", str(tmp_path / "in.npy"),
                        "--report", str(tmp_path / "r.json"), "--plot", str(tmp_path / "r.png")], capsys)
    assert code == 0 and "energy total" in out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["batch"] == 3 and report["energy"]["total_j"] > 0 and "lif0" in report["stats"]
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("make_input,expect", [
    (lambda p: np.save(p, np.zeros((5, 4), np.int8)), "input has 4 channels"),
    # a hostile object-array .npy written on purpose: our loader must refuse to unpickle it
    (lambda p: np.save(p, np.array([{"a": 1}], dtype=object), allow_pickle=True), "pickled objects are never read"),
    (lambda p: p.write_bytes(b"garbage"), "not a readable .npy"),
])
def test_simulate_bad_input_one_line(loihi_file, tmp_path, capsys, make_input, expect):
    path = tmp_path / "bad.npy"
    make_input(path)
    code, _, err = run(["simulate", str(loihi_file), "--input", str(path)], capsys)
    assert code == 2 and expect in err and err.count("\n") == 1


def test_corrupt_snnc_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.snnc"
    bad.write_bytes(b"PK\x03\x04 truncated")
    np.save(tmp_path / "in.npy", np.zeros((2, 2), np.int8))
    code, _, err = run(["simulate", str(bad), "--input", str(tmp_path / "in.npy")], capsys)
    assert code == 2 and str(bad) in err and err.count("\n") == 1


def test_unknown_command(capsys):
    code, _, err = run(["frobnicate"], capsys)
    assert code == 2 and "unknown command" in err


def test_console_script_and_xylo_file(tmp_path):
    g = xylo.graph_from_xylo(np.ones((2, 3, 1), int), np.zeros((3, 3, 1), int), np.ones((3, 2), int), 2, 2)
    save(g, tmp_path / "x.snnc")
    np.save(tmp_path / "in.npy", np.full((4, 2), 3, np.int16))
    proc = subprocess.run([sys.executable, "-m", "snnc.cli", "simulate", str(tmp_path / "x.snnc"),
                           "--input", str(tmp_path / "in.npy")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "hidden" in proc.stdout and "readout" in proc.stdout


def test_demo_trains_compiles_and_verifies(tmp_path, capsys):
    """The whole job, at one epoch per config: train -> compile -> verify on every executor."""
    code, out, _ = run(["demo", "--epochs", "1", "--out", str(tmp_path), "--samples", "12"], capsys)
    assert code == 0, out[-3000:]
    assert "=== summary (test split" in out and out.count("dense int8 on edge-int8 (hidden") == 4
    assert "=== shipped digits_conv_loihi.pt" in out   # the conv net: compiled from configs/trained/
    for job in ("loihi-mean", "loihi-k8", "xylo-mean", "loihi-conv"):
        assert (tmp_path / f"{job}.snnc").is_file() and (tmp_path / f"{job}.png").is_file()
        assert (tmp_path / f"{job}.dense.snnc").is_file()   # the dense int8 baseline (evaluation/dense_baseline.py)
        report = json.loads((tmp_path / f"{job}.verify.json").read_text())
        backend = "xylosim" if job.startswith("xylo") else "lava"
        assert report["agreement"] == {"reference": 1.0, "onnx": 1.0, backend: 1.0}


def test_demo_refuses_a_shipped_checkpoint_whose_sha256_differs(tmp_path):
    import shutil

    from snnc.cli.demo import SHIPPED, _shipped
    from snnc.errors import InputError

    stem = SHIPPED["digits_conv_loihi.toml"]
    shutil.copy(stem.with_suffix(".json"), tmp_path / "c.json")
    (tmp_path / "c.pt").write_bytes(stem.with_suffix(".pt").read_bytes() + b"\0")
    assert _shipped(stem) == stem.with_suffix(".pt")
    with pytest.raises(InputError, match="sha256"):
        _shipped(tmp_path / "c")
