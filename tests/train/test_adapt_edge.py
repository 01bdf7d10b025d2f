"""`snnc adapt --target edge-int8`: a 1-step binary conv net fine-tuned on the int8 grid the
edge-int8 quantiser gives each output channel (`targets/edge_int8/grid.py`)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from snnc.evaluation.adapt import adapt, prepare
from snnc.evaluation.compiled import compile_checkpoint
from snnc.train import config as config_mod
from snnc.train.adapt import GridWeights, on_grid
from snnc.train.trainer import run

CALIBRATE = 32
NET = {"data": {"name": "digits", "steps": 1, "encoding": "direct", "limit": 48},
       "model": {"name": "resnet", "neuron": "binary", "theta": 0.0, "widths": [4, 8], "blocks": [1, 1],
                 "downsample": 1, "shortcut": "none", "image_shape": [1, 8, 8], "affine": "channel_positive"},
       "loss": {"kl_weight": 0.0},
       "train": {"epochs": 1, "batch_size": 16, "lr": 5e-3, "threads": 1, "eval_samples": 0}}
UNITS = {"stem.conv.weight": "stem_conv", "blocks.0.unit1.conv.weight": "b0_1_conv",
         "blocks.0.unit2.conv.weight": "b0_2_conv", "blocks.1.unit1.conv.weight": "b1_1_conv",
         "blocks.1.unit2.conv.weight": "b1_2_conv"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("binary_conv")
    run(config_mod.from_dict(NET), out, progress=False)
    return out / "checkpoint.pt"


def test_the_grid_is_the_quantisers_int8_per_output_channel(trained, tmp_path):
    plan = prepare(trained, "edge-int8", 1, tmp_path, calibrate=CALIBRATE)
    plan.run.save(tmp_path / "start.pt", 0, 0.0)
    _, grids = plan.assess(tmp_path / "start.pt")
    assert set(grids) == set(UNITS)   # the readout (merged with the pooling) stays float
    GridWeights(plan.run.opt, plan.run.core, grids)   # the weights on the grid, in place
    plan.run.save(tmp_path / "on_grid.pt", 0, 0.0)
    graph = compile_checkpoint(tmp_path / "on_grid.pt", "edge-int8", calibrate=CALIBRATE, evaluate=False).graph
    params = dict(plan.run.core.named_parameters())
    for param, layer in UNITS.items():
        step, lo, hi = grids[param]
        assert np.shape(step) == (params[param].shape[0],) and (lo, hi) == (-127, 127)
        k = params[param].detach().numpy() / step[:, None, None, None]
        assert np.allclose(k, np.round(k), atol=1e-3)
        assert np.array_equal(np.round(k).astype(np.int64), graph.nodes[layer].weights), param
    held = [n for n, p in plan.run.core.named_parameters() if n.endswith("affine.scale_param")]
    assert held and not any(p.requires_grad for n, p in plan.run.core.named_parameters() if n in held)


def test_adapt_writes_a_checkpoint_that_compiles_for_edge_int8(trained, tmp_path):
    summary = adapt(trained, "edge-int8", 1, tmp_path, calibrate=CALIBRATE)
    assert summary["chosen_epoch"] in (0, 1) and 0 <= summary["val_deployed"] <= 1
    compiled = compile_checkpoint(tmp_path / "checkpoint.pt", "edge-int8", calibrate=CALIBRATE)
    assert compiled.report["accuracy"]["deployed"]["accuracy"] > 0


def test_on_grid_takes_one_step_per_output_channel():
    w = torch.tensor([[0.26, -1.0], [0.26, 9.0]])
    assert on_grid(w, (np.array([0.5, 0.25]), -3, 3)).tolist() == [[0.5, -1.0], [0.25, 0.75]]
