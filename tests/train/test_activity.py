"""Activity-aware training: the synops prediction (spikes x fan-out) and the penalties
that trade spikes for accuracy."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from snnc.train import activity
from snnc.train import config as config_mod
from snnc.train.losses import Weights, sbnn_loss, synops_penalty
from snnc.train.trainer import fit


def _model(**kw):
    return config_mod.from_dict({"model": kw}).model


def test_dense_fanouts_are_the_next_layer_widths():
    layers = activity.spiking_layers(_model(name="mlp", hidden=[32, 16]), (4, 64), 10)
    assert [(l.neurons, l.fanout) for l in layers] == [(32, 16.0), (16, 10.0)]
    rec = activity.spiking_layers(_model(name="srnn", hidden=[8]), (8, 8), 8)
    assert [(l.neurons, l.fanout) for l in rec] == [(8, 16.0)]          # 8 readout + 8 recurrent
    assert activity.input_fanout(_model(name="mlp", hidden=[32, 16]), (4, 64)) == 32.0
    ops = activity.synops(torch.tensor([0.5, 0.25]), layers, steps=4)
    assert ops.tolist() == [0.5 * 32 * 4 * 16, 0.25 * 16 * 4 * 10]
    assert activity.dense_synops(layers, 4) == 32 * 4 * 16 + 16 * 4 * 10


@pytest.mark.parametrize("size,stride", [(8, 1), (8, 2), (7, 2), (5, 1)])
def test_conv_fanout_matches_a_brute_force_count(size, stride):
    # every (input neuron, output neuron) pair a 3x3 padding-1 conv connects, counted by a conv of ones
    links = F.conv2d(torch.ones(1, 1, size, size), torch.ones(6, 1, 3, 3), stride=stride, padding=1).sum()
    assert activity._conv_fanout(6, size, size, stride) == pytest.approx(float(links) / size ** 2)


def test_resnet_stream_fanout_counts_shortcut_redeliveries():
    m = _model(name="resnet", neuron="binary", widths=[4, 8], blocks=[2, 1], image_shape=[1, 8, 8])
    layers = activity.spiking_layers(m, (1, 64), 10)
    assert [l.name for l in layers] == ["stem", "block0.unit1", "block0.unit2", "block1.unit1",
                                        "block1.unit2", "block2.unit1", "block2.unit2"]
    c = activity._conv_fanout
    # stem spikes: block0's and block1's first conv at 8x8, block2's (stride 2) first conv, then 1/4 to the readout
    assert layers[0].fanout == pytest.approx(c(4, 8, 8, 1) * 2 + c(8, 8, 8, 2) + 10 / 4)
    assert layers[1].fanout == pytest.approx(c(4, 8, 8, 1))              # unit1 -> unit2 only
    assert layers[6].fanout == pytest.approx(10.0) and layers[6].neurons == 8 * 4 * 4


def test_synops_penalty_is_a_hinge_on_the_budget_over_the_dense_count():
    ops = torch.tensor([300.0, 100.0], requires_grad=True)
    assert float(synops_penalty(ops, 500.0, 1000.0).detach()) == 0.0
    value = synops_penalty(ops, 100.0, 1000.0)
    value.backward()
    assert float(value.detach()) == pytest.approx(0.3) and ops.grad.tolist() == pytest.approx([1e-3, 1e-3])


def test_loss_reports_each_term_and_adds_them():
    class Out:
        logits = torch.zeros(2, 3, requires_grad=True)
        bias_penalty = torch.tensor(2.0)
        rates = torch.tensor([0.5])

    w = Weights(kl_weight=1.0, margin_lambda=0.5, rate_weight=2.0, rate_target=0.25, synops_weight=1.0)
    terms = sbnn_loss(Out(), torch.tensor([0, 1]), torch.tensor(10.0), 5, w,
                      synops=torch.tensor([50.0]), dense=100.0)
    ce = torch.log(torch.tensor(3.0))
    assert float(terms.kl) == 2.0 and float(terms.margin) == 1.0
    assert float(terms.rate) == pytest.approx(2 * 0.25 ** 2) and float(terms.synops) == 0.5
    assert float(terms.total.detach()) == pytest.approx(float(ce) + 2.0 + 1.0 + 0.125 + 0.5)


def _small(tmp_path, name, **loss):
    cfg = config_mod.from_dict({
        "data": {"name": "digits", "steps": 4, "limit": 400},
        "model": {"name": "mlp", "hidden": [32]},
        "loss": {"kl_weight": 0.01, **loss},
        "train": {"epochs": 4, "batch_size": 50, "threads": 1, "eval_samples": 0, "seed": 3}})
    return fit(cfg, tmp_path / name, progress=False)


@pytest.mark.parametrize("key,weight", [("synops_weight", 1.0), ("rate_weight", 5.0)])
def test_a_larger_penalty_weight_lowers_spikes_and_synops(tmp_path, key, weight):
    free = _small(tmp_path, "free")
    taxed = _small(tmp_path, "taxed", **{key: weight})
    # fixed seed; measured when written: no penalty rate 0.207, 266 synops per inference;
    # synops_weight 1: 0.101, 129; rate_weight 5: 0.079, 101 (test accuracy 0.42 / 0.36 / 0.32)
    assert taxed["hidden_spike_rate"] < 0.7 * free["hidden_spike_rate"]
    assert taxed["synops_per_inference"]["total"] < 0.7 * free["synops_per_inference"]["total"]
    assert taxed["activity_penalty"][key] == weight and free["activity_penalty"][key] == 0.0
    assert taxed["test_accuracy"] > 0.2                       # still learns (chance 0.1)


def test_each_epoch_reports_rate_and_synops_on_validation(tmp_path):
    summary = _small(tmp_path, "run", synops_weight=0.5, synops_budget=100.0)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and "test_accuracy" not in rows[0]
    for row in rows:
        assert 0.0 < row["val_spike_rate"] < 1.0 and len(row["val_layer_spike_rates"]) == 1
        assert row["val_synops_per_inference"] == pytest.approx(row["val_layer_synops"][0], abs=0.1)
        assert row["val_synops_per_inference"] == pytest.approx(
            row["val_layer_spike_rates"][0] * 32 * 4 * 10, rel=1e-3)
    ops = summary["synops_per_inference"]
    assert ops["dense"] == 32 * 4 * 10 and ops["input"] == pytest.approx(ops["input_events"] * 32, rel=1e-3)
    assert summary["activity_penalty"] == {"rate_weight": 0.0, "rate_target": 0.0,
                                           "synops_weight": 0.5, "synops_budget": 100.0}
