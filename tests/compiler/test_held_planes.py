"""A 1-step binary net trained on analog input, deployed on Loihi (`compiler/frontend/planes.py`):
the input as held binary bit planes, the memoryless units settling through the chip's delays.

A tiny binary resnet with spike-add and downsampling shortcuts (whose paths have unequal delays)
is trained for one epoch on digits (pixels k/16: the bit planes are exact), compiled for loihi and
run in Lava."""
from __future__ import annotations

import numpy as np
import pytest

from snnc.cli import main
from snnc.compiler.ir import save
from snnc.compiler.frontend.planes import SETTLE, input_lattice
from snnc.errors import InputError
from snnc.evaluation.compiled import compile_checkpoint, torch_probabilities
from snnc.evaluation.datasets import load_split
from snnc.evaluation.verify import verify
from snnc.runtime import deploy
from snnc.runtime.deploy import encode_planes
from snnc.runtime.simulate import simulate
from snnc.targets.loihi import lava_exec
from snnc.train import config as config_mod
from snnc.train.trainer import run
from tests.backends import require

NET = {"data": {"name": "digits", "steps": 1, "encoding": "direct", "limit": 64},
       "model": {"name": "resnet", "neuron": "binary", "theta": 0.0, "widths": [4, 8], "blocks": [1, 1],
                 "image_shape": [1, 8, 8], "affine": "channel_positive"},
       "loss": {"kl_weight": 0.0},
       "train": {"epochs": 1, "batch_size": 16, "lr": 5e-3, "threads": 1, "eval_samples": 0}}


@pytest.fixture(scope="module")
def held(tmp_path_factory):
    out = tmp_path_factory.mktemp("held_resnet")
    run(config_mod.from_dict(NET), out, progress=False)
    ckpt = out / "checkpoint.pt"
    return ckpt, compile_checkpoint(ckpt, "loihi", calibrate=32, evaluate=False)


def test_lattice_of_the_data_or_eight_bits():
    assert input_lattice(np.arange(17) / 16.0) == (5, 1 / 16, True)
    bits, scale, exact = input_lattice(np.array([0.0, 0.3, 1.7]))
    assert (bits, exact) == (8, False) and scale == pytest.approx(1.7 / 255)
    assert input_lattice(np.zeros(4)) == (1, 1.0, True)


def test_planes_are_the_bits_of_the_quantised_value_held_and_signed():
    meta = {"bits": 3, "scale": 0.5, "signed": True, "channels": 2}
    x = np.array([[[1.5, -2.0]]])              # q = 3 (positive), 4 (negative)
    planes = encode_planes(meta, x, 4)
    assert planes.shape == (1, 4, 12) and (planes == planes[:, :1]).all()
    assert planes[0, 0].tolist() == [1, 0, 1, 0, 0, 0] + [0, 0, 0, 0, 0, 1]
    with pytest.raises(InputError, match=r"\[B, 1, 2\]"):
        encode_planes(meta, np.zeros((1, 2, 2)), 4)
    with pytest.raises(InputError, match="1 input values exceed 3.5"):   # never clipped silently
        encode_planes(meta, np.array([[[4.0, 0.0]]]), 4)
    with pytest.raises(InputError, match="negative"):
        encode_planes({**meta, "signed": False}, x, 4)


def test_the_float_graph_with_planes_is_the_trained_net(held):
    ckpt, compiled = held
    graph = compiled.front.graph
    assert graph.metadata["input_planes"]["bits"] == 5 and graph.metadata["hold_input"]
    assert compiled.front.steps == 1 + SETTLE and compiled.graph.metadata["pad_steps"] > 3
    x, _ = load_split(graph.metadata.get("data") or compiled.graph.metadata["data"], "test", limit=60)
    logits, _ = deploy.run(graph, x)
    torch_logits = np.log(torch_probabilities(ckpt, "mean", 1, 0, x))
    assert (logits.argmax(1) == torch_logits.argmax(1)).all()


def test_the_deployed_net_has_settled_when_its_readout_is_read(held):
    """Loihi's 1/4096 membrane carry may delay a unit's settling: the readout's v at the step the
    host reads equals its v after 12 more held steps (the steady state), for every sample."""
    _, compiled = held
    graph = compiled.graph
    meta = graph.metadata
    x, _ = load_split(meta["data"], "test", limit=120)
    read = meta["steps"] - 1 + meta["pad_steps"]
    v = simulate(graph, encode_planes(meta["input_planes"], x, read + 13), record=("v",)).state["readout"]["v"]
    assert graph.nodes["output"].step == read
    assert (v[:, read] == v[:, -1]).all()


@pytest.mark.lava
def test_lava_runs_the_held_net_bit_for_bit(held):
    require("Lava", lava_exec.lava_python)
    ckpt, compiled = held
    r = verify(compiled.graph, compiled.graph.metadata["data"], ckpt, ("sim", "lava"), 4, progress=False)
    assert r["agreement"] == {"lava": 1.0} and r["agreement_samples"] == {"lava": 4} and not r["divergence"]


def test_onnxruntime_runs_the_held_net_bit_for_bit(held):
    ckpt, compiled = held
    r = verify(compiled.graph, compiled.graph.metadata["data"], ckpt, ("sim", "onnx"), 360, progress=False)
    assert r["agreement"] == {"onnx": 1.0} and r["agreement_samples"] == {"onnx": 360}


def test_a_multi_step_analog_net_is_still_refused(tmp_path, capsys):
    cfg = {**NET, "data": {**NET["data"], "steps": 2}, "train": {**NET["train"], "epochs": 1}}
    run(config_mod.from_dict(cfg), tmp_path / "run", progress=False)
    assert main(["compile", str(tmp_path / "run" / "checkpoint.pt"), "--target", "loihi",
                 "--out", str(tmp_path / "g.snnc")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "1-step binary net" in err


def test_adapt_refuses_a_held_net_in_one_line(held, tmp_path, capsys):
    ckpt, _ = held
    assert main(["adapt", str(ckpt), "--target", "loihi", "--epochs", "1", "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bit planes" in err


def test_simulate_takes_the_analog_samples_of_a_held_graph(held, tmp_path):
    _, compiled = held
    save(compiled.graph, tmp_path / "g.snnc")
    x, _ = load_split(compiled.graph.metadata["data"], "test", limit=6)
    np.save(tmp_path / "x.npy", x.astype(np.float32))
    assert main(["simulate", str(tmp_path / "g.snnc"), "--input", str(tmp_path / "x.npy"),
                 "--out", str(tmp_path / "y.npz")]) == 0
    values = np.load(tmp_path / "y.npz")["values__output"]
    assert np.array_equal(values, deploy.run(compiled.graph, x)[0])


def test_edge_int8_names_the_residual_add_it_lacks(held, tmp_path, capsys):
    ckpt, _ = held
    assert main(["compile", str(ckpt), "--target", "edge-int8", "--out", str(tmp_path / "e.snnc")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "residual spike add" in err and not (tmp_path / "e.snnc").exists()
