"""Neurons (hard-coded sequences), models (shapes, gradients, init) and the SG twin."""
import math

import pytest
import torch

from snnc.train.config import ModelConfig
from snnc.train.models import ResNet, build_model, readout_weights, set_deterministic, time_average
from snnc.train.neurons import (BinaryNeuron, Firing, LIFNeuron, LIFParams, LIFState, lif_step,
                                run_neuron)
from snnc.train.sg import build_sg_model


def _lif_trace(reset, inputs, beta=0.5, theta=1.0):
    fire = Firing(deterministic=True)
    state = LIFState(torch.zeros(1), torch.zeros(1))
    spikes, mems = [], []
    for x in inputs:
        s, state, margin = lif_step(torch.tensor([x]), torch.zeros(1), state,
                                    LIFParams(beta, theta, reset), fire)
        assert margin is None
        spikes.append(float(s))
        mems.append(round(float(state.mem), 6))
    return spikes, mems


def test_lif_soft_reset_sequence():
    # u: 0.8, 1.2 -> fire -> 0.2, 0.1+0.8=0.9, 0.45+0.9=1.35 -> fire -> 0.35
    assert _lif_trace("soft", [0.8, 0.8, 0.8, 0.9]) == ([0, 1, 0, 1], [0.8, 0.2, 0.9, 0.35])


def test_lif_zero_reset_sequence():
    assert _lif_trace("zero", [0.8, 0.8, 0.8, 0.9]) == ([0, 1, 0, 1], [0.8, 0.0, 0.8, 0.0])


def test_lif_noise_variance_is_carried_with_beta_squared():
    fire = Firing(estimator="analytic")
    params = LIFParams(0.5, 100.0, "soft")  # never fires
    state = LIFState(torch.zeros(1), torch.zeros(1))
    expected = 0.0
    for v in [1.0, 2.0, 0.5]:
        _, state, _ = lif_step(torch.zeros(1), torch.tensor([v]), state, params, fire)
        expected = 0.25 * expected + v
        assert float(state.var) == pytest.approx(expected)


def test_binary_neuron_fires_above_threshold_deterministically():
    n = BinaryNeuron(Firing(deterministic=True), theta=0.0)
    s, bias = run_neuron(n, torch.tensor([[-0.5, 0.0, 0.3]]), torch.ones(1, 3))
    assert s.tolist() == [[0.0, 0.0, 1.0]] and bias is None


def test_noisy_unit_fires_with_probability_phi():
    torch.manual_seed(0)
    n = BinaryNeuron(Firing(), theta=0.0)
    mu = torch.full((1, 20000), 0.5)
    s, bias = run_neuron(n, mu, torch.ones(1, 20000))
    assert s.mean().item() == pytest.approx(0.5 * (1 + math.erf(0.5 / math.sqrt(2))), abs=0.015)
    assert bias.item() == pytest.approx(0.25)


def _cfg(**kw):
    cfg = ModelConfig()
    for k, v in kw.items():
        setattr(cfg, k, v)
    return cfg


MODELS = [
    (_cfg(name="mlp", hidden=[16]), (4, 64)),
    (_cfg(name="mlp", neuron="binary", theta=0.0, hidden=[16, 8]), (1, 64)),
    (_cfg(name="srnn", hidden=[12, 10]), (5, 8)),
    (_cfg(name="srnn", hidden=[6], readout="leaky", tau_mem=1.0), (8, 8)),
    (_cfg(name="resnet", neuron="binary", theta=0.0, widths=[4, 8], blocks=[1, 1],
          image_shape=[1, 8, 8]), (2, 64)),
    (_cfg(name="resnet", neuron="lif", widths=[4], blocks=[1]), (3, 2, 6, 6)),
]


@pytest.mark.parametrize("cfg,in_shape", MODELS)
def test_sbnn_models_shapes_and_gradients(cfg, in_shape):
    torch.manual_seed(0)
    model = build_model(cfg, in_shape, 10, Firing(estimator="iw", k=2))
    out = model(torch.rand(3, *in_shape))
    assert out.logits.shape == (3, 10) and out.bias_penalty.ndim == 0
    assert ((out.rates >= 0) & (out.rates <= 1)).all()
    (out.logits.sum() + out.bias_penalty + out.rates.sum()).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, missing


@pytest.mark.parametrize("cfg,in_shape", MODELS)
def test_sg_twin_shapes_and_gradients(cfg, in_shape):
    model = build_sg_model(cfg, in_shape, 10)
    out = model(torch.rand(3, *in_shape))
    assert out.logits.shape == (3, 10)
    out.logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_deterministic_mode_is_reproducible_and_has_no_bias_term():
    model = build_model(_cfg(hidden=[16]), (4, 64), 10, Firing())
    x = torch.rand(2, 4, 64)
    set_deterministic(model, True)
    a, b = model(x), model(x)
    assert torch.equal(a.logits, b.logits) and float(a.bias_penalty) == 0.0
    set_deterministic(model, False)
    assert not torch.equal(model(x).logits, a.logits)


def test_resnet_depth_counts_conv_layers():
    model = ResNet((1, 8, 8), [16, 32, 64], [4, 3, 3], 10, 1, fire=Firing())
    assert model.n_conv_layers == 21
    assert sum(1 for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)) == 0


def test_noise_aware_init_sets_snr_and_authors_init_does_not():
    aware = build_model(_cfg(hidden=[256], snr=4.0), (1, 256), 10, Firing())
    assert aware.fcs[0].mean_snr() == pytest.approx(4.0, rel=0.1)
    authors = build_model(_cfg(hidden=[256], init="authors"), (1, 256), 10, Firing())
    assert authors.fcs[0].mean_snr() == pytest.approx(1 / math.sqrt(3) / 0.5, rel=0.1)


def test_scale_input_layer_keeps_snr():
    model = build_model(_cfg(hidden=[64]), (1, 64), 10, Firing())
    before = model.fcs[0].mean_snr()
    model.scale_input_layer(0.25)
    assert model.fcs[0].mean_snr() == pytest.approx(before, rel=1e-3)


def test_readout_weights_mean_and_leaky():
    assert torch.allclose(readout_weights(4, "mean"), torch.full((4,), 0.25))
    w = readout_weights(3, "leaky", tau=1.0)
    b = math.exp(-1.0)
    assert torch.allclose(w, torch.tensor([b * b, b, 1.0]) / (1 + b + b * b))
    x = torch.rand(3, 2, 5)
    # the last-step membrane of y_t = b y_{t-1} + x_t, normalised
    y = torch.zeros(2, 5)
    for t in range(3):
        y = b * y + x[t]
    assert torch.allclose(time_average(x, "leaky", 1.0), y / (1 + b + b * b), atol=1e-6)
    with pytest.raises(ValueError):
        readout_weights(3, "max")


def test_recurrent_shortcut_moments_equal_the_bayes_layer_on_spikes():
    from snnc.train.neurons import RecurrentLIF

    layer = RecurrentLIF(6, LIFNeuron(Firing()), sigma_init=1.0)
    s = (torch.rand(4, 6) > 0.5).float()
    fast, slow = layer._recurrent_moments()(s), layer.rec(s)
    assert torch.allclose(fast[0], slow[0]) and torch.allclose(fast[1], slow[1])


def test_noise_std_gradient_is_finite_at_zero_variance():
    from snnc.train.neurons import noise_std

    var = torch.tensor([0.0, 4.0], requires_grad=True)
    noise_std(var).sum().backward()
    assert var.grad.tolist() == [0.0, 0.25]
