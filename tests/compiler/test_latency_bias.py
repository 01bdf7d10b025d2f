"""Latency with biases: a target's synaptic delays shift every layer's inputs later, while a
bias acts from step 0 and through the pad steps. Without biases the delayed graph is an exact
time shift (tested); with them compile measures what the shift costs, notes it and names it
as a step of the gate ('latency')."""
from __future__ import annotations

import numpy as np
import pytest

from snnc.compiler.passes import AddLatency, CompileContext, copy_graph, run_flow
from snnc.compiler.pipeline import target_flow
from snnc.evaluation.compiled import compile_checkpoint, fidelity, unshifted
from snnc.evaluation.datasets import load_split
from snnc.runtime import deploy


@pytest.fixture(scope="module")
def biased_ckpt(tmp_path_factory):
    from snnc.train import config as config_mod
    from snnc.train.trainer import run

    out = tmp_path_factory.mktemp("biased")
    run(config_mod.from_dict({
        "data": {"name": "digits", "steps": 8, "encoding": "rate"},
        "model": {"name": "mlp", "neuron": "lif", "hidden": [32, 24], "beta": 0.875, "theta": 1.0, "reset": "soft",
                  "bias": True, "readout": "mean"},
        "train": {"epochs": 2, "batch_size": 64, "lr": 5e-3, "threads": 1, "eval_samples": 0}}), out, progress=False)
    return out / "checkpoint.pt"


def _undelayed(c):
    float_passes, _ = target_flow(c.graph.target)
    ctx = CompileContext(c.graph.target, c.front.steps)
    return run_flow(copy_graph(c.front.graph), [p for p in float_passes if not isinstance(p, AddLatency)], ctx)


def test_without_biases_the_delayed_graph_is_an_exact_time_shift(loihi_ckpt):
    c = compile_checkpoint(loihi_ckpt, "loihi", evaluate=False)
    assert c.mapped.metadata["pad_steps"] == 2 and unshifted(c) is None
    x, _ = load_split(c.front.data, "test", limit=64)
    assert np.array_equal(deploy.run(c.mapped, x)[0], deploy.run(_undelayed(c), x)[0])


def test_with_biases_compile_measures_and_notes_the_latency(biased_ckpt):
    c = compile_checkpoint(biased_ckpt, "loihi")
    acc = c.report["accuracy"]
    assert "dynamics_unshifted" in acc
    x, _ = load_split(c.front.data, "test")
    moved = np.max(np.abs(deploy.run(c.mapped, x)[0] - deploy.run(_undelayed(c), x)[0]))
    assert moved > 0                                     # the shift is not exact with biases
    note = next(n for n in c.report["notes"] if n.startswith("latency:"))
    assert f"{moved:.3g}" in note and "act during the 3 steps" in note
    gate = fidelity({"accuracy": {**acc, "target_dynamics": {**acc["target_dynamics"], "accuracy": 0.0},
                                  "deployed": {**acc["deployed"], "accuracy": 0.0}}}, 0.01)
    assert gate["largest"] == "latency"
