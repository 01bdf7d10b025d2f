"""Bayesian linear and conv2d layers with a Gaussian posterior over weights.

Posterior: `w ~ N(weight, posterior_std^2)`, `posterior_std = softplus(rho)`,
one std per layer (the authors' choice) or one per weight; prior
`N(0, prior_std^2)` with `prior_std` a 0-d buffer (saved in the state dict). Training uses the
local reparameterisation trick: a layer returns the noiseless pre-activation
`mu = W x + b` and its variance `var = posterior_std^2 * sum(x^2)` over the
receptive field; the noisy unit downstream draws fresh noise per neuron, per
step and per forward pass. As in the authors' code the inputs are detached in
the variance path, so the variance trains `rho` only.

With a per-layer std `var` keeps a singleton feature axis ([B, 1] or
[B, 1, H, W]); it broadcasts against `mu` and saves a matmul.

Learnable bias noise (`bias_noise > 0`, the authors' `scales_biases` in
train_shd.py / train_dvs.py): a per-layer std `bias_std = softplus(bias_rho)`
of a Gaussian bias posterior (mean: the layer's bias, or 0 for a layer without
one); local reparameterisation adds `bias_std^2` to `var`, so the noise is
fresh per neuron and step like the weights'. The authors add `bias_std^2` to
the variance at spike time instead of integrating it into the membrane's
variance (their `total_var + e_sigscale_bias**2`); on a memoryless binary unit
the two are the same. `sample_weights` draws the bias too when the layer has
one; a layer without a bias term deploys without its bias noise. The bias
noise has no prior (no KL term), as in the authors' code.

`no_diagonal=True` (square linear layers: recurrent weights without
self-connections, the authors' `recurrent_weights * masks`): the diagonal is
zero at init and masked in every forward pass, so it never learns, is never
drawn, adds no variance and no KL.

The compiler reads plain tensors: `posterior_mean()` and `sample_weights(k, seed)`
on a layer, `posterior_mean_state(model)` and `sampled_states(model, k, seed)`
on a whole model.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

POSTERIORS = ("layer", "weight")
WEIGHT_INITS = ("uniform", "kaiming")


def inverse_softplus(x: float) -> float:
    return x + math.log(-math.expm1(-x))


def inverse_softplus_tensor(x: torch.Tensor) -> torch.Tensor:
    return x + torch.log(-torch.expm1(-x))


def gaussian_kl(mean: torch.Tensor, std: torch.Tensor, prior_std) -> torch.Tensor:
    """KL(N(mean, std^2) || N(0, prior_std^2)) summed over `mean`'s elements.

    `std` may be a scalar (per-layer posterior): it broadcasts over `mean`;
    `prior_std` is a number or a 0-d tensor.
    """
    std = std.expand_as(mean)
    ratio = (std / prior_std) ** 2
    return 0.5 * (ratio + (mean / prior_std) ** 2 - 1.0 - torch.log(ratio)).sum()


class _BayesLayer(nn.Module):
    """Shared parameters and posterior API of the Bayesian layers."""

    fan_in: int

    def _init_posterior(self, shape, *, bias: bool, posterior: str, sigma_init: float,
                        weight_init: str, weight_gain: float, prior_scale: float,
                        bias_noise: float = 0.0, no_diagonal: bool = False):
        if posterior not in POSTERIORS:
            raise ValueError(f"posterior must be one of {POSTERIORS}, got {posterior!r}")
        if weight_init not in WEIGHT_INITS:
            raise ValueError(f"weight_init must be one of {WEIGHT_INITS}, got {weight_init!r}")
        self.posterior = posterior
        self.weight = nn.Parameter(torch.empty(shape))
        self.bias = nn.Parameter(torch.zeros(shape[0])) if bias else None
        bound = 1.0 / math.sqrt(self.fan_in)
        if weight_init == "uniform":  # the authors' U(+-1/sqrt(fan_in))
            nn.init.uniform_(self.weight, -bound * weight_gain, bound * weight_gain)
        else:  # Kaiming normal, std = gain / sqrt(fan_in)
            nn.init.normal_(self.weight, 0.0, weight_gain * bound)
        rho_shape = () if posterior == "layer" else shape
        rho0 = inverse_softplus(sigma_init * bound)
        self.rho = nn.Parameter(torch.full(rho_shape, rho0))
        # a buffer, so that the checkpoint keeps it: the data-aware init rescales it
        # and the config alone cannot say by how much
        self.register_buffer("prior_std", torch.tensor(prior_scale * bound))
        self.bias_rho = nn.Parameter(torch.tensor(inverse_softplus(bias_noise))) if bias_noise > 0 else None
        self._init_mask(shape, no_diagonal)

    def _init_mask(self, shape, no_diagonal: bool) -> None:
        """Off-diagonal mask of a square weight (not saved: the config rebuilds it)."""
        self.no_diagonal = no_diagonal
        if not no_diagonal:
            self.weight_mask = None
            return
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ValueError(f"no_diagonal needs a square linear weight, got shape {tuple(shape)}")
        self.register_buffer("weight_mask", 1.0 - torch.eye(shape[0]), persistent=False)
        with torch.no_grad():
            self.weight.mul_(self.weight_mask)

    @property
    def posterior_std(self) -> torch.Tensor:
        return F.softplus(self.rho)

    @property
    def bias_std(self) -> torch.Tensor | None:
        """Std of the learnable bias noise (None: no bias noise)."""
        return None if self.bias_rho is None else F.softplus(self.bias_rho)

    def masked_weight(self) -> torch.Tensor:
        return self.weight if self.weight_mask is None else self.weight * self.weight_mask

    def _add_bias_noise(self, var: torch.Tensor) -> torch.Tensor:
        return var if self.bias_rho is None else var + self.bias_std ** 2

    def kl(self) -> torch.Tensor:
        """KL of the weight posterior to the Gaussian prior N(0, prior_std^2)."""
        if self.weight_mask is None:
            return gaussian_kl(self.weight, self.posterior_std, self.prior_std)
        std = self.posterior_std.expand_as(self.weight)[self.weight_mask.bool()]
        return gaussian_kl(self.weight[self.weight_mask.bool()], std, self.prior_std)

    def posterior_mean(self) -> dict[str, torch.Tensor]:
        out = {"weight": self.masked_weight().detach().clone()}
        if self.bias is not None:
            out["bias"] = self.bias.detach().clone()
        return out

    def scale_(self, factor: float) -> None:
        """Scale the weights, posterior std and prior std by `factor` (data-aware init)."""
        with torch.no_grad():
            self.weight.mul_(factor)
            self.rho.copy_(inverse_softplus_tensor(self.posterior_std * factor))
        self.prior_std *= factor

    def sample_weights(self, k: int, seed: int = 0) -> list[dict[str, torch.Tensor]]:
        """`k` weight draws from the posterior; the bias is drawn too when the layer
        has a bias and bias noise, else it stays at its mean."""
        gen = torch.Generator().manual_seed(seed)
        mean = self.masked_weight().detach().cpu()
        std = self.posterior_std.detach().cpu().expand_as(mean)
        mask = None if self.weight_mask is None else self.weight_mask.cpu()
        draws = []
        for _ in range(k):
            noise = torch.randn(mean.shape, generator=gen, dtype=mean.dtype)
            weight = mean + std * noise
            draw = {"weight": (weight if mask is None else weight * mask).to(self.weight.device)}
            if self.bias is not None:
                draw["bias"] = self._bias_draw(gen)
            draws.append(draw)
        return draws

    def _bias_draw(self, gen: torch.Generator) -> torch.Tensor:
        bias = self.bias.detach().cpu()
        if self.bias_rho is not None:
            bias = bias + self.bias_std.detach().cpu() * torch.randn(bias.shape, generator=gen, dtype=bias.dtype)
        return bias.to(self.bias.device)

    def mean_snr(self) -> float:
        """Std of the mean weights over the posterior std: the per-layer SNR."""
        return float(self.weight.detach().std() / self.posterior_std.detach().mean())


class BayesLinear(_BayesLayer):
    """Linear layer returning `(mu, var)` of the pre-activation."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 posterior: str = "layer", sigma_init: float = 0.5, weight_init: str = "uniform",
                 weight_gain: float = 1.0, prior_scale: float = 1.0, bias_noise: float = 0.0,
                 no_diagonal: bool = False):
        super().__init__()
        self.in_features, self.out_features, self.fan_in = in_features, out_features, in_features
        self._init_posterior((out_features, in_features), bias=bias, posterior=posterior,
                             sigma_init=sigma_init, weight_init=weight_init,
                             weight_gain=weight_gain, prior_scale=prior_scale,
                             bias_noise=bias_noise, no_diagonal=no_diagonal)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.moments()(x)

    def moments(self):
        """x -> (mu, var) with the weight mask and sigma^2 computed once: a recurrent
        layer calls the returned function at every step."""
        weight, bias, sigma2 = self.masked_weight(), self.bias, self.posterior_std ** 2
        if self.bias_rho is not None:
            noise2 = self.bias_std ** 2
        if self.posterior == "weight":
            sigma2 = sigma2 if self.weight_mask is None else sigma2 * self.weight_mask

        def forward(x):
            x2 = x.detach() ** 2
            if self.posterior == "weight":
                var = F.linear(x2, sigma2)
            else:
                var = sigma2 * x2.sum(-1, keepdim=True)
                if self.no_diagonal:  # sum over j != i
                    var = var - sigma2 * x2
            return F.linear(x, weight, bias), (var if self.bias_rho is None else var + noise2)

        return forward

    def extra_repr(self) -> str:
        return (f"{self.in_features}, {self.out_features}, posterior={self.posterior}, "
                f"bias_noise={self.bias_rho is not None}, no_diagonal={self.no_diagonal}")


class BayesConv2d(_BayesLayer):
    """Conv2d returning `(mu, var)`; var = conv(x^2, posterior_std^2)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, bias: bool = True, *, posterior: str = "layer",
                 sigma_init: float = 0.5, weight_init: str = "uniform", weight_gain: float = 1.0,
                 prior_scale: float = 1.0, bias_noise: float = 0.0):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.fan_in = in_channels * kernel_size * kernel_size
        shape = (out_channels, in_channels, kernel_size, kernel_size)
        self._init_posterior(shape, bias=bias, posterior=posterior, sigma_init=sigma_init,
                             weight_init=weight_init, weight_gain=weight_gain,
                             prior_scale=prior_scale, bias_noise=bias_noise)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu = F.conv2d(x, self.weight, self.bias, self.stride, self.padding)
        x2 = x.detach() ** 2
        if self.posterior == "layer":
            ones = x2.new_ones((1, self.in_channels, self.kernel_size, self.kernel_size))
            var = self.posterior_std ** 2 * F.conv2d(x2, ones, None, self.stride, self.padding)
        else:
            var = F.conv2d(x2, self.posterior_std ** 2, None, self.stride, self.padding)
        return mu, self._add_bias_noise(var)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, k={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, posterior={self.posterior}")


def bayes_layers(model: nn.Module) -> list[tuple[str, _BayesLayer]]:
    return [(name, m) for name, m in model.named_modules() if isinstance(m, _BayesLayer)]


def total_kl(model: nn.Module) -> torch.Tensor:
    terms = [m.kl() for _, m in bayes_layers(model)]
    return torch.stack(terms).sum() if terms else torch.zeros(())


def posterior_mean_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's state dict with every Bayesian weight at its posterior mean."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def sampled_states(model: nn.Module, k: int, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    """`k` state dicts, each with every Bayesian layer's weight drawn from its posterior.

    Layer `i` (in module order) uses seed `seed * 1000003 + i`, so a draw does not
    depend on which other layers exist.
    """
    base = posterior_mean_state(model)
    states = [dict(base) for _ in range(k)]
    for i, (name, layer) in enumerate(bayes_layers(model)):
        prefix = f"{name}." if name else ""
        for j, draw in enumerate(layer.sample_weights(k, seed * 1000003 + i)):
            states[j][prefix + "weight"] = draw["weight"]
            if layer.bias_rho is not None and "bias" in draw:
                states[j][prefix + "bias"] = draw["bias"]
    return states
