"""Noisy binary and LIF neurons: pure step functions over named tuples, thin modules.

A neuron receives the noiseless input current `mu` and its variance `var` from a
Bayesian layer (local reparameterisation) and fires `s = H(u - theta + eps)`,
`eps ~ N(0, S^2)`, through an estimator of `snnc.train.estimators`.

LIF (the authors' code), per step t:

    u_t = beta u_{t-1} + mu_t                    beta = exp(-1/tau_mem), or given
    V_t = beta^2 V_{t-1} + var_t                 noise variance carried with u
    s_t = H(u_t - theta + eps_t),  eps_t ~ N(0, V_t)
    soft reset: u_t <- u_t - theta s_t;  zero reset: u_t <- u_t (1 - s_t), V_t <- V_t (1 - s_t)

The reset uses the detached spike (as snnTorch does), so gradients flow
through the spike output only. In a time loop (`run_neuron`, through
`LIFNeuron.stepper`) the estimator's backward is deferred and batched over the
steps (`train.deferred`): the same spikes, fewer and larger backward ops.
Binary unit: `s = H(mu - theta + eps)`, no state.
In deterministic mode (`Firing.deterministic`) eps = 0: the unit a compiled
posterior-mean graph runs.

Chip options (each off by default, and then not a single extra op):

- Synaptic current ("CUBA", `syn_beta > 0`), in Xylo's order (input added,
  then the decay applied): `c_t = syn_beta (c_{t-1} + mu_t)`, `u_t = beta u_{t-1} + c_t`.
  Variances `C_t = syn_beta^2 (C_{t-1} + var_t)`, `V_t = beta^2 V_{t-1} + C_t`: the
  correlation of the noise across steps that the current carries into u is
  ignored (the same approximation as carrying V with u). The reset leaves c
  alone (Loihi's u keeps its value; Xylo resets only v).
- Multi-spike output (`max_spikes > 1`, Xylo: up to 31 per step): with s1 the
  0/1 sample above, `n = s1 + s1.detach() * clamp(ceil(u/theta) - 2, 0, max_spikes - 1)`
  (u/theta in float32): #{k : u > k theta} when deterministic; gradients pass
  through s1 only (straight-through for the extra spikes). The soft reset
  subtracts `theta n`; the zero reset is unchanged.

Deterministic float32 forward, written so that a float32 simulator doing
`i = alpha i + a; v = beta v + i (+ bias); n = count(v); reset` reproduces it
bit for bit: each product and sum is one float32 op in that order, never fused
or reassociated (for `syn_beta = 0.5` the simulator's `i = 0.5 i + 0.5 a` equals
`0.5 (i + a)` exactly; other syn_beta are equal up to rounding). A hidden
layer's bias arrives inside mu (so through c), not after it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import repeat
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from snnc.train.bayes import BayesLinear
from snnc.train.deferred import DEFERRABLE, SequenceTape
from snnc.train.estimators import ESTIMATORS, spike_var

RESETS = ("soft", "zero")


@dataclass
class Firing:
    """How every noisy unit of a model fires; shared by its neurons.

    estimator, tau, k, noise, relaxation: passed to `estimators.spike`.
    deterministic: eps = 0 (evaluation of the posterior mean or of a weight sample).
    margins: compute `(u - theta)/S` for the auxiliary margin penalty (off: saves the
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

    def sequence(self):
        """The firing of one time loop: this one, or (noisy `analytic`/`iw`/`gumbel_rao`)
        a `SequenceFiring` whose steps compute their backward together (`train.deferred`)."""
        if self.deterministic or self.estimator not in DEFERRABLE:
            return self
        return SequenceFiring(self)

    def __call__(self, u: torch.Tensor, var: torch.Tensor, theta: float, batch_dim: int = 0):
        """Spikes and the standardised margin `(u - theta)/S` (None when deterministic).
        `batch_dim`: u's batch axis (0: one step [B, ...]; 1: a sequence [T, B, ...]),
        across which `iw` shares its draws."""
        opts = dict(self._options(), batch_dim=batch_dim)
        if self.deterministic:
            return spike_var(u, theta, 0, self.estimator, **opts), None
        s = spike_var(u, theta, var, self.estimator, **opts)  # sqrt(var) inside: no extra node
        return s, (standard_margin(u, var, theta) if self.margins else None)


class SequenceFiring:
    """`Firing` for the steps of one sequence ([B, ...] each): the same spikes, with the
    backward deferred to one `SequenceTape` (batched over the steps)."""

    def __init__(self, fire: Firing):
        self.fire = fire
        self.tape = SequenceTape(fire.estimator, dict(fire._options(), generator=None,
                                                      share_draws=True, batch_dim=0))

    def __call__(self, u: torch.Tensor, var: torch.Tensor, theta: float, batch_dim: int = 0):
        if batch_dim != 0:
            raise ValueError(f"a SequenceFiring fires one step [B, ...]: batch_dim 0, got {batch_dim}")
        s = self.tape.spike_var(u, theta, var)
        return s, (standard_margin(u, var, theta) if self.fire.margins else None)


def standard_margin(u: torch.Tensor, var: torch.Tensor, theta: float) -> torch.Tensor:
    """The standardised margin `(u - theta)/S` (0 where S = 0)."""
    std = noise_std(var)
    return torch.where(std > 0, (u - theta) / std.clamp_min(1e-6), torch.zeros_like(u))


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
    beta: float          # membrane decay per step, exp(-1/tau_mem) unless given
    theta: float         # firing threshold
    reset: str           # "soft" (subtract theta per spike) or "zero"
    syn_beta: float = 0.0  # synaptic current decay; 0: no current state
    max_spikes: int = 1    # spikes per step at most


class LIFState(NamedTuple):
    mem: torch.Tensor                # membrane potential u
    var: torch.Tensor                # noise variance V of u
    cur: torch.Tensor | None = None  # synaptic current c (syn_beta > 0 only)
    cur_var: torch.Tensor | None = None  # noise variance C of c


def spike_count(s: torch.Tensor, mem: torch.Tensor, theta: float, max_spikes: int) -> torch.Tensor:
    """Multi-spike output: the 0/1 sample s plus the extra spikes of a membrane above
    2 theta, 3 theta, ...; the extras are straight-through (no gradient of their own).
    The compiler's float simulator counts with this exact formula."""
    extra = torch.clamp(torch.ceil(mem.detach() / theta) - 2, 0, max_spikes - 1)
    return s + s.detach() * extra


def synapse_step(mu, var, state: LIFState, syn_beta: float):
    """Xylo's synaptic current: input added, then the decay: (current, its variance);
    the variance is None in a deterministic net (the SG baseline)."""
    cur = syn_beta * (state.cur + mu)
    return cur, None if var is None else syn_beta ** 2 * (state.cur_var + var)


def lif_step(mu, var, state: LIFState, params: LIFParams, fire: Firing):
    """One LIF step: (spikes, new state, margin)."""
    cur = cur_var = None
    if params.syn_beta > 0:
        cur, cur_var = synapse_step(mu, var, state, params.syn_beta)
        mu, var = cur, cur_var
    mem = params.beta * state.mem + mu
    V = None if var is None else params.beta ** 2 * state.var + var
    s, margin = fire(mem, V, params.theta)
    r = n = s.detach()
    if params.max_spikes > 1:
        s = spike_count(s, mem, params.theta, params.max_spikes)
        n = s.detach()
    if params.reset == "soft":
        mem = mem - params.theta * n
    else:
        mem, V = mem * (1.0 - r), None if V is None else V * (1.0 - r)
    return s, LIFState(mem, V, cur, cur_var), margin


def binary_step(mu, var, theta: float, fire: Firing, batch_dim: int = 0):
    """Memoryless noisy binary unit: (spikes, margin); `batch_dim` as in `Firing`."""
    return fire(mu, var, theta, batch_dim)


def beta_from_tau(tau_mem: float) -> float:
    return math.exp(-1.0 / tau_mem)


def resolve_beta(tau_mem: float, beta: float | None = None) -> float:
    """The membrane decay: `beta` when given (a chip's exact 1 - dv/4096 or
    1 - 2^-dash), else exp(-1/tau_mem)."""
    return beta_from_tau(tau_mem) if beta is None else float(beta)


class Neuron(nn.Module):
    """A neuron module: `init_state(like)` and `step(mu, var, state) -> (spikes, state,
    margin)`; `stepper()` returns the step with per-sequence constants hoisted out of
    the time loop. `var` is None for deterministic nets (the SG baseline)."""

    stateful = True

    def init_state(self, like: torch.Tensor):
        return None

    def stepper(self):
        return self.step


class BinaryNeuron(Neuron):
    """Binary unit applied independently at every step of a sequence."""

    stateful = False

    def __init__(self, fire: Firing, theta: float = 0.0):
        super().__init__()
        self.fire, self.theta = fire, theta

    def step(self, mu, var, state):
        # the whole sequence [T, B, ...] at once: the batch is dim 1 (draws differ over time)
        s, margin = binary_step(mu, var, self.theta, self.fire, batch_dim=1)
        return s, state, margin

    def extra_repr(self) -> str:
        return f"theta={self.theta}"


class LIFNeuron(Neuron):
    """Leaky integrate-and-fire neuron; `step` is `lif_step` with this module's params."""

    def __init__(self, fire: Firing, tau_mem: float = 10.0, theta: float = 1.0, reset: str = "soft",
                 *, beta: float | None = None, syn_beta: float = 0.0, max_spikes: int = 1):
        super().__init__()
        if reset not in RESETS:
            raise ValueError(f"reset must be one of {RESETS}, got {reset!r}")
        if not 0.0 <= syn_beta < 1.0:
            raise ValueError(f"syn_beta must be in [0, 1), got {syn_beta!r}")
        if not 1 <= max_spikes <= 31:
            raise ValueError(f"max_spikes must be in 1..31, got {max_spikes!r}")
        self.fire = fire
        self.params = LIFParams(resolve_beta(tau_mem, beta), float(theta), reset,
                                float(syn_beta), int(max_spikes))

    @property
    def theta(self) -> float:
        return self.params.theta

    def init_state(self, like: torch.Tensor) -> LIFState:
        if self.params.syn_beta > 0:
            return LIFState(*(torch.zeros_like(like) for _ in range(4)))
        return LIFState(torch.zeros_like(like), torch.zeros_like(like))

    def step(self, mu, var, state):
        return lif_step(mu, var, state, self.params, self.fire)

    def stepper(self):
        """`step` for one sequence: its spikes share one deferred backward."""
        params, fire = self.params, self.fire.sequence()
        return lambda mu, var, state: lif_step(mu, var, state, params, fire)

    def extra_repr(self) -> str:
        p = self.params
        return (f"beta={p.beta:.4f}, theta={p.theta}, reset={p.reset}, syn_beta={p.syn_beta}, "
                f"max_spikes={p.max_spikes}")


def _zeros_state(mu_seq: torch.Tensor, var_seq: torch.Tensor | None) -> torch.Tensor:
    """Zeros of one step's full shape (mu and var broadcast), outside the autograd graph."""
    if var_seq is None:
        return mu_seq.new_zeros(mu_seq.shape[1:])
    return mu_seq.new_zeros(torch.broadcast_shapes(mu_seq.shape[1:], var_seq.shape[1:]))


def run_neuron(neuron: Neuron, mu_seq: torch.Tensor, var_seq: torch.Tensor | None = None):
    """The time loop, written once for every neuron (SBNN, SG, recurrent or not):
    spikes [T, ...] of `neuron` driven by mu/var [T, ...].

    Returns (spikes, margin_term) where margin_term is the mean over steps, batch and
    neurons of the squared standardised margin `((u - theta)/S)^2` (None when
    deterministic or `var_seq` is None). `var_seq` may have singleton axes
    (per-layer posterior std).
    """
    step = neuron.stepper()
    if not neuron.stateful:  # memoryless: all steps at once
        s, _, margin = step(mu_seq, var_seq, None)
        return s, (None if margin is None else (margin ** 2).mean())
    state = neuron.init_state(_zeros_state(mu_seq, var_seq))
    out, total = [], None
    # unbind, not mu_seq[t]: each select's backward would fill a whole [T, ...] zero tensor
    variances = repeat(None) if var_seq is None else var_seq.unbind(0)
    for mu, var in zip(mu_seq.unbind(0), variances):
        s, state, margin = step(mu, var, state)
        if margin is not None:
            term = (margin ** 2).mean()
            total = term if total is None else total + term
        out.append(s)
    return torch.stack(out), (None if total is None else total / mu_seq.shape[0])


class RecState(NamedTuple):
    spikes: torch.Tensor  # s_{t-1}, fed back through the recurrent weights
    inner: object         # the wrapped neuron's state
    t: int                # step index (the per-step affine of the authors' SHD net)


class Recurrent(Neuron):
    """A neuron with all-to-all recurrent weights R: input_t = affine_t(mu_t + R s_{t-1}).

    `rec` is any layer returning (mu, var) (a `BayesLinear`: the recurrent current's
    variance `sigma_R^2 sum(s_{t-1}^2)` adds to the feed-forward variance, as any
    other input would; a deterministic linear layer returns var None). `affine`
    (optional) acts on the summed current at step t, as the authors' SHD net scales
    `W x + R s` per step and neuron (their SG baseline: BatchNorm per step there).
    """

    def __init__(self, neuron: Neuron, rec: nn.Module, affine: nn.Module | None = None):
        super().__init__()
        self.neuron, self.rec = neuron, rec
        self.affine = affine

    @property
    def params(self):
        return self.neuron.params

    def init_state(self, like: torch.Tensor) -> RecState:
        return RecState(torch.zeros_like(like), self.neuron.init_state(like), 0)

    def rec_moments(self):
        """s -> (R s, var) with the per-sequence constants (masked R, sigma^2) computed once."""
        rec = self.rec
        fast = isinstance(rec, BayesLinear) and rec.posterior == "layer" and rec.bias_rho is None \
            and self.neuron.params.max_spikes == 1
        if not fast:
            return rec.moments()
        weight, sigma2 = rec.masked_weight(), rec.posterior_std ** 2
        # 0/1 spikes: sum(s^2) = sum(s); without self-connections neuron i misses its own s_i
        if rec.no_diagonal:
            return lambda s: (F.linear(s, weight), sigma2 * (s.detach().sum(-1, keepdim=True) - s.detach()))
        return lambda s: (F.linear(s, weight), sigma2 * s.detach().sum(-1, keepdim=True))

    def stepper(self):
        rec, inner = self.rec_moments(), self.neuron.stepper()
        at = None if self.affine is None else self.affine.stepper()

        def step(mu, var, state: RecState):
            r_mu, r_var = rec(state.spikes)
            mu = mu + r_mu
            var = var if r_var is None else var + r_var
            if at is not None:
                mu, var = at(state.t, mu, var)
            s, inner_state, margin = inner(mu, var, state.inner)
            return s, RecState(s, inner_state, state.t + 1), margin

        return step

    def step(self, mu, var, state):
        return self.stepper()(mu, var, state)

    def run(self, mu_seq: torch.Tensor, var_seq: torch.Tensor | None = None):
        """(spikes [T, B, n], margin_term) for feed-forward mu/var [T, B, n]."""
        return run_neuron(self, mu_seq, var_seq)


class RecurrentLIF(Recurrent):
    """A recurrent LIF layer with Bayesian recurrent weights `rec` (n x n, no bias)."""

    def __init__(self, n: int, neuron: LIFNeuron, affine: nn.Module | None = None, *,
                 no_diagonal: bool = False, **bayes_kwargs):
        super().__init__(neuron, BayesLinear(n, n, bias=False, no_diagonal=no_diagonal, **bayes_kwargs),
                         affine)
