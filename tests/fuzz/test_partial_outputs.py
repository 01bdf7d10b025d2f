"""A failed command leaves nothing behind and replaces nothing: every output path is
checked before the first write, and multi-file outputs (compile's graph and report, the
Lava program and its parameters) appear together or not at all."""
from __future__ import annotations

import os

import pytest

from tests.fuzz.helpers import assert_one_line_refusal, run_cli, snapshot


def _bad_report_paths(tmp_path, stem: str):
    """Ways the report beside `stem.snnc` cannot be written."""
    report = tmp_path / f"{stem}.report.json"
    return {"a directory": lambda: report.mkdir(),
            "a link to /dev/full": lambda: os.symlink("/dev/full", report),
            "a FIFO": lambda: os.mkfifo(report)}


@pytest.mark.parametrize("how", ["a directory", "a link to /dev/full", "a FIFO"])
@pytest.mark.parametrize("existing", [False, True])
def test_compile_writes_neither_file_when_the_report_cannot_be_written(loihi_ckpt, tmp_path, capsys, how,
                                                                        existing):
    out = tmp_path / "g.snnc"
    if existing:
        out.write_bytes(b"an older graph")
    _bad_report_paths(tmp_path, "g")[how]()
    before = snapshot(out), snapshot(tmp_path / "g.report.json")
    code, stdout, err = run_cli(["compile", loihi_ckpt, "--target", "loihi", "--out", out], capsys)
    assert_one_line_refusal(code, err)
    assert "test accuracy" not in stdout  # refused before compiling
    assert (snapshot(out), snapshot(tmp_path / "g.report.json")) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["g.report.json"] + ["g.snnc"] * existing)


@pytest.mark.parametrize("kind", ["fifo", "dir"])
def test_lava_export_writes_no_parameters_when_the_program_path_is_refused(graph_file, tmp_path, capsys, kind):
    out = tmp_path / "prog.py"
    os.mkfifo(out) if kind == "fifo" else out.mkdir()
    code, _, err = run_cli(["export", graph_file, "--format", "lava", "--out", out], capsys)
    assert_one_line_refusal(code, err)
    assert not (tmp_path / "prog.npz").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prog.py"]


def test_lava_export_replaces_neither_file_when_the_parameters_are_refused(graph_file, tmp_path, capsys):
    (tmp_path / "prog.py").write_text("# an older program\n")
    (tmp_path / "prog.npz").mkdir()
    code, _, err = run_cli(["export", graph_file, "--format", "lava", "--out", tmp_path / "prog.py"], capsys)
    assert_one_line_refusal(code, err)
    assert (tmp_path / "prog.py").read_text() == "# an older program\n"


@pytest.mark.parametrize("argv, needle", [
    (["--mode", "samples"], "--mode is for SBNN/SG checkpoints"),
    (["--k", "-1"], "--k is for SBNN/SG checkpoints"),
    (["--seed", "3"], "--seed is for SBNN/SG checkpoints"),
])
def test_compile_refuses_options_that_do_not_apply_to_a_kan(tiny_kan_ckpt, tmp_path, capsys, argv, needle):
    code, _, err = run_cli(["compile", tiny_kan_ckpt, "--target", "edge-int8", *argv,
                            "--out", tmp_path / "k.snnc"], capsys)
    assert_one_line_refusal(code, err, needle)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("argv, needle", [
    (["--seed", str(2**80)], "--seed must lie in [0, 2^53]"),
    (["--seed", "-1"], "--seed must lie in [0, 2^53]"),
    (["--k", "4"], "--k is the number of posterior samples of --mode samples"),
    (["--mode", "samples", "--k", "0"], "--k must lie in [1, 64]"),
])
def test_compile_refuses_bad_sampling_options_in_one_line(loihi_ckpt, tmp_path, capsys, argv, needle):
    code, _, err = run_cli(["compile", loihi_ckpt, "--target", "loihi", *argv, "--out", tmp_path / "g.snnc"],
                           capsys)
    assert_one_line_refusal(code, err, needle)
    assert not any(tmp_path.iterdir())
