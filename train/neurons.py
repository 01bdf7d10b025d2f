"""Noisy binary and LIF neurons: pure step functions over named tuples, thin modules.

A neuron receives the noiseless input current `mu` and its variance `var` from a
Bayesian layer (local reparameterisation) and fires `s = H(u - theta + eps)`,
`eps ~ N(0, S^2)`, through an estimator of `snnc.train.estimators`.

LIF (the authors' code), per step t:

    u_t = beta u_{t-1} + mu_t                    beta = exp(-1/tau_mem)
    V_t = beta^2 V_{t-1} + var_t                 noise variance carried with u
    s_t = H(u_t - theta + eps_t),  eps_t ~ N(0, V_t)
    soft reset: u_t <- u_t - theta s_t;  zero reset: u_t <- u_t (1 - s_t), V_t <- V_t (1 - s_t)

The reset uses the detached spike (as snnTorch does), so gradients flow
through the spike output only. Binary unit: `s = H(mu - theta + eps)`, no state.
In deterministic mode (`Firing.deterministic`) eps = 0: the unit a compiled
posterior-mean graph runs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from snnc.train.bayes import BayesLinear
from snnc.train.estimators import ESTIMATORS, spike

RESETS = ("soft", "zero")


@dataclass
class Firing:
    """How every noisy unit of a model fires; shared by its neurons.

    estimator, tau, k, noise, relaxation: passed to `estimators.spike`.
    deterministic: eps = 0 (evaluation of the posterior mean or of a weight sample).
    margins: compute `(u - theta)/S` for the auxiliary bias loss (off: saves the
      ops when its lambda is 0).
    """

    estimator: str = "analytic"
    tau: float = 0.5
    k: int = 8
    noise: str = "gaussian"
    relaxation: str = "sigmoid"
    deterministic: bool = False
    margins: bool = True

    def __post_init__(self):
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"estimator must be one of {ESTIMATORS}, got {self.estimator!r}")

    def _options(self) -> dict:
        return dict(tau=self.tau, k=self.k, noise=self.noise, relaxation=self.relaxation)

    def __call__(self, u: torch.Tensor, var: torch.Tensor, theta: float):
        """Spikes and the standardised margin `(u - theta)/S` (None when deterministic)."""
        if self.deterministic:
            return spike(u, theta, 0, self.estimator, **self._options()), None
        std = noise_std(var)
        s = spike(u, theta, std, self.estimator, **self._options())
        if not self.margins:
            return s, None
        margin = torch.where(std > 0, (u - theta) / std.clamp_min(1e-6), torch.zeros_like(u))
        return s, margin


class _SafeSqrt(torch.autograd.Function):
    """sqrt(var) whose derivative is 0, not inf, at var = 0 (a neuron with no input)."""

    @staticmethod
    def forward(ctx, var):
        std = var.clamp_min(0.0).sqrt()
        ctx.save_for_backward(std)
        return std

    @staticmethod
    def backward(ctx, grad):
        (std,) = ctx.saved_tensors
        return torch.where(std > 0, grad * 0.5 / std.clamp_min(1e-30), torch.zeros_like(grad))


def noise_std(var: torch.Tensor) -> torch.Tensor:
    """sqrt(var) with a finite gradient at var = 0 (an input without spikes)."""
    return _SafeSqrt.apply(var)


class LIFParams(NamedTuple):
    beta: float      # membrane decay per step, exp(-1/tau_mem)
    theta: float     # firing threshold
    reset: str       # "soft" (subtract theta) or "zero"


class LIFState(NamedTuple):
    mem: torch.Tensor  # membrane potential u
    var: torch.Tensor  # noise variance V of u


def lif_step(mu, var, state: LIFState, params: LIFParams, fire: Firing):
    """One LIF step: (spikes, new state, margin)."""
    mem = params.beta * state.mem + mu
    V = params.beta ** 2 * state.var + var
    s, margin = fire(mem, V, params.theta)
    r = s.detach()
    if params.reset == "soft":
        mem = mem - params.theta * r
    else:
        mem, V = mem * (1.0 - r), V * (1.0 - r)
    return s, LIFState(mem, V), margin


def binary_step(mu, var, theta: float, fire: Firing):
    """Memoryless noisy binary unit: (spikes, margin)."""
    return fire(mu, var, theta)


def beta_from_tau(tau_mem: float) -> float:
    return math.exp(-1.0 / tau_mem)


class BinaryNeuron(nn.Module):
    """Binary unit applied independently at every step of a sequence."""

    stateful = False

    def __init__(self, fire: Firing, theta: float = 0.0):
        super().__init__()
        self.fire, self.theta = fire, theta

    def init_state(self, like: torch.Tensor):
        return None

    def step(self, mu, var, state):
        s, margin = binary_step(mu, var, self.theta, self.fire)
        return s, state, margin

    def extra_repr(self) -> str:
        return f"theta={self.theta}"


class LIFNeuron(nn.Module):
    """Leaky integrate-and-fire neuron; `step` is `lif_step` with this module's params."""

    stateful = True

    def __init__(self, fire: Firing, tau_mem: float = 10.0, theta: float = 1.0, reset: str = "soft"):
        super().__init__()
        if reset not in RESETS:
            raise ValueError(f"reset must be one of {RESETS}, got {reset!r}")
        self.fire = fire
        self.params = LIFParams(beta_from_tau(tau_mem), float(theta), reset)

    @property
    def theta(self) -> float:
        return self.params.theta

    def init_state(self, like: torch.Tensor) -> LIFState:
        return LIFState(torch.zeros_like(like), torch.zeros_like(like))

    def step(self, mu, var, state):
        return lif_step(mu, var, state, self.params, self.fire)

    def extra_repr(self) -> str:
        p = self.params
        return f"beta={p.beta:.4f}, theta={p.theta}, reset={p.reset}"


def _zeros_state(mu_seq: torch.Tensor, var_seq: torch.Tensor) -> torch.Tensor:
    """Zeros of one step's full shape (mu and var broadcast), outside the autograd graph."""
    return mu_seq.new_zeros(torch.broadcast_shapes(mu_seq.shape[1:], var_seq.shape[1:]))


def run_neuron(neuron, mu_seq: torch.Tensor, var_seq: torch.Tensor):
    """The time loop, written once: spikes [T, ...] of `neuron` driven by mu/var [T, ...].

    Returns (spikes, bias_term) where bias_term is the mean over steps, batch and
    neurons of the squared standardised margin `((u - theta)/S)^2` (None when
    deterministic). `var_seq` may have singleton axes (per-layer posterior std).
    """
    if not neuron.stateful:  # memoryless: all steps at once
        s, _, margin = neuron.step(mu_seq, var_seq, None)
        return s, (None if margin is None else (margin ** 2).mean())
    state = neuron.init_state(_zeros_state(mu_seq, var_seq))
    out, bias = [], None
    # unbind, not mu_seq[t]: each select's backward would fill a whole [T, ...] zero tensor
    for mu, var in zip(mu_seq.unbind(0), var_seq.unbind(0)):
        s, state, margin = neuron.step(mu, var, state)
        if margin is not None:
            term = (margin ** 2).mean()
            bias = term if bias is None else bias + term
        out.append(s)
    return torch.stack(out), (None if bias is None else bias / mu_seq.shape[0])


class RecurrentLIF(nn.Module):
    """LIF layer with Bayesian all-to-all recurrent weights R: mu_t += R s_{t-1}.

    The recurrent current's variance `sigma_R^2 sum(s_{t-1}^2)` adds to the
    feed-forward variance, as any other input would.
    """

    stateful = True

    def __init__(self, n: int, neuron: LIFNeuron, **bayes_kwargs):
        super().__init__()
        self.neuron = neuron
        self.rec = BayesLinear(n, n, bias=False, **bayes_kwargs)

    def _recurrent_moments(self):
        """s -> (R s, var): `self.rec`, with sigma^2 hoisted out of the time loop and
        sum(s^2) = sum(s) for a per-layer posterior (spikes are 0/1)."""
        if self.rec.posterior != "layer":
            return self.rec
        weight, sigma2 = self.rec.weight, self.rec.posterior_std ** 2
        return lambda s: (F.linear(s, weight), sigma2 * s.detach().sum(-1, keepdim=True))

    def run(self, mu_seq: torch.Tensor, var_seq: torch.Tensor):
        """(spikes [T, B, n], bias_term) for feed-forward mu/var [T, B, n]."""
        state = self.neuron.init_state(_zeros_state(mu_seq, var_seq))
        s = mu_seq.new_zeros(mu_seq.shape[1:])
        out, bias = [], None
        rec = self._recurrent_moments()
        for mu, var in zip(mu_seq.unbind(0), var_seq.unbind(0)):
            r_mu, r_var = rec(s)
            s, state, margin = self.neuron.step(mu + r_mu, var + r_var, state)
            if margin is not None:
                term = (margin ** 2).mean()
                bias = term if bias is None else bias + term
            out.append(s)
        return torch.stack(out), (None if bias is None else bias / mu_seq.shape[0])
