"""checkpoint -> loihi / xylo: deployed accuracy, agreement, reports and one-line errors."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from snnc.cli import main
from snnc.evaluation.compiled import compile_checkpoint
from snnc.compiler.ir import LoihiLIF, XyloIAF, load
from snnc.errors import CompileError, DesignRuleError
from snnc.runtime import deploy
from snnc.evaluation.datasets import load_split


def test_loihi_deployed_matches_float_and_reference(loihi_ckpt):
    c = compile_checkpoint(loihi_ckpt, "loihi")
    acc = c.report["accuracy"]
    assert abs(acc["deployed"]["accuracy"] - acc["float_torch"]["accuracy"]) <= 0.01
    assert acc["float_graph"]["accuracy"] == acc["float_torch"]["accuracy"]
    assert all(isinstance(n, LoihiLIF) for n in c.graph.neurons.values())
    assert c.report["latency_steps"] == 2 and c.graph.metadata["pad_steps"] == 2
    x, _ = load_split(c.front.data, "test")
    event, res_e = deploy.run(c.graph, x)
    ref, res_r = deploy.run(c.graph, x, engine="reference")
    for n in c.graph.neurons:
        assert np.array_equal(res_e.spikes[n], res_r.spikes[n])
    assert np.array_equal(event, ref)


def test_xylo_compiles_a_row_sequential_net_with_one_population(seq_ckpt):
    c = compile_checkpoint(seq_ckpt, "xylo", evaluate=False)
    assert set(c.graph.neurons) == {"hidden", "readout"}
    assert isinstance(c.graph.nodes["hidden"], XyloIAF) and c.graph.nodes["hidden"].max_spikes == 31
    assert c.report["latency_steps"] == 1


def test_ten_classes_do_not_fit_xylo(seq10_ckpt, tmp_path, capsys):
    out = tmp_path / "x.snnc"
    code = main(["compile", str(seq10_ckpt), "--target", "xylo", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "max-outputs" in err and "readout" in err and "10" in err and "8" in err
    assert not out.exists() and not out.with_suffix(".report.json").exists()


def test_compile_cli_writes_graph_report_and_table(loihi_ckpt, tmp_path, capsys):
    out = tmp_path / "net.snnc"
    assert main(["compile", str(loihi_ckpt), "--target", "loihi", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "fits" in text and "weight" not in text.split("\n")[0]
    g = load(out)
    report = json.loads(out.with_suffix(".report.json").read_text())
    assert g.metadata["checkpoint_sha256"] == report["checkpoint_sha256"]
    assert g.metadata["compile"]["target"] == "loihi"
    rows = {r["name"]: r for r in report["layers"]}
    assert rows["fc0"]["weight_bits"] == 8 and -8 <= rows["fc0"]["weight_exp"] <= 7
    assert report["usage"]["cores"] <= report["usage"]["cores_limit"]


def test_samples_mode_reports_calibration(loihi_ckpt):
    c = compile_checkpoint(loihi_ckpt, "loihi", mode="samples", k=2)
    assert [row["k"] for row in c.report["k_curve"]] == [1, 2]
    assert set(c.report["calibration"]) >= {"float_mean", "float_samples", "deployed_mean", "deployed_samples"}
    for key in ("float_torch", "float_graph", "deployed"):
        assert set(c.report["accuracy"][key]) == {"accuracy", "nll", "ece"}
    assert c.graph.nodes["lif0"].size == 2 * 48


def _expect_one_line(argv, capsys, *words):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    for w in words:
        assert w in err, err


def test_bad_checkpoints_are_one_line_errors(loihi_ckpt, tmp_path, capsys):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"PK\x03\x04 not a checkpoint")
    out = tmp_path / "o.snnc"
    _expect_one_line(["compile", str(corrupt), "--target", "loihi", "--out", str(out)], capsys, "corrupt.pt")
    ckpt = torch.load(loihi_ckpt, weights_only=True)
    ckpt["config"]["model"]["name"] = "resnet"
    ckpt["config"]["model"]["image_shape"] = [1, 8, 8]
    foreign = tmp_path / "resnet.pt"
    torch.save(ckpt, foreign)
    _expect_one_line(["compile", str(foreign), "--target", "loihi", "--out", str(out)], capsys, "resnet")
    assert not out.exists()


def test_threshold_beyond_17_bits_is_refused(loihi_ckpt, tmp_path):
    ckpt = torch.load(loihi_ckpt, weights_only=True)
    ckpt["config"]["model"]["theta"] = 1e9   # weights ~0.1: vth needs > 17 bits at any exponent
    path = tmp_path / "huge.pt"
    torch.save(ckpt, path)
    with pytest.raises(DesignRuleError, match="vth-range.*lif0"):
        compile_checkpoint(path, "loihi", evaluate=False)


def test_unknown_mode_and_target(loihi_ckpt):
    with pytest.raises(CompileError, match="mode"):
        compile_checkpoint(loihi_ckpt, "loihi", mode="median")
    with pytest.raises(CompileError, match="target"):
        compile_checkpoint(loihi_ckpt, "no-such-chip", evaluate=False)
    with pytest.raises(CompileError, match="edge-int8 runs one-step nets only .* this net runs 8 steps"):
        compile_checkpoint(loihi_ckpt, "edge-int8", evaluate=False)


def test_binary_net_compiles_to_loihi_one_step_per_layer(binary_ckpt):
    c = compile_checkpoint(binary_ckpt, "loihi")
    acc = c.report["accuracy"]
    assert c.report["latency_steps"] == 3   # two hidden layers and the readout, one Dense delay each
    assert acc["target_dynamics"]["accuracy"] == acc["float_torch"]["accuracy"]  # dv 4095 leaves no memory here
    assert abs(acc["deployed"]["accuracy"] - acc["float_torch"]["accuracy"]) <= 0.03
    assert all(n.vth.max() == 0 for name, n in c.graph.neurons.items() if name != "readout")


def test_analog_input_of_a_1_step_binary_mlp_is_held_as_bit_planes_on_loihi(analog_ckpt):
    c = compile_checkpoint(analog_ckpt, "loihi", calibrate=32)
    assert any("bit planes" in n for n in c.report["notes"])
    assert c.graph.nodes["input"].size == 5 * 64     # digits' pixels k/16: 5 planes, exact
    acc = c.report["accuracy"]
    assert acc["float_graph"]["accuracy"] == acc["float_torch"]["accuracy"]


def test_two_hidden_layers_share_xylo_population_as_blocks(seq2_ckpt):
    c = compile_checkpoint(seq2_ckpt, "xylo")
    g = c.graph
    assert g.nodes["hidden"].size == 16 + 12 and c.report["latency_steps"] == 2
    w_in, w_rec = g.nodes["w_in"].weights, g.nodes["w_rec"].weights   # (post, pre)
    assert not w_in[16:].any()                    # input reaches the first layer only
    assert not w_rec[:16, 16:].any()              # no feedback from layer 2 into layer 1
    assert w_rec[16:, :16].any() and w_rec[16:, 16:].any() and w_rec[:16, :16].any()
    assert not g.nodes["w_out"].weights[:, :16].any()   # the readout reads the last layer only
    acc = c.report["accuracy"]
    assert acc["target_dynamics"]["accuracy"] == acc["float_torch"]["accuracy"]
    assert abs(acc["deployed"]["accuracy"] - acc["float_torch"]["accuracy"]) <= 0.03
