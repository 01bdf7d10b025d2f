"""`snnc adapt`: fine-tuning with the dynamics and the integer weights the compiler deploys.

Tiny nets trained without the chips' dynamics (soft reset, tau_mem, a leaky readout, biases),
adapted for one or two epochs on a few dozen samples."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from snnc.cli import main
from snnc.evaluation.adapt import adapt, prepare
from snnc.evaluation.compiled import compile_checkpoint
from snnc.evaluation.datasets import load_split
from snnc.runtime import deploy
from snnc.train import config as config_mod
from snnc.train.adapt import GridWeights, on_grid
from snnc.train.checkpoint import load_model
from snnc.train.trainer import run

CALIBRATE = 32
TRAIN = {"epochs": 1, "batch_size": 32, "lr": 1e-2, "threads": 1, "eval_samples": 0}
NETS = {   # trained for no chip: soft reset, beta from tau_mem, biases, a leaky or mean readout
    "xylo": {"data": {"name": "digits-seq", "classes": list(range(8)), "limit": 48},
             "model": {"name": "srnn", "hidden": [16], "tau_mem": 1.0, "reset": "soft", "readout": "leaky"}},
    "loihi": {"data": {"name": "digits", "steps": 6, "encoding": "rate", "limit": 48},
              "model": {"name": "mlp", "hidden": [20], "tau_mem": 10.0, "reset": "soft", "readout": "mean"}},
}


@pytest.fixture(scope="module", params=sorted(NETS))
def trained(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(f"base_{request.param}")
    run(config_mod.from_dict({**NETS[request.param], "loss": {"kl_weight": 0.01}, "train": TRAIN}), out,
        progress=False)
    return request.param, out / "checkpoint.pt"


@pytest.fixture(scope="module")
def adapted(trained, tmp_path_factory):
    target, ckpt = trained
    out = tmp_path_factory.mktemp(f"adapted_{target}")
    return target, out, adapt(ckpt, target, 2, out, calibrate=CALIBRATE)


def test_adapt_writes_a_checkpoint_with_the_chips_dynamics_that_compiles(adapted):
    target, out, summary = adapted
    _, cfg = load_model(out / "checkpoint.pt")
    compiled = compile_checkpoint(out / "checkpoint.pt", target, calibrate=CALIBRATE)
    assert compiled.report["accuracy"]["deployed"]["accuracy"] > 0
    assert cfg.model.reset == {"xylo": "soft", "loihi": "zero"}[target] and not cfg.model.bias
    assert (cfg.model.beta, cfg.model.syn_beta) == {"xylo": (0.5, 0.5), "loihi": (1 - 390 / 4096, 0.0)}[target]
    assert cfg.model.max_spikes == {"xylo": 31, "loihi": 1}[target]
    assert cfg.train.epochs == 2 and summary["target"] == target and summary["notes"]
    # more spikes per step than trained, no rate penalty: the multi-spike one is added
    assert (cfg.loss.rate_weight, cfg.loss.rate_target) == {"xylo": (1.0, 0.5), "loihi": (0.0, 0.0)}[target]
    # what the compiler still changes: nothing in the hidden layer (Xylo's readout keeps its one-LSB leak)
    assert not [n for n in compiled.report["notes"] if n.startswith("lif0")]


def test_the_trained_forward_is_the_compiled_target_dynamics(adapted):
    target, out, _ = adapted
    compiled = compile_checkpoint(out / "checkpoint.pt", target, calibrate=CALIBRATE, evaluate=False)
    model, _ = load_model(out / "checkpoint.pt")
    x, _ = load_split(compiled.front.data, "test")
    model.fire.deterministic = True
    with torch.no_grad():
        trained = model(torch.from_numpy(x).float()).logits.numpy()
    mapped, _ = deploy.run(compiled.mapped, x)   # the float graph with the chip's dynamics, delays and readout
    assert np.abs(trained - mapped).max() <= 1e-3 * np.abs(trained).max()
    assert np.array_equal(trained.argmax(1), mapped.argmax(1))


def test_the_quantised_forward_uses_the_compilers_integers(trained, tmp_path):
    target, ckpt = trained
    plan = prepare(ckpt, target, 1, tmp_path, calibrate=CALIBRATE)
    plan.run.save(tmp_path / "start.pt", 0, 0.0)
    _, grids = plan.assess(tmp_path / "start.pt")
    graph = compile_checkpoint(tmp_path / "start.pt", target, calibrate=CALIBRATE, evaluate=False).graph
    params = dict(plan.run.core.named_parameters())
    GridWeights(plan.run.opt, plan.run.core, grids)   # puts the weights on the grid in place
    deployed = {"xylo": {"fcs.0.weight": "w_in", "neurons.0.rec.weight": "w_rec", "readout.fc.weight": "w_out"},
                "loihi": {"fcs.0.weight": "fc0", "readout.fc.weight": "fc_out"}}[target]
    assert set(grids) == set(deployed)
    for param, synapse in deployed.items():
        step, lo, hi = grids[param]
        k = params[param].detach().numpy() / step
        assert np.allclose(k, np.round(k), atol=1e-3) and lo <= k.min() and k.max() <= hi
        ints = graph.nodes[synapse].weights
        ints = ints // 2 if target == "loihi" and hi == 127 else ints   # Lava's mixed-sign weights are even
        assert np.array_equal(np.round(k).astype(np.int64), ints), param


def test_on_grid_rounds_and_clips():
    w = torch.tensor([-10.0, -0.26, 0.24, 0.26, 10.0])
    assert on_grid(w, (0.5, -4, 3)).tolist() == [-2.0, -0.5, 0.0, 0.5, 1.5]


def test_validation_chooses_the_epoch_and_no_test_split_is_read(trained, tmp_path, monkeypatch):
    import snnc.train.data as data_mod

    target, ckpt = trained
    splits = []
    load = data_mod.load
    monkeypatch.setattr(data_mod, "load", lambda name, split, **kw: splits.append(split) or load(name, split, **kw))
    summary = adapt(ckpt, target, 2, tmp_path, calibrate=CALIBRATE)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1, 2] and "test" not in splits and "val" in splits
    best = max(rows, key=lambda r: r["val_deployed"])   # the first of equals
    assert summary["chosen_epoch"] == best["epoch"] and summary["val_deployed"] == best["val_deployed"]
    model, _ = load_model(tmp_path / "checkpoint.pt")
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["epoch"] == best["epoch"]
    assert not (tmp_path / "candidate.pt").exists()


def test_cli_adapts_on_a_data_file_and_prints_before_and_after(trained, tmp_path, capsys):
    target, ckpt = trained
    data = tmp_path / "d.npz"
    assert main(["data", "export", str(ckpt), str(data)]) == 0
    out = tmp_path / "run"
    argv = ["adapt", str(ckpt), "--target", target, "--epochs", "1", "--out", str(out), "--lr", "0.002",
            "--data", str(data), "--calibrate", str(CALIBRATE), "--quiet",
            "--rate-weight", "0.5", "--rate-target", "0.2"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "model.reset" in text or target == "xylo"
    assert "before" in text and "after" in text and "target dynamics" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["lr"] == 0.002 and summary["data"]["file"] == str(data)
    assert (summary["rate_weight"], summary["rate_target"]) == (0.5, 0.2)
    assert set(summary["after"]) >= {"float_torch", "target_dynamics", "deployed", "gate"}
    assert main(argv) == 2 and "already holds a run" in capsys.readouterr().err   # --force replaces it
    assert main(argv + ["--force"]) == 0


@pytest.mark.parametrize("args, says", [
    (["--epochs", "0"], "--epochs must lie in [1, 1000000]"),
    (["--epochs", "1", "--lr", "-1"], "--lr must be a finite number"),
    (["--epochs", "1", "--lr", "nan"], "--lr must be a finite number"),
    (["--epochs", "1", "--calibrate", "0"], "--calibrate must be >= 1"),
    (["--epochs", "1", "--rate-weight", "-1"], "--rate-weight must be a finite number in [0, 1e+09]"),
    (["--epochs", "1", "--rate-target", "inf"], "--rate-target must be a finite number"),
    (["--epochs", "1", "--data", "no_such.npz"], "no_such.npz"),
    (["--epochs", "x"], "--epochs"),
])
def test_bad_options_are_one_line(tmp_path, capsys, args, says):
    ckpt = tmp_path / "missing.pt"
    assert main(["adapt", str(ckpt), "--target", "xylo", "--out", str(tmp_path / "run"), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err


def test_a_target_without_a_grid_is_refused(tmp_path, capsys):
    assert main(["adapt", "c.pt", "--target", "ideal", "--epochs", "1", "--out", str(tmp_path)]) == 2
    assert "ideal" in capsys.readouterr().err
