"""A chip added in one folder (tests/targets/toy_chip/) compiles, simulates, verifies,
exports and shows in `snnc targets` with no change anywhere else."""
from __future__ import annotations

import json

import numpy as np
import pytest

from snnc.cli import main
from snnc.compiler.ir import Synapse, load, save
from snnc.errors import DesignRuleError
from snnc.evaluation.compiled import compile_checkpoint
from snnc.evaluation.verify import verify
from snnc.targets.registry import all_targets, unregister


@pytest.fixture
def toy():
    """The toy chip registered for one test (its import registers it), then removed."""
    import importlib

    import tests.targets.toy_chip as chip

    if "toy" not in all_targets():
        importlib.reload(chip)
    yield chip
    unregister("toy")


def test_the_toy_chip_compiles_verifies_and_lists(toy, loihi_ckpt, tmp_path, capsys):
    compiled = compile_checkpoint(loihi_ckpt, "toy", evaluate=False)
    graph = compiled.graph
    assert graph.target == "toy" and graph.metadata["pad_steps"] == 2   # two synapses, one step each
    for syn in graph.of_type(Synapse).values():
        np.testing.assert_array_equal(syn.weights, np.round(syn.weights * 64) / 64)
    save(graph, tmp_path / "toy.snnc")
    graph = load(tmp_path / "toy.snnc")
    report = verify(graph, graph.metadata["data"], None, ("sim", "reference", "toy-onnx"), 30, progress=False)
    assert report["agreement"] == {"reference": 1.0, "toy-onnx": 1.0}
    assert report["deployed"]["sim"] > 0.8
    assert main(["targets", "--json"]) == 0
    assert "toy" in json.loads(capsys.readouterr().out)
    assert main(["compile", str(loihi_ckpt), "--target", "toy", "--out", str(tmp_path / "c.snnc")]) == 0
    assert main(["verify", str(tmp_path / "c.snnc"), "--backends", "sim,toy-onnx", "--samples", "10"]) == 0


def test_the_toy_chips_design_rule_refuses_a_wide_population(toy, loihi_ckpt):
    with pytest.raises(DesignRuleError, match="population-size.*96 neurons > 64"):   # 2 x 48 side by side
        compile_checkpoint(loihi_ckpt, "toy", mode="samples", k=2, evaluate=False)


def test_the_toy_chip_is_gone_after_unregister(toy):
    unregister("toy")
    assert "toy" not in all_targets()
