"""Bayesian layers: local reparameterisation against explicit weight sampling, KL, APIs."""
import math

import pytest
import torch
from torch import nn

from snnc.train.bayes import (BayesConv2d, BayesLinear, gaussian_kl, posterior_mean_state,
                              sampled_states, total_kl)


def _mc_moments(layer, x, n=4000):
    """Mean and variance of the pre-activation over explicit posterior weight draws."""
    outs = []
    for draw in layer.sample_weights(n, seed=1):
        if isinstance(layer, BayesLinear):
            outs.append(nn.functional.linear(x, draw["weight"], draw.get("bias")))
        else:
            outs.append(nn.functional.conv2d(x, draw["weight"], draw.get("bias"),
                                             layer.stride, layer.padding))
    outs = torch.stack(outs)
    return outs.mean(0), outs.var(0)


@pytest.mark.parametrize("posterior", ["layer", "weight"])
def test_linear_local_reparameterisation_matches_weight_sampling(posterior):
    torch.manual_seed(0)
    layer = BayesLinear(12, 5, posterior=posterior, sigma_init=2.0)
    if posterior == "weight":
        with torch.no_grad():
            layer.rho.add_(0.5 * torch.randn_like(layer.rho))
    x = torch.rand(3, 12)
    mu, var = layer(x)
    mc_mean, mc_var = _mc_moments(layer, x)
    assert torch.allclose(mu, mc_mean, atol=0.05)
    assert torch.allclose(var.expand_as(mu), mc_var, rtol=0.12)


@pytest.mark.parametrize("posterior", ["layer", "weight"])
def test_conv_local_reparameterisation_matches_weight_sampling(posterior):
    torch.manual_seed(0)
    layer = BayesConv2d(2, 3, 3, stride=2, padding=1, posterior=posterior, sigma_init=2.0)
    x = torch.rand(1, 2, 5, 5)
    mu, var = layer(x)
    mc_mean, mc_var = _mc_moments(layer, x, n=3000)
    assert mu.shape == mc_mean.shape == (1, 3, 3, 3)
    assert torch.allclose(mu, mc_mean, atol=0.06)
    assert torch.allclose(var.expand_as(mu), mc_var, rtol=0.15)


def test_conv_variance_is_conv_of_squared_input_with_sigma_squared():
    layer = BayesConv2d(2, 4, 3, padding=1)
    x = torch.rand(2, 2, 6, 6)
    _, var = layer(x)
    sigma = layer.posterior_std
    expect = nn.functional.conv2d(x ** 2, sigma ** 2 * torch.ones(1, 2, 3, 3), padding=1)
    assert var.shape == (2, 1, 6, 6)
    assert torch.allclose(var, expect, atol=1e-6)


def test_posterior_std_init_and_authors_weight_init():
    layer = BayesLinear(100, 10)
    assert math.isclose(float(layer.posterior_std.detach()), 0.5 / math.sqrt(100), rel_tol=1e-5)
    assert layer.weight.abs().max() <= 1 / math.sqrt(100)
    assert BayesLinear(100, 10, posterior="weight").posterior_std.shape == (10, 100)


def test_variance_path_detaches_the_input():
    layer = BayesLinear(4, 3)
    x = torch.rand(2, 4, requires_grad=True)
    _, var = layer(x)
    var.sum().backward()
    assert x.grad is None or torch.count_nonzero(x.grad) == 0
    assert layer.rho.grad is not None and layer.rho.grad.abs() > 0


def test_kl_closed_form_matches_torch_distributions():
    torch.manual_seed(0)
    layer = BayesLinear(6, 4, posterior="weight", prior_scale=0.7)
    q = torch.distributions.Normal(layer.weight, layer.posterior_std)
    p = torch.distributions.Normal(torch.zeros(()), layer.prior_std.clone())
    expect = torch.distributions.kl_divergence(q, p).sum()
    assert torch.allclose(layer.kl(), expect, rtol=1e-5)
    # per-layer std broadcasts over every weight
    per_layer = BayesLinear(6, 4)
    std = per_layer.posterior_std.expand_as(per_layer.weight)
    q = torch.distributions.Normal(per_layer.weight, std)
    assert torch.allclose(per_layer.kl(), torch.distributions.kl_divergence(q, p.__class__(0.0, per_layer.prior_std)).sum(), rtol=1e-5)


def test_gaussian_kl_is_zero_at_the_prior():
    assert float(gaussian_kl(torch.zeros(5), torch.tensor(0.3), 0.3)) == pytest.approx(0.0, abs=1e-7)


def test_posterior_mean_and_sample_weights_api():
    layer = BayesLinear(5, 3)
    mean = layer.posterior_mean()
    assert torch.equal(mean["weight"], layer.weight) and torch.equal(mean["bias"], layer.bias)
    a, b = layer.sample_weights(2, seed=4), layer.sample_weights(2, seed=4)
    assert torch.equal(a[0]["weight"], b[0]["weight"])
    assert not torch.equal(a[0]["weight"], a[1]["weight"])
    assert not a[0]["weight"].requires_grad
    diff = torch.stack([d["weight"] for d in layer.sample_weights(2000, 0)]) - layer.weight.detach()
    assert diff.std().item() == pytest.approx(float(layer.posterior_std.detach()), rel=0.05)


def test_sampled_states_replace_only_bayesian_weights():
    model = nn.Sequential(BayesLinear(4, 3), nn.Linear(3, 2))
    mean = posterior_mean_state(model)
    states = sampled_states(model, 3, seed=0)
    assert len(states) == 3 and set(states[0]) == set(mean)
    assert not torch.equal(states[0]["0.weight"], mean["0.weight"])
    assert torch.equal(states[0]["1.weight"], mean["1.weight"])
    assert torch.equal(states[0]["0.rho"], mean["0.rho"])
    model.load_state_dict(states[1])  # a plain state dict
    assert total_kl(model).ndim == 0


def test_bias_noise_adds_its_variance_and_learns():
    layer = BayesLinear(6, 4, bias_noise=0.3)
    assert float(layer.bias_std.detach()) == pytest.approx(0.3, rel=1e-5)
    plain = BayesLinear(6, 4)
    with torch.no_grad():
        plain.weight.copy_(layer.weight)
    x = torch.rand(5, 6)
    (mu, var), (mu0, var0) = layer(x), plain(x)
    assert torch.equal(mu, mu0) and torch.allclose(var, var0 + 0.09, atol=1e-6)
    var.sum().backward()
    assert layer.bias_rho.grad is not None and float(layer.bias_rho.grad) > 0
    assert layer.bias_rho.ndim == 0  # one std per layer, as the authors' scales_biases


def test_bias_noise_draws_match_its_std_and_reach_sampled_states():
    layer = BayesLinear(3, 2000, bias_noise=0.25)
    draws = layer.sample_weights(2, seed=3)
    assert not torch.equal(draws[0]["bias"], draws[1]["bias"])
    assert (draws[0]["bias"] - layer.bias.detach()).std().item() == pytest.approx(0.25, rel=0.08)
    model = nn.Sequential(layer)
    states = sampled_states(model, 2, seed=0)
    assert not torch.equal(states[0]["0.bias"], layer.bias.detach())
    no_noise = nn.Sequential(BayesLinear(3, 4))
    assert torch.equal(sampled_states(no_noise, 1)[0]["0.bias"], no_noise[0].bias.detach())


def test_conv_bias_noise_adds_its_variance():
    layer = BayesConv2d(2, 3, 3, padding=1, bias=False, bias_noise=0.5)
    plain = BayesConv2d(2, 3, 3, padding=1, bias=False)
    x = torch.rand(1, 2, 4, 4)
    assert torch.allclose(layer(x)[1], plain(x)[1] + 0.25, atol=1e-6)


@pytest.mark.parametrize("posterior", ["layer", "weight"])
def test_no_diagonal_masks_mean_variance_draws_and_kl(posterior):
    torch.manual_seed(0)
    layer = BayesLinear(5, 5, bias=False, posterior=posterior, sigma_init=2.0, no_diagonal=True)
    assert torch.count_nonzero(torch.diagonal(layer.weight)) == 0
    with torch.no_grad():
        layer.weight.add_(torch.eye(5))  # a diagonal that must not act
    x = torch.rand(3, 5)
    mu, var = layer(x)
    off = 1.0 - torch.eye(5)
    std2 = (layer.posterior_std.detach() ** 2).expand(5, 5) * off
    assert torch.allclose(mu, x @ (layer.weight.detach() * off).T)
    assert torch.allclose(var.expand_as(mu), (x ** 2) @ std2.T, atol=1e-6)
    mc_mean, mc_var = _mc_moments(layer, x)
    assert torch.allclose(var.expand_as(mu), mc_var, rtol=0.12)
    draws = layer.sample_weights(3, seed=1)
    assert all(torch.count_nonzero(torch.diagonal(d["weight"])) == 0 for d in draws)
    full = BayesLinear(5, 5, bias=False, posterior=posterior, sigma_init=2.0)
    with torch.no_grad():
        full.weight.copy_(layer.weight * off)
        full.rho.copy_(layer.rho)
    diag = gaussian_kl(torch.zeros(5), layer.posterior_std.expand(5, 5).diagonal(), layer.prior_std)
    assert torch.allclose(layer.kl(), full.kl() - diag, rtol=1e-5)


def test_no_diagonal_needs_a_square_weight():
    with pytest.raises(ValueError, match="square"):
        BayesLinear(4, 3, no_diagonal=True)


def test_scale_keeps_snr_and_scales_the_prior():
    layer = BayesLinear(50, 20)
    snr, prior = layer.mean_snr(), float(layer.prior_std)
    layer.scale_(0.25)
    assert layer.mean_snr() == pytest.approx(snr, rel=1e-4)
    assert float(layer.prior_std) == pytest.approx(0.25 * prior)
