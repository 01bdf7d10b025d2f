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
