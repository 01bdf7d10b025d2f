"""Small trained checkpoints shared by the compiler, runtime and e2e tests (trained once per session, seconds)."""
from __future__ import annotations

import pytest

from snnc.train import config as config_mod
from snnc.train.trainer import run


def _train(tmp_path_factory, name: str, raw: dict):
    out = tmp_path_factory.mktemp(name)
    run(config_mod.from_dict(raw), out, progress=False)
    return out / "checkpoint.pt"


@pytest.fixture(scope="session")
def loihi_ckpt(tmp_path_factory):
    """Rate-coded digits, 64-48-10 LIF, zero reset, Loihi-exact decay."""
    return _train(tmp_path_factory, "loihi", {
        "data": {"name": "digits", "steps": 8, "encoding": "rate"},
        "model": {"name": "mlp", "neuron": "lif", "hidden": [48], "beta": 0.875, "theta": 1.0,
                  "reset": "zero", "bias": False, "readout": "mean"},
        "loss": {"kl_weight": 0.01},
        "train": {"epochs": 4, "batch_size": 64, "lr": 5e-3, "threads": 1, "eval_samples": 0}})


def _seq_config(classes, hidden: int, epochs: int) -> dict:
    """Row-sequential digits, 8 inputs, recurrent CUBA LIF with Xylo's decays and multi-spikes."""
    data = {"name": "digits-seq", "max_count": 15, **({"classes": classes} if classes else {})}
    return {"data": data,
            "model": {"name": "srnn", "neuron": "lif", "hidden": [hidden], "beta": 0.5, "syn_beta": 0.5,
                      "theta": 1.0, "reset": "soft", "max_spikes": 31, "bias": False, "readout": "cuba"},
            "loss": {"kl_weight": 0.01},
            "train": {"epochs": epochs, "batch_size": 128, "lr": 1e-2, "threads": 1, "eval_samples": 0}}


@pytest.fixture(scope="session")
def seq_ckpt(tmp_path_factory):
    """Digits 0-7 (Xylo has 8 output neurons)."""
    return _train(tmp_path_factory, "seq", _seq_config(list(range(8)), 24, 3))


@pytest.fixture(scope="session")
def seq10_ckpt(tmp_path_factory):
    """All ten digits: does not fit Xylo's 8 outputs."""
    return _train(tmp_path_factory, "seq10", _seq_config(None, 8, 1))


def _binary_config(encoding: str) -> dict:
    """1-step binary MLP (theta = 0), two hidden layers, no hidden bias."""
    return {"data": {"name": "digits", "steps": 1, "encoding": encoding},
            "model": {"name": "mlp", "neuron": "binary", "hidden": [48, 32], "theta": 0.0, "bias": False},
            "loss": {"kl_weight": 0.01},
            "train": {"epochs": 3, "batch_size": 64, "lr": 5e-3, "threads": 1, "eval_samples": 0}}


@pytest.fixture(scope="session")
def binary_ckpt(tmp_path_factory):
    """Spike-coded input (one Bernoulli frame): compiles to Loihi."""
    return _train(tmp_path_factory, "binary", _binary_config("rate"))


@pytest.fixture(scope="session")
def analog_ckpt(tmp_path_factory):
    """Analog pixels into the first layer of a 1-step binary MLP (a spiking target holds them as bit planes)."""
    raw = _binary_config("direct")
    raw["train"]["epochs"] = 1
    return _train(tmp_path_factory, "analog", raw)


@pytest.fixture(scope="session")
def seq2_ckpt(tmp_path_factory):
    """Two recurrent hidden layers: both laid on Xylo's one hidden population."""
    raw = _seq_config(list(range(8)), 16, 2)
    raw["model"]["hidden"] = [16, 12]
    return _train(tmp_path_factory, "seq2", raw)
