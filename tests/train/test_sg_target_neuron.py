"""The SG twin with the chip's neuron (`method.sg_neuron = "target"`, README: so that it
compiles) trains and compiles for each spiking target (it crashed: SurrogateFiring had
no `sequence`, which the LIF time loop asks every firing for)."""
from __future__ import annotations

import pytest

from snnc.evaluation.compiled import compile_checkpoint
from snnc.train import config as config_mod
from snnc.train.trainer import run

NETS = {
    "loihi": {"data": {"name": "digits", "steps": 8, "encoding": "rate", "limit": 300},
              "model": {"name": "mlp", "neuron": "lif", "hidden": [24], "beta": 0.875, "theta": 1.0,
                        "reset": "zero", "bias": False, "readout": "mean"}},
    "xylo": {"data": {"name": "digits-seq", "max_count": 15, "classes": list(range(8)), "limit": 300},
             "model": {"name": "srnn", "neuron": "lif", "hidden": [16], "beta": 0.5, "syn_beta": 0.5,
                       "theta": 1.0, "reset": "soft", "max_spikes": 31, "bias": False, "readout": "cuba"}},
}


@pytest.mark.parametrize("target", sorted(NETS))
def test_sg_twin_with_the_chip_neuron_trains_and_compiles(target, tmp_path):
    raw = {**NETS[target], "method": {"name": "sg", "sg_neuron": "target"},
           "train": {"epochs": 1, "batch_size": 64, "lr": 1e-2, "threads": 1, "eval_samples": 0}}
    summary = run(config_mod.from_dict(raw), tmp_path, progress=False)
    assert 0.0 <= summary["test_accuracy"] <= 1.0
    compiled = compile_checkpoint(tmp_path / "checkpoint.pt", target, evaluate=False)
    assert compiled.graph.target == target
