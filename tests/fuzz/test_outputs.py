"""Special output paths for --report / --plot: symlinks are written through, directories,
FIFOs and devices refused, unwritable places are one line, nothing at a path changes on a
refusal, the two outputs never end half-done, modes follow the umask, stale temporaries go."""
from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from snnc.errors import OutputError
from snnc.io import atomic_path, write_json
from tests.fuzz.helpers import assert_one_line_refusal, run_cli, snapshot


@pytest.fixture
def spikes(tmp_path):
    path = tmp_path / "in.npy"
    np.save(path, (np.random.default_rng(0).random((2, 6, 4)) < 0.5).astype(np.uint8))
    return path


def _special_paths(tmp_path):
    (tmp_path / "adir").mkdir()
    os.mkfifo(tmp_path / "fifo.json")
    (tmp_path / "plain").write_text("keep me")
    os.symlink(tmp_path / "adir", tmp_path / "link_to_dir.json")
    os.symlink(tmp_path / "fifo.json", tmp_path / "link_to_fifo.json")
    paths = [tmp_path / "adir", tmp_path / "fifo.json", tmp_path / "link_to_dir.json",
             tmp_path / "link_to_fifo.json", tmp_path / "plain" / "under_a_file.json",
             tmp_path / "plain" / "deeper" / "x.json", "/proc/self/snnc_report.json",
             "/proc/nonexistent/x.json", "/dev/null", "/dev/full", "/dev/zero"]
    return paths


def test_report_special_paths_refused_and_unchanged(graph_file, spikes, tmp_path, capsys):
    for path in _special_paths(tmp_path):
        before = snapshot(path)
        code, out, err = run_cli(["simulate", graph_file, "--input", spikes, "--report", path], capsys)
        assert_one_line_refusal(code, err)
        assert "energy total" not in out  # refused before running
        assert snapshot(path) == before, path
    assert (tmp_path / "plain").read_text() == "keep me"


@pytest.mark.parametrize("suffix", [".jpg", ".txt", "", ".png.bak"])
def test_plot_unknown_suffix_refused_before_anything(graph_file, spikes, tmp_path, capsys, suffix):
    report, plot = tmp_path / "r.json", tmp_path / f"p{suffix}"
    code, _, err = run_cli(["simulate", graph_file, "--input", spikes, "--report", report, "--plot", plot], capsys)
    assert_one_line_refusal(code, err, "suffix")
    assert not report.exists() and not plot.exists()


def test_one_bad_output_leaves_the_other_untouched(graph_file, spikes, tmp_path, capsys):
    report = tmp_path / "r.json"
    report.write_text('{"old": true}\n')
    for bad in (tmp_path, "/dev/full", tmp_path / "r.json" / "x.png"):
        code, _, err = run_cli(["simulate", graph_file, "--input", spikes, "--report", report, "--plot", bad],
                               capsys)
        assert_one_line_refusal(code, err)
        assert report.read_text() == '{"old": true}\n'
    plot = tmp_path / "p.png"
    plot.write_bytes(b"old")
    code, _, err = run_cli(["simulate", graph_file, "--input", spikes, "--report", "/dev/full", "--plot", plot],
                           capsys)
    assert_one_line_refusal(code, err)
    assert plot.read_bytes() == b"old"


@pytest.mark.parametrize("fmt,magic", [(".png", b"\x89PNG"), (".pdf", b"%PDF"), (".svg", b"<?xml")])
def test_symlinked_outputs_are_written_through(graph_file, spikes, tmp_path, capsys, fmt, magic):
    real_r, real_p = tmp_path / "real.json", tmp_path / f"real{fmt}"
    real_r.write_text("old")
    os.chmod(real_r, 0o640)
    os.symlink(real_r, tmp_path / "r.json")
    os.symlink(real_p, tmp_path / f"p{fmt}")  # dangling: its target is created
    code, _, err = run_cli(["simulate", graph_file, "--input", spikes, "--report", tmp_path / "r.json",
                            "--plot", tmp_path / f"p{fmt}"], capsys)
    assert code == 0, err
    assert os.path.islink(tmp_path / "r.json") and os.path.islink(tmp_path / f"p{fmt}")
    assert real_r.read_text().startswith("{") and real_p.read_bytes().startswith(magic)
    assert stat.S_IMODE(real_r.stat().st_mode) == 0o640  # an existing file keeps its mode
    assert not list(tmp_path.glob(".*.tmp"))


def test_same_file_for_both_outputs_refused(graph_file, spikes, tmp_path, capsys):
    os.symlink(tmp_path / "same.png", tmp_path / "alias.png")
    code, _, err = run_cli(["simulate", graph_file, "--input", spikes, "--report", tmp_path / "same.png",
                            "--plot", tmp_path / "alias.png"], capsys)
    assert_one_line_refusal(code, err, "same file")


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_new_files_follow_the_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        write_json(tmp_path / "a.json", {"x": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o666 & ~mask


def test_stale_temporaries_are_removed(tmp_path):
    dead = tmp_path / ".a.json.999999999.abc.tmp"     # a pid that is not running
    legacy = tmp_path / ".a.json.k2j3h4.tmp"          # written by an older snnc
    mine_alive = tmp_path / f".a.json.{os.getppid()}.xyz.tmp"  # a live writer: kept
    other = tmp_path / ".b.json.999999999.abc.tmp"     # another file's: kept
    for p in (dead, legacy, mine_alive, other):
        p.write_text("partial")
    os.utime(legacy, (1, 1))
    write_json(tmp_path / "a.json", {})
    assert not dead.exists() and not legacy.exists() and mine_alive.exists() and other.exists()


def test_nan_in_a_report_is_still_json(tmp_path):
    import json

    write_json(tmp_path / "s.json", {"a": float("nan"), "b": [float("inf"), 1.0]})
    assert json.loads((tmp_path / "s.json").read_text()) == {"a": None, "b": [None, 1.0]}


def test_failure_inside_the_writer_leaves_the_target(tmp_path):
    target = tmp_path / "t.bin"
    target.write_bytes(b"before")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"before" and not list(tmp_path.glob(".*.tmp"))
    with pytest.raises(OutputError):
        with atomic_path(tmp_path):
            pass
