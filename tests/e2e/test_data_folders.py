"""`--data FOLDER`: a folder of a data set's own files, in the layout tonic reads (SHD's .h5 files
here), for compile, simulate and verify; read with the checkpoint's encoding and steps. A copy
of the folder the checkpoint was trained on gives the same figures as its own data config."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from snnc.cli import main
from tests.fuzz.helpers import assert_one_line_refusal, run_cli
from tests.train.test_data import write_shd


def _random_shd(folder, n: int, seed: int):
    """n SHD-format samples: 20 spikes each on random units in the first 1.4 s, labels 0..3."""
    rng = np.random.default_rng(seed)
    return [(np.sort(rng.uniform(0, 1.4, 20)), rng.integers(0, 700, 20), int(rng.integers(0, 4)))
            for _ in range(n)]


@pytest.fixture(scope="module")
def shd(tmp_path_factory):
    """A tiny SHD net trained on a random SHD-format folder; the folder and a copy elsewhere."""
    from snnc.train import config as config_mod
    from snnc.train.trainer import run

    root = tmp_path_factory.mktemp("shd")
    write_shd(root / "shd_train.h5", _random_shd(root, 40, 0))
    write_shd(root / "shd_test.h5", _random_shd(root, 12, 1))
    out = tmp_path_factory.mktemp("shd_run")
    run(config_mod.from_dict({
        "data": {"name": "shd", "root": str(root), "steps": 10, "encoding": "binary"},
        "model": {"name": "mlp", "neuron": "lif", "hidden": [16], "beta": 0.875, "theta": 1.0, "reset": "zero",
                  "bias": False, "readout": "mean"},
        "train": {"epochs": 1, "batch_size": 16, "lr": 5e-3, "threads": 1, "eval_samples": 0}}), out, progress=False)
    copy = tmp_path_factory.mktemp("elsewhere") / "SHD"   # tonic's own layout: root/SHD/shd_*.h5
    shutil.copytree(root, copy)
    return out / "checkpoint.pt", copy.parent


def test_a_folder_gives_the_figures_of_the_checkpoints_own_data(shd, tmp_path):
    ckpt, folder = shd
    own, given = tmp_path / "own.snnc", tmp_path / "given.snnc"
    assert main(["compile", str(ckpt), "--target", "loihi", "--force", "--out", str(own)]) == 0
    assert main(["compile", str(ckpt), "--target", "loihi", "--force", "--data", str(folder),
                 "--out", str(given)]) == 0
    a, b = (json.loads(p.with_suffix(".report.json").read_text()) for p in (own, given))
    assert a["accuracy"] == b["accuracy"] and a["layers"] == b["layers"]
    for name, extra in (("own", []), ("given", ["--data", str(folder)])):
        assert main(["verify", str(given), "--backends", "sim,onnx", *extra,
                     "--json", str(tmp_path / f"{name}.json")]) in (0, 1)
    va, vb = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("own", "given"))
    assert va["samples"] == vb["samples"] == 12 and va["deployed"] == vb["deployed"]
    assert va["agreement"] == {"onnx": 1.0}
    assert main(["simulate", str(given), "--data", str(folder), "--report", str(tmp_path / "s.json")]) == 0
    assert json.loads((tmp_path / "s.json").read_text())["samples"] == 12


def test_a_folder_of_another_data_set_is_one_line(shd, loihi_ckpt, tmp_path, capsys):
    _, folder = shd
    code, _, err = run_cli(["compile", loihi_ckpt, "--target", "loihi", "--data", folder,
                            "--out", tmp_path / "g.snnc"], capsys)
    assert_one_line_refusal(code, err, "holds shd files, but this was trained on digits")


def test_a_folder_without_a_data_set_is_one_line(shd, tmp_path, capsys):
    ckpt, _ = shd
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(["compile", ckpt, "--target", "loihi", "--data", tmp_path / "empty",
                            "--out", tmp_path / "g.snnc"], capsys)
    assert_one_line_refusal(code, err, "holds no data set snnc reads from a folder")
