"""The frontend reads the checkpoint right: its float graph on `ideal` is the PyTorch model."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from snnc.compiler.frontend import float_net
from snnc.runtime import deploy
from snnc.evaluation.datasets import load_split
from snnc.train.bayes import sampled_states
from snnc.train.trainer import load_model


def _torch_logits(model, x):
    model.fire.deterministic = True
    model.eval()
    with torch.no_grad():
        return model(torch.from_numpy(x).float()).logits.numpy()


@pytest.mark.parametrize("ckpt_name", ["loihi_ckpt", "seq_ckpt", "seq10_ckpt"])
def test_float_graph_is_the_pytorch_model(ckpt_name, request):
    ckpt = request.getfixturevalue(ckpt_name)
    front = float_net(ckpt)
    x, _ = load_split(front.data, "test")
    ours, _ = deploy.run(front.graph, x)
    model, _ = load_model(ckpt)
    theirs = _torch_logits(model, x)
    assert np.array_equal(ours.argmax(1), theirs.argmax(1)), "a test sample is predicted differently"
    assert np.abs(ours - theirs).max() <= 1e-5 * max(1.0, np.abs(theirs).max())


def test_samples_mode_is_the_mean_of_the_draws_logits(loihi_ckpt):
    front = float_net(loihi_ckpt, mode="samples", k=3, seed=5)
    x, _ = load_split(front.data, "test", limit=64)
    ours, _ = deploy.run(front.graph, x)
    model, _ = load_model(loihi_ckpt)
    draws = []
    for state in sampled_states(model, 3, 5):
        model.load_state_dict(state)
        draws.append(_torch_logits(model, x))
    theirs = np.mean(draws, axis=0)
    assert front.graph.nodes["lif0"].size == 3 * 48
    assert np.abs(ours - theirs).max() <= 1e-5 * max(1.0, np.abs(theirs).max())
