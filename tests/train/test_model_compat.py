"""A checkpoint's model rebuilds from the checkpoint alone, and a changed code default
does not change what an old checkpoint computes (issue 9, item 3 bar)."""
import numpy as np
import pytest
import torch

from snnc.train import config as config_mod
from snnc.train.checkpoint import CHECKPOINT_FORMAT, load_model
from snnc.train.config import Config, ModelConfig
from snnc.train.evaluate import deterministic
from snnc.train.models import LEGACY_MODEL_KEYS, stored_config

# Old nets: each as the pre-option code built it (resnet: per-step affine; dense: none).
OLD_NETS = [
    ({"name": "mlp", "hidden": [12]}, (4, 10)),
    ({"name": "srnn", "hidden": [9]}, (5, 6)),
    ({"name": "resnet", "neuron": "binary", "theta": 0.0, "widths": [4, 8], "blocks": [1, 1],
      "image_shape": [1, 4, 4]}, (2, 16)),
]


def _write_checkpoint(path, cfg: Config, model, in_shape, drop=(), n_classes=3):
    """A checkpoint as the trainer writes it; `drop`: model keys an older snnc did not store."""
    raw = cfg.to_dict()
    for key in drop:
        del raw["model"][key]
    torch.save({"format": CHECKPOINT_FORMAT, "method": cfg.method.name, "config": raw,
                "model": {k: v.detach().clone() for k, v in model.state_dict().items()},
                "in_shape": list(in_shape), "n_classes": n_classes}, path)


def _logits(model, x):
    with deterministic(model) as core:
        return core(x).logits


def _changed_defaults(monkeypatch):
    """Every model option added since format 2 gets a different code default."""
    changed = dict(affine="channel_positive", self_connections=False, bias_noise=0.5, tau_mem=3.0,
                   kernel_size=5, downsample=1)
    monkeypatch.setitem(config_mod.SECTIONS, "model", lambda: ModelConfig(**changed))


@pytest.mark.parametrize("method", ["sbnn", "sg"])
@pytest.mark.parametrize("model_raw,in_shape", OLD_NETS)
def test_old_checkpoint_computes_the_same_logits_after_defaults_change(tmp_path, monkeypatch, model_raw,
                                                                       in_shape, method):
    legacy = {k: rule(model_raw) for k, rule in LEGACY_MODEL_KEYS.items()}
    cfg = config_mod.from_dict({"model": {**model_raw, **legacy}, "method": {"name": method}})
    from snnc.train.build import make_model

    torch.manual_seed(0)
    built = make_model(cfg, in_shape, 3)
    path = tmp_path / "old.pt"
    _write_checkpoint(path, cfg, built, in_shape, drop=list(LEGACY_MODEL_KEYS))
    x = torch.rand(4, *in_shape) * 2
    expect = _logits(built, x)
    model, loaded_cfg = load_model(path)
    assert torch.equal(_logits(model, x), expect)
    _changed_defaults(monkeypatch)
    assert config_mod.from_dict({"model": {}}).model.affine == "channel_positive"  # defaults did change
    model, again = load_model(path)
    assert again.model.affine == legacy["affine"] and again.model.self_connections
    assert torch.equal(_logits(model, x), expect)


def test_a_new_checkpoint_stores_every_option_explicitly(tmp_path, monkeypatch):
    cfg = config_mod.from_dict({"model": {"name": "srnn", "hidden": [6], "affine": "step",
                                          "self_connections": False, "bias_noise": 0.2}})
    from snnc.train.build import make_model

    torch.manual_seed(1)
    built = make_model(cfg, (4, 5), 3)
    path = tmp_path / "new.pt"
    _write_checkpoint(path, cfg, built, (4, 5))
    stored = torch.load(path, weights_only=True)["config"]["model"]
    assert {k: stored[k] for k in LEGACY_MODEL_KEYS} == {"affine": "step", "self_connections": False,
                                                          "bias_noise": 0.2, "kernel_size": 3,
                                                          "downsample": 2, "shortcut": "avgpool_pad"}
    x = torch.rand(3, 4, 5) * 2
    expect = _logits(built, x)
    monkeypatch.setitem(config_mod.SECTIONS, "model", lambda: ModelConfig(affine="none", bias_noise=0.0))
    model, _ = load_model(path)
    assert torch.equal(_logits(model, x), expect)


def test_stored_config_fills_only_missing_model_keys():
    raw = {"model": {"name": "resnet", "affine": "channel_positive"}, "train": {"lr": 1.0}}
    out = stored_config(raw)
    assert out["model"] == {"name": "resnet", "affine": "channel_positive", "self_connections": True,
                            "bias_noise": 0.0, "kernel_size": 3, "downsample": 2, "shortcut": "avgpool_pad"}
    assert out["train"] == {"lr": 1.0} and "self_connections" not in raw["model"]  # no mutation
    assert stored_config({"model": {}})["model"]["affine"] == "none"  # mlp is the default model
    assert stored_config({"model": "garbage"}) == {"model": "garbage"}  # from_dict reports it


def _old_sg_names(state: dict, rec_bias: torch.Tensor) -> dict:
    """An SG srnn state dict as the pre-shared-architecture code wrote it (snnTorch RLeaky)."""
    old = {}
    for key, value in state.items():
        key = key.replace(".rec.weight", ".rlif.recurrent.weight").replace(".neuron.lif.", ".rlif.")
        old[key.replace("readout.fc.", "readout.")] = value
    old["neurons.0.rlif.recurrent.bias"] = rec_bias
    old["fcs.0.bias"] = state["fcs.0.bias"] - rec_bias  # RLeaky added its own bias to the current
    return old


def test_an_old_sg_checkpoint_loads_under_the_new_names(tmp_path):
    from snnc.train.build import make_model

    cfg = config_mod.from_dict({"model": {"name": "srnn", "hidden": [7]}, "method": {"name": "sg"}})
    torch.manual_seed(2)
    built = make_model(cfg, (5, 6), 3)
    with torch.no_grad():
        built.fcs[0].bias.normal_()
    path = tmp_path / "old_sg.pt"
    _write_checkpoint(path, cfg, built, (5, 6))
    ckpt = torch.load(path, weights_only=True)
    ckpt["model"] = _old_sg_names(ckpt["model"], torch.randn(7) * 0.3)
    torch.save(ckpt, path)
    x = torch.rand(4, 5, 6) * 3
    model, _ = load_model(path)
    assert torch.allclose(_logits(model, x), _logits(built, x), atol=1e-5)


def _affine_checkpoint(tmp_path, model: dict, seed: int):
    """An SBNN checkpoint with a non-trivial channel_positive affine (positive gains far from 1)."""
    from snnc.train.build import make_model

    cfg = config_mod.from_dict({"data": {"steps": 4, "encoding": "rate"},
                                "model": {**model, "affine": "channel_positive"}})
    torch.manual_seed(seed)
    net = make_model(cfg, (4, 64), 10)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("scale_param"):
                p.uniform_(-2.0, 2.0)
            elif "affine" in name and name.endswith(".bias"):
                p.normal_(0.0, 0.3)
    path = tmp_path / "affine.pt"
    _write_checkpoint(path, cfg, net, (4, 64), n_classes=10)
    return path, cfg, net


CHANNEL_NETS = [
    {"name": "mlp", "hidden": [16, 12]},
    {"name": "mlp", "hidden": [16], "bias": False},
    {"name": "srnn", "hidden": [14], "self_connections": False},
    {"name": "srnn", "hidden": [10], "bias": False, "beta": 0.875, "reset": "zero"},
]


@pytest.mark.parametrize("model", CHANNEL_NETS)
def test_folding_the_channel_affine_keeps_the_logits(tmp_path, model):
    from snnc.train.build import make_model
    from snnc.train.models import fold_channel_affine

    path, cfg, net = _affine_checkpoint(tmp_path, model, seed=3)
    plain_cfg = config_mod.from_dict({**cfg.to_dict(), "model": {**cfg.to_dict()["model"], "affine": "none",
                                                                 "bias": True}})
    plain = make_model(plain_cfg, (4, 64), 10)
    folded = fold_channel_affine(net.state_dict(), cfg.model)
    assert not any("affine" in k for k in folded)
    plain.load_state_dict(folded, strict=False)  # a bias-free net gets its biases from the fold
    if not cfg.model.bias:
        assert torch.count_nonzero(plain.fcs[0].bias) == 0  # no affine bias either
    x = (torch.rand(32, 4, 64, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    ours, theirs = _logits(plain, x), _logits(net, x)
    assert torch.equal(ours.argmax(1), theirs.argmax(1))
    assert torch.allclose(ours, theirs, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("mode", ["mean", "samples"])
@pytest.mark.parametrize("model", CHANNEL_NETS[2:])
def test_a_channel_positive_net_compiles_to_the_pytorch_model(tmp_path, model, mode):
    from snnc.compiler.frontend import float_net
    from snnc.runtime import deploy
    from snnc.train.bayes import sampled_states

    path, cfg, _ = _affine_checkpoint(tmp_path, model, seed=4)
    front = float_net(path, mode=mode, k=2, seed=6)
    x = (np.random.default_rng(2).random((24, 4, 64)) < 0.3).astype(np.float32)
    ours, _ = deploy.run(front.graph, x)
    net, _ = load_model(path)
    states = [net.state_dict()] if mode == "mean" else sampled_states(net, 2, 6)
    theirs = []
    for state in states:
        net.load_state_dict(state)
        theirs.append(_logits(net, torch.from_numpy(x)).numpy())
    theirs = np.mean(theirs, axis=0)
    assert np.array_equal(ours.argmax(1), theirs.argmax(1))
    assert np.abs(ours - theirs).max() <= 1e-4 * max(1.0, np.abs(theirs).max())


def test_the_compiler_refuses_the_per_step_affine(tmp_path):
    from snnc.compiler.frontend import float_net
    from snnc.errors import CompileError
    from snnc.train.build import make_model

    cfg = config_mod.from_dict({"data": {"steps": 4, "encoding": "rate"},
                                "model": {"name": "mlp", "hidden": [5], "affine": "step"}})
    path = tmp_path / "step.pt"
    _write_checkpoint(path, cfg, make_model(cfg, (4, 64), 3), (4, 64))
    with pytest.raises(CompileError) as err:
        float_net(path)
    assert "model.affine = 'step'" in str(err.value) and "\n" not in str(err.value)
