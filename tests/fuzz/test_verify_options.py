"""verify refuses, before it runs anything, what would make it check nothing or the wrong
thing: no backend, a backend twice, no samples, an output it cannot write, a checkpoint
other than the graph's, options a regression graph does not take."""
from __future__ import annotations

import pytest

from snnc.evaluation.compiled import compile_checkpoint
from snnc.compiler.compile_kan import compile_kan
from snnc.compiler.ir import save
from tests.fuzz.helpers import assert_one_line_refusal, run_cli


@pytest.fixture(scope="module")
def loihi_file(loihi_ckpt, tmp_path_factory):
    path = tmp_path_factory.mktemp("verifyopts") / "g.snnc"
    save(compile_checkpoint(loihi_ckpt, "loihi", evaluate=False).graph, path)
    return path


@pytest.fixture(scope="module")
def kan_file(tiny_kan_ckpt, tmp_path_factory):
    path = tmp_path_factory.mktemp("verifykan") / "k.snnc"
    save(compile_kan(tiny_kan_ckpt, "edge-int8", 100, evaluate=False).graph, path)
    return path


@pytest.mark.parametrize("argv, needle", [
    (["--backends", ""], "--backends names no backend"),
    (["--backends", " , "], "--backends names no backend"),
    (["--backends", "sim,sim"], "--backends names a backend twice"),
    (["--backends", "sim,warp"], "backend 'warp' unknown"),
    (["--samples", "0"], "--samples must be at least 1, got 0"),
    (["--samples", "-3"], "--samples must be at least 1, got -3"),
    (["--json", "/dev/full"], "is a device"),
    (["--json", "{tmp}"], "is a directory"),
])
def test_verify_refuses_before_running(loihi_file, tmp_path, capsys, argv, needle):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code, out, err = run_cli(["verify", loihi_file, *argv], capsys)
    assert_one_line_refusal(code, err, needle)
    assert "deployed acc" not in out


def test_verify_refuses_another_checkpoint_unless_allowed(loihi_file, seq_ckpt, capsys):
    code, out, err = run_cli(["verify", loihi_file, "--checkpoint", seq_ckpt, "--backends", "sim,lava"], capsys)
    assert_one_line_refusal(code, err, "not the checkpoint this graph was compiled from")
    assert "deployed acc" not in out


def test_verify_takes_its_own_checkpoint(loihi_file, loihi_ckpt, tmp_path, capsys):
    code, out, err = run_cli(["verify", loihi_file, "--checkpoint", loihi_ckpt, "--backends", "sim,reference,onnx",
                              "--json", tmp_path / "v.json"], capsys)
    assert code == 0 and "warning" not in out, err
    assert (tmp_path / "v.json").is_file()


@pytest.mark.parametrize("argv, needle", [
    (["--samples", "0"], "--samples: a regression graph is verified on its whole test split"),
    (["--samples", "-3"], "--samples: a regression graph"),
    (["--samples", "5"], "--samples: a regression graph"),
    (["--backends", ""], "--backends names no backend"),
    (["--plot", "x.gif"], "plot suffix '.gif'"),
])
def test_regression_verify_refuses_options_it_does_not_take(kan_file, capsys, argv, needle):
    code, _, err = run_cli(["verify", kan_file, *argv], capsys)
    assert_one_line_refusal(code, err, needle)


def test_regression_verify_refuses_another_checkpoint(kan_file, loihi_ckpt, capsys):
    code, _, err = run_cli(["verify", kan_file, "--checkpoint", loihi_ckpt], capsys)
    assert_one_line_refusal(code, err, "not the checkpoint this graph was compiled from")


@pytest.mark.parametrize("backends", ["sim", "sim,reference", "reference"])
def test_verify_without_an_independent_executor_is_refused(loihi_file, capsys, backends):
    code, out, err = run_cli(["verify", loihi_file, "--backends", backends], capsys)
    assert_one_line_refusal(code, err, "names no independent executor of a 'loihi' graph (add one of: lava")
    assert "deployed acc" not in out


def test_verify_by_default_runs_the_targets_own_executor(loihi_file, tmp_path, capsys):
    import json

    from tests.backends import require
    from snnc.targets.loihi import lava_exec

    require("Lava", lava_exec.lava_python)
    code, out, err = run_cli(["verify", loihi_file, "--samples", "5", "--json", tmp_path / "v.json"], capsys)
    assert code == 0, err
    report = json.loads((tmp_path / "v.json").read_text())
    assert set(report["agreement"]) == {"reference", "lava"} and report["agreement_samples"]["lava"] == 5
