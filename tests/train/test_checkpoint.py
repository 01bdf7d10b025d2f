"""Checkpoints rebuild alone: no TOML, no data; bad files are one-line FormatErrors."""
import hashlib
import json

import pytest
import torch

from snnc.errors import FormatError
from snnc.train import config as config_mod
from snnc.train.trainer import (CHECKPOINT_FORMAT, checkpoint_info, fit, load_model, make_model,
                                make_optimizer, predict, save_checkpoint)
from snnc.train import data as data_mod

CHIP = {"data": {"name": "digits-seq", "classes": [0, 1, 2, 3, 4, 5, 6, 7], "max_count": 15, "limit": 200},
        "model": {"name": "srnn", "hidden": [12], "beta": 0.875, "syn_beta": 0.5, "max_spikes": 31,
                  "bias": False, "readout": "cuba", "readout_alpha": 0.5},
        "loss": {"kl_weight": 0.01},
        "train": {"epochs": 2, "batch_size": 50, "threads": 1, "eval_samples": 0}}


def _save(tmp_path, cfg, in_shape=(8, 8), n_classes=8, scale=0.25, name="ckpt.pt"):
    """A freshly built model (input layer rescaled like the data-aware init), saved."""
    torch.manual_seed(0)
    model = make_model(cfg, in_shape, n_classes)
    model.scale_input_layer(scale)
    opt, sched = make_optimizer(model, cfg.train)
    path = tmp_path / name
    save_checkpoint(path, core=model, opt=opt, sched=sched, cfg=cfg, epoch=1, seconds=0.0,
                    in_shape=in_shape, n_classes=n_classes, rng=[{"cpu": torch.get_rng_state()}])
    return model, path


def _logits(model, x):
    model.fire.deterministic = True
    with torch.no_grad():
        return model(x).logits


def test_model_rebuilds_from_the_checkpoint_alone_with_identical_logits(tmp_path):
    cfg = config_mod.from_dict(CHIP)
    model, path = _save(tmp_path, cfg)
    loaded, loaded_cfg = load_model(path)
    x = torch.randint(0, 16, (4, 8, 8)).float()
    assert torch.equal(_logits(model, x), _logits(loaded, x))
    assert loaded_cfg.to_dict() == cfg.to_dict()
    assert loaded.neurons[0].neuron.params.max_spikes == 31 and loaded.fcs[0].bias is None


def test_prior_std_survives_reload(tmp_path):
    model, path = _save(tmp_path, config_mod.from_dict({"model": {"hidden": [5]}}), (4, 64), 10, scale=0.25)
    loaded, _ = load_model(path)
    assert float(loaded.fcs[0].prior_std) == pytest.approx(0.25 / 8.0)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name]), name
    assert "fcs.0.prior_std" in torch.load(path, weights_only=True)["model"]


def test_format_1_checkpoint_without_prior_std_still_loads(tmp_path):
    model, path = _save(tmp_path, config_mod.from_dict({"model": {"hidden": [5]}}), (4, 64), 10)
    ckpt = torch.load(path, weights_only=True)
    ckpt["format"] = "snnc.train/1"
    ckpt["model"] = {k: v for k, v in ckpt["model"].items() if not k.endswith("prior_std")}
    for key in ("beta", "syn_beta", "max_spikes", "bias", "readout_alpha"):  # keys format 1 lacked
        del ckpt["config"]["model"][key]
    for key in ("classes", "max_count"):
        del ckpt["config"]["data"][key]
    torch.save(ckpt, path)
    loaded, _ = load_model(path)
    x = (torch.rand(3, 4, 64) > 0.5).float()
    assert torch.equal(_logits(model, x), _logits(loaded, x))
    assert float(loaded.fcs[0].prior_std) == pytest.approx(1.0 / 8.0)  # rebuilt from the config


def _one_line_format_error(path, needle):
    with pytest.raises(FormatError) as err:
        load_model(path)
    message = str(err.value)
    assert str(path) in message and needle in message and "\n" not in message, message


def test_unknown_format_is_a_one_line_error(tmp_path):
    _, path = _save(tmp_path, config_mod.from_dict({"model": {"hidden": [5]}}), (4, 64), 10)
    ckpt = torch.load(path, weights_only=True)
    ckpt["format"] = "snnc.train/99"
    torch.save(ckpt, path)
    _one_line_format_error(path, "unknown checkpoint format 'snnc.train/99'")
    with pytest.raises(FormatError, match="unknown checkpoint format"):
        checkpoint_info(path)


def test_corrupt_or_foreign_files_are_one_line_errors(tmp_path):
    _, good = _save(tmp_path, config_mod.from_dict({"model": {"hidden": [5]}}), (4, 64), 10)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:300])
    _one_line_format_error(truncated, "not a snnc checkpoint (unreadable as a torch file")
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    _one_line_format_error(text, "not a snnc checkpoint (unreadable as a torch file")
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    _one_line_format_error(foreign, "no 'format' entry")
    _one_line_format_error(tmp_path / "absent.pt", "no such checkpoint")


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "pickled.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "obj": config_mod.Config()}, path)
    _one_line_format_error(path, "not a snnc checkpoint (it holds pickled Python objects")


def test_weights_that_do_not_fit_the_config_are_one_line_errors(tmp_path):
    _, path = _save(tmp_path, config_mod.from_dict({"model": {"hidden": [5]}}), (4, 64), 10)
    ckpt = torch.load(path, weights_only=True)
    ckpt["config"]["model"]["hidden"] = [6]
    torch.save(ckpt, path)
    _one_line_format_error(path, "weights do not fit the stored config (fcs.0.weight has shape (5, 64)")
    ckpt["config"]["model"]["hiden"] = [6]
    torch.save(ckpt, path)
    _one_line_format_error(path, "stored config: model.hiden: unknown key")


def test_checkpoint_info_gives_shapes_config_format_and_hash(tmp_path):
    cfg = config_mod.from_dict(CHIP)
    _, path = _save(tmp_path, cfg)
    info = checkpoint_info(path)
    assert info["format"] == CHECKPOINT_FORMAT == "snnc.train/2"
    assert info["in_shape"] == [8, 8] and info["n_classes"] == 8
    assert info["config"] == cfg.to_dict()
    assert info["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_chip_config_trains_and_its_checkpoint_scores_like_the_summary(tmp_path):
    cfg = config_mod.from_dict(CHIP)
    summary = fit(cfg, tmp_path / "run", progress=False)
    model, loaded_cfg = load_model(tmp_path / "run" / "checkpoint.pt")
    test = data_mod.load("digits-seq", "test", limit=200, classes=loaded_cfg.data.classes, max_count=15)
    probs, labels, _ = predict(model, test, 256, torch.device("cpu"))
    assert float((probs.argmax(1) == labels).float().mean()) == summary["test_accuracy"]
    assert probs.shape[1] == 8 and int(labels.max()) <= 7
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["test_accuracy"] == summary["test_accuracy"]
