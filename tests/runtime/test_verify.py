"""`verify`: deployed accuracy and spike-level agreement with every executor, first divergence."""
from __future__ import annotations

import json

import numpy as np
import pytest

from snnc.cli import main
from snnc.evaluation.compiled import compile_checkpoint
from snnc.compiler.ir import save
from snnc.evaluation import verify as verify_mod
from snnc.targets.loihi import lava_exec
from snnc.evaluation.verify import verify
from tests.backends import require


@pytest.fixture(scope="module")
def loihi_graph(loihi_ckpt):
    return compile_checkpoint(loihi_ckpt, "loihi", evaluate=False).graph


@pytest.mark.lava
def test_loihi_agrees_with_lava_on_100_samples_and_reference_on_the_split(loihi_graph, loihi_ckpt):
    require("Lava", lava_exec.lava_python)
    r = verify(loihi_graph, loihi_graph.metadata["data"], loihi_ckpt, ("sim", "reference", "lava"), 100,
               progress=False)
    assert r["agreement"] == {"reference": 1.0, "lava": 1.0}
    assert r["agreement_samples"] == {"reference": r["samples"], "lava": 100}
    assert r["samples"] == 360 and not r["divergence"]
    for key in ("float_accuracy", "float_accuracy_sampled", "energy_per_inference_j", "latency_steps"):
        assert key in r
    assert abs(r["deployed"]["sim"] - r["float_accuracy"]) <= 0.02


@pytest.mark.xylosim
def test_xylo_agrees_with_xylosim_on_the_whole_split(seq_ckpt):
    from snnc.targets.xylo import xylosim_exec
    require("xylosim", xylosim_exec.xylosim_v2)
    g = compile_checkpoint(seq_ckpt, "xylo", evaluate=False).graph
    r = verify(g, g.metadata["data"], None, ("sim", "reference", "xylosim"), 10_000, progress=False)
    assert r["agreement"] == {"reference": 1.0, "xylosim": 1.0}
    assert r["agreement_samples"]["xylosim"] == r["samples"] == 289


def test_first_divergence_names_sample_step_node_neuron():
    ours = {"lif0.spikes": np.zeros((3, 5, 4), np.int64), "readout.v": np.zeros((3, 5, 2), np.int64)}
    theirs = {k: v.copy() for k, v in ours.items()}
    theirs["readout.v"][2, 1, 1] = 7
    theirs["lif0.spikes"][1, 3, 2] = 1
    agreement, first = verify_mod._compare(ours, theirs, 3)
    assert agreement == pytest.approx(1 / 3)
    assert first == {"sample": 1, "step": 3, "node": "lif0", "what": "spikes", "neuron": 2, "sim": 0, "backend": 1}


def test_cli_exits_1_and_prints_the_divergence(loihi_graph, tmp_path, capsys, monkeypatch):
    path = save(loihi_graph, tmp_path / "g.snnc")
    real = verify_mod._run_backend

    def tampered(backend, graph, x, progress):
        trains, logits = real(backend, graph, x, progress)
        trains["lif0.spikes"] = trains["lif0.spikes"].copy()
        trains["lif0.spikes"][4, 6, 9] ^= 1
        return trains, logits

    monkeypatch.setattr(verify_mod, "_run_backend", tampered)
    code = main(["verify", str(path), "--backends", "sim,reference,onnx", "--json", str(tmp_path / "v.json")])
    out = capsys.readouterr().out
    assert code == 1
    assert "first divergence (reference): sample 4, step 6, node 'lif0' spikes, neuron 9" in out
    report = json.loads((tmp_path / "v.json").read_text())
    assert report["agreement"]["reference"] == pytest.approx(359 / 360)


def test_backend_for_another_target_is_refused(loihi_graph):
    from snnc.errors import InputError
    with pytest.raises(InputError, match="xylosim.*xylo"):
        verify(loihi_graph, loihi_graph.metadata["data"], None, ("xylosim",))
