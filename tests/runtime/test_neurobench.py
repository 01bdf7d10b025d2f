"""NeuroBench side by side: its synaptic operations on the float model equal snnc's
events on `ideal` for the digits MLP, and `verify --neurobench` reports both."""
from __future__ import annotations

import json

import numpy as np
import pytest

import neurobench  # noqa: F401  (a declared dependency: a broken install fails here, it is never skipped)
from snnc.cli import main
from snnc.compiler.frontend.checkpoint import float_net
from snnc.compiler.ir import save
from snnc.evaluation.compiled import compile_checkpoint, torch_probabilities
from snnc.evaluation.datasets import load_split
from snnc.evaluation.neurobench import differences, side_by_side


@pytest.fixture(scope="module")
def digits_side_by_side(loihi_ckpt):
    net = float_net(loihi_ckpt, "mean")
    x, y = load_split(net.data, "test", limit=120)
    return net, x, y, side_by_side(loihi_ckpt, x, y)


def test_neurobench_acs_equal_snnc_synaptic_events_on_ideal(digits_side_by_side):
    net, x, y, r = digits_side_by_side
    nb, ours = r["neurobench"], r["snnc_ideal"]
    assert r["synops_equal"] and r["differences"] == []
    assert nb["effective_acs"] == pytest.approx(ours["synaptic_events_per_inference"], rel=1e-12)
    assert nb["effective_acs"] > 0 and nb["effective_macs"] == 0  # rate-coded input: spikes everywhere
    assert nb["activation_sparsity"] == pytest.approx(ours["activation_sparsity"], rel=1e-12)
    params = 64 * 48 + 48 * 10
    assert nb["parameter_count"] == ours["parameters"] == params
    assert nb["dense_synops"] == pytest.approx(net.steps * params)  # every weight, every step
    assert nb["footprint_bytes"] >= 4 * params


def test_the_torch_model_neurobench_runs_is_the_trained_model(digits_side_by_side, loihi_ckpt):
    net, x, y, r = digits_side_by_side
    trained = torch_probabilities(loihi_ckpt, "mean", 1, 0, x).argmax(1)
    assert r["neurobench"]["accuracy"] == pytest.approx(float(np.mean(trained == y)))


def test_each_difference_is_named(loihi_ckpt):
    g = float_net(loihi_ckpt, "mean").graph
    spikes = {n: np.zeros((2, 3, g.nodes[n].size), np.int64) for n in [*g.inputs, *g.neurons]}
    theirs = {n: s.copy() for n, s in spikes.items()}
    spikes["lif0"][0, 1, 4] = 3
    theirs["lif0"][0, 1, 4] = 1
    syn = {"Effective_ACs": 10.0, "Effective_MACs": 5.0}
    found = differences(g, spikes, theirs, syn, {"synaptic_events_per_inference": 12.0})
    assert any("spike trains differ in 1" in d for d in found)
    assert any("multi-spike" in d and "'lif0': 2" in d for d in found)
    assert any("MACs" in d for d in found)
    same = differences(g, theirs, theirs, {"Effective_ACs": 10.0, "Effective_MACs": 0.0},
                       {"synaptic_events_per_inference": 11.0})
    assert same and same[0].startswith("unexplained")


def test_verify_neurobench_columns(loihi_ckpt, tmp_path, capsys):
    g = compile_checkpoint(loihi_ckpt, "loihi", evaluate=False).graph
    path = save(g, tmp_path / "g.snnc")
    assert main(["verify", str(path), "--neurobench", "--backends", "sim"]) == 2
    assert "--checkpoint" in capsys.readouterr().err
    code = main(["verify", str(path), "--checkpoint", str(loihi_ckpt), "--backends", "sim,onnx", "--neurobench",
                 "--json", str(tmp_path / "v.json")])
    out = capsys.readouterr().out
    assert code == 0 and "NeuroBench 2.3.0" in out and "effective ACs" in out
    r = json.loads((tmp_path / "v.json").read_text())["neurobench"]
    assert r["synops_equal"] and r["snnc_deployed"]["target"] == "loihi"
    assert r["snnc_deployed"]["synaptic_events_per_inference"] > 0
