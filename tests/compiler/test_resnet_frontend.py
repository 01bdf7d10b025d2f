"""Resnet checkpoints -> float graphs whose `ideal` simulation is the PyTorch forward: a short digits
run of configs/digits_resnet.toml's net (spike-coded, channel_positive affine), and the DVS and
CIFAR configs' nets at small widths on random data of their shapes (conv units, spike-add and
downsampling shortcuts, global-average-pool readout, all folded as compiler/frontend/resnet.py says)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from snnc.compiler.frontend import float_net
from snnc.compiler.ir import Conv2d
from snnc.errors import CompileError
from snnc.evaluation.datasets import load_split
from snnc.runtime import deploy, simulate
from snnc.train import config as config_mod
from snnc.train.build import make_model
from snnc.train.checkpoint import load_model, save_checkpoint
from snnc.train.trainer import run
from tests.backends import fresh_seed

ROOT = Path(__file__).resolve().parent.parent.parent


def _torch_logits(model, x):
    model.fire.deterministic = True
    model.eval()
    with torch.no_grad():
        return model(torch.from_numpy(x).float()).logits.numpy()


def _assert_same(ckpt, x):
    front = float_net(ckpt)
    ours, _ = deploy.run(front.graph, x)
    model, _ = load_model(ckpt)
    theirs = _torch_logits(model, x)
    assert np.array_equal(ours.argmax(1), theirs.argmax(1)), "a sample is predicted differently"
    assert np.abs(ours - theirs).max() <= 1e-4 * max(1.0, np.abs(theirs).max())
    return front


@pytest.fixture(scope="module")
def digits_resnet(tmp_path_factory):
    """configs/digits_resnet.toml's net, narrower and shallower, rate-coded, compilable affine, 1 epoch."""
    raw = config_mod.read_toml(ROOT / "configs" / "digits_resnet.toml")
    raw["data"].update(encoding="rate", steps=4)
    raw["model"].update(widths=[4, 6, 8], blocks=[2, 1, 1], affine="channel_positive")
    raw["train"].update(epochs=1, threads=1, eval_samples=0)
    raw.pop("baseline", None)
    out = tmp_path_factory.mktemp("resnet")
    run(config_mod.from_dict(raw), out, progress=False)
    return out / "checkpoint.pt"


def test_digits_resnet_float_graph_is_the_pytorch_model(digits_resnet):
    x, _ = load_split({"name": "digits", "steps": 4, "encoding": "rate"}, "test")
    front = _assert_same(digits_resnet, x)
    g = front.graph
    convs = g.of_type(Conv2d)
    assert len(front.layers) == 1 + 2 * 4 + 1
    # the shortcut: block 1's first conv reads the stem and block 0's output (two synapses, same weights)
    assert sorted(s for s in convs if s.startswith("b1_1")) == ["b1_1_from_b0_2", "b1_1_from_stem"]
    # block 3 (stride 2) sees the stem through block 2's 2x2 average pool, folded: a 6x6 kernel at stride 4
    assert convs["b3_1_from_stem"].stride == (4, 4) and convs["b3_1_from_stem"].kernel_size == (6, 6)
    assert g.nodes["fc_out_from_stem"].weights.shape == (10, 4 * 8 * 8)   # the readout's mean over the stem's 8x8


def _random_checkpoint(path, config: str, data: dict, model: dict, in_shape, seed: int):
    raw = config_mod.read_toml(ROOT / "configs" / config)
    raw["data"].update(data)
    raw["model"].update(model)
    cfg = config_mod.from_dict(raw)
    torch.manual_seed(seed)
    net = make_model(cfg, in_shape, 10)
    with torch.no_grad():   # affines away from their init, so that the fold is tested
        for name, p in net.named_parameters():
            if "affine" in name:
                p.add_(torch.randn_like(p) * 0.3)
    opt = torch.optim.Adam(net.parameters())
    save_checkpoint(path, core=net, opt=opt, sched=torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0), cfg=cfg,
                    epoch=0, seconds=0.0, in_shape=in_shape, n_classes=10, rng=None)
    return path


@pytest.mark.parametrize("config, data, model, in_shape", [
    ("dvs_sbnn.toml", {"steps": 3}, {"widths": [4, 6, 8], "blocks": [1, 1, 1], "affine": "channel_positive"},
     (3, 2, 32, 32)),
    ("cifar10_sbnn.toml", {"steps": 2, "encoding": "rate"},
     {"widths": [4, 6, 8, 8], "blocks": [1, 1, 1, 1], "affine": "channel_positive"}, (2, 3, 32, 32)),
])
def test_dvs_and_cifar_nets_on_data_of_their_shape(tmp_path, config, data, model, in_shape):
    seed = 7   # fixed: on random nets a float32 round-off at a threshold can flip a spike (seen once in a
    #            full-suite run with an unrecorded fresh seed; seeds 1-22 pass)
    ckpt = _random_checkpoint(tmp_path / "c.pt", config, data, model, in_shape, seed)
    rng = np.random.default_rng(seed)
    x = (rng.random((6, in_shape[0], int(np.prod(in_shape[1:])))) < 0.3).astype(np.int64)
    front = _assert_same(ckpt, x)
    assert len(front.graph.of_type(Conv2d)) >= 1 + 2 * len(model["blocks"])
    spikes = simulate(front.graph, x).spikes
    alive = sum(spikes[pop].sum() > 0 for pop in front.layers[:-1])
    assert spikes["stem"].sum() > 0 and alive >= len(front.layers[:-1]) // 2, "too few populations spiked"


def test_odd_downsampling_and_samples_mode_are_one_line(tmp_path):
    ckpt = _random_checkpoint(tmp_path / "c.pt", "dvs_sbnn.toml", {"steps": 2},
                              {"widths": [2, 3], "blocks": [1, 1], "affine": "channel_positive"}, (2, 2, 5, 5), 0)
    with pytest.raises(CompileError, match="odd sizes"):
        float_net(ckpt)
    with pytest.raises(CompileError, match="samples is not lowered for resnets"):
        float_net(ckpt, mode="samples")


def test_digits_resnet_compiles_for_loihi_and_both_engines_agree(digits_resnet):
    """The loihi flow on a resnet: conv layers quantised to pre-shifted 8-bit mantissas (targets/loihi/
    quantise_conv.py), design rules passed, the compiled graph's event engine equal to the reference."""
    from snnc.evaluation.compiled import compile_checkpoint

    compiled = compile_checkpoint(digits_resnet, "loihi", evaluate=False)
    g = compiled.graph
    convs = g.of_type(Conv2d)
    assert convs and all(c.weights.dtype == np.int64 and np.abs(c.weights).max() <= 255 and c.weight_exp >= 0
                         for c in convs.values())
    assert compiled.report["usage"]["cores"] >= len(g.neurons)
    x = (np.random.default_rng(fresh_seed()).random((4, 4, 64)) < 0.5).astype(np.int64)
    from snnc.runtime.deploy import pad_input
    a = simulate(g, pad_input(g, x), record=("u", "v"))
    b = simulate(g, pad_input(g, x), record=("u", "v"), engine="reference")
    for pop in g.neurons:
        np.testing.assert_array_equal(a.spikes[pop], b.spikes[pop])
        np.testing.assert_array_equal(a.state[pop]["v"], b.state[pop]["v"])
    assert a.stats == b.stats and sum(int(a.spikes[p].sum()) for p in g.neurons) > 0
