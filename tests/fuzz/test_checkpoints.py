"""Garbage, foreign and mismatched checkpoints under `snnc train --resume`, and run folders
that already hold a run: one line, exit status 2, nothing in the folder changed."""
from __future__ import annotations

import io
import shutil
import zipfile

import pytest
import torch

from tests.fuzz.helpers import assert_one_line_refusal, run_cli, snapshot

TINY = """[data]
name = "digits"
steps = 2
limit = 60
[model]
hidden = [8]
[method]
estimator = "st"
[train]
epochs = 1
batch_size = 30
threads = 1
eval_samples = 0
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    import contextlib

    root = tmp_path_factory.mktemp("ckpt")
    cfg = root / "tiny.toml"
    cfg.write_text(TINY)
    from snnc.cli import main

    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["train", "--config", str(cfg), "--out", str(root / "run"), "--quiet"]) == 0
    return cfg, root / "run"


def _copy(trained, tmp_path):
    cfg, run = trained
    dst = tmp_path / "run"
    shutil.copytree(run, dst)
    return cfg, dst


class Foreign:  # pickled as an object: weights_only loading must refuse it
    pass


def _garbage(name: str, good: bytes) -> bytes:
    buf = io.BytesIO()
    if name == "empty":
        return b""
    if name == "random":
        return bytes(range(256)) * 20
    if name == "truncated":
        return good[: len(good) // 2]
    if name == "truncated_tail":
        return good[:-30]
    if name == "plain_zip":
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("a.txt", "hello")
        return buf.getvalue()
    ckpt = torch.load(io.BytesIO(good), weights_only=True)
    objects = {
        "list": [1, 2, 3],
        "no_format": {"model": {}},
        "foreign_format": {**ckpt, "format": "someone.else/9"},
        "pickled_object": {**ckpt, "extra": Foreign()},
        "bad_optimizer": {**ckpt, "optimizer": {"state": "nope"}},
        "bad_scheduler": {**ckpt, "scheduler": []},
        "bad_rng": {**ckpt, "rng": [b"x"]},
        "bad_epoch": {**ckpt, "epoch": -3},
        "str_epoch": {**ckpt, "epoch": "1"},
        "nan_seconds": {**ckpt, "seconds": float("nan")},
        "bad_model": {**ckpt, "model": {"x": torch.zeros(3)}},
        "model_not_dict": {**ckpt, "model": [1]},
        "bad_config": {**ckpt, "config": {"train": {"lr": float("nan")}}},
        "config_not_dict": {**ckpt, "config": "lr=1"},
        "no_optimizer": {k: v for k, v in ckpt.items() if k != "optimizer"},
        "no_epoch": {k: v for k, v in ckpt.items() if k != "epoch"},
    }
    torch.save(objects[name], buf)
    return buf.getvalue()


GARBAGE = ["empty", "random", "truncated", "truncated_tail", "plain_zip", "list", "no_format", "foreign_format",
           "pickled_object", "bad_optimizer", "bad_scheduler", "bad_rng", "bad_epoch", "str_epoch", "nan_seconds",
           "bad_model", "model_not_dict", "bad_config", "config_not_dict", "no_optimizer", "no_epoch"]


@pytest.mark.parametrize("name", GARBAGE)
def test_garbage_checkpoint_resume(trained, tmp_path, capsys, name):
    cfg, run = _copy(trained, tmp_path)
    ckpt = run / "checkpoint.pt"
    ckpt.write_bytes(_garbage(name, ckpt.read_bytes()))
    before = {p.name: snapshot(p) for p in run.iterdir()}
    code, _, err = run_cli(["train", "--config", cfg, "--out", run, "--resume", "--quiet"], capsys)
    assert_one_line_refusal(code, err, str(ckpt) if name != "bad_config" else None)
    assert {p.name: snapshot(p) for p in run.iterdir()} == before


@pytest.mark.parametrize("change,key", [
    ("lr = 0.05", "train.lr"), ("seed = 3", "train.seed"), ("batch_size = 20", "train.batch_size"),
    ("epochs = 2", "train.epochs"),
])
def test_resume_with_a_changed_config_is_refused(trained, tmp_path, capsys, change, key):
    cfg, run = _copy(trained, tmp_path)
    changed = tmp_path / "changed.toml"
    changed.write_text(_set(TINY, change))
    before = {p.name: snapshot(p) for p in run.iterdir()}
    code, _, err = run_cli(["train", "--config", changed, "--out", run, "--resume", "--quiet"], capsys)
    assert_one_line_refusal(code, err, key)
    assert {p.name: snapshot(p) for p in run.iterdir()} == before


def _set(text: str, assignment: str) -> str:
    key = assignment.split(" =")[0]
    lines = [line for line in text.splitlines() if not line.startswith(f"{key} =")]
    i = lines.index("[train]")
    return "\n".join(lines[:i + 1] + [assignment] + lines[i + 1:]) + "\n"


def test_resume_with_only_where_it_runs_changed(trained, tmp_path, capsys):
    cfg, run = _copy(trained, tmp_path)
    changed = tmp_path / "threads.toml"
    changed.write_text(_set(TINY, "threads = 2"))
    code, _, err = run_cli(["train", "--config", changed, "--out", run, "--resume", "--quiet"], capsys)
    assert code == 0, err


def test_resume_on_an_empty_folder_starts_fresh(trained, tmp_path, capsys):
    cfg, _ = trained
    out = tmp_path / "empty"
    out.mkdir()
    code, _, err = run_cli(["train", "--config", cfg, "--out", out, "--resume", "--quiet"], capsys)
    assert code == 0 and "starting fresh" in err
    assert (out / "checkpoint.pt").exists()


def test_fresh_run_into_a_run_folder(trained, tmp_path, capsys):
    cfg, run = _copy(trained, tmp_path)
    before = {p.name: snapshot(p) for p in run.iterdir()}
    code, _, err = run_cli(["train", "--config", cfg, "--out", run, "--quiet"], capsys)
    assert_one_line_refusal(code, err, "--force")
    assert {p.name: snapshot(p) for p in run.iterdir()} == before
    code, _, err = run_cli(["train", "--config", cfg, "--out", run, "--resume", "--force"], capsys)
    assert_one_line_refusal(code, err)
    code, _, err = run_cli(["train", "--config", cfg, "--out", run, "--force", "--quiet"], capsys)
    assert code == 0, err
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 1
