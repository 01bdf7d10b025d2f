"""The IW-ST family of gradient estimators for noisy binary / spiking units.

A noisy unit fires ``s = H(u - theta + eps)`` with ``eps = S z``: ``z ~ N(0, 1)``
(``noise="gaussian"``) or ``z ~ Logistic(0, 1)`` (``noise="logistic"``).  With
``x = u - theta`` and ``F``/``f`` the cdf/pdf of ``z``::

    P(s=1) = F(x / S)
    dP/dx  = f(x/S) / S                 dP/dS = -(x/S) f(x/S) / S

The forward pass always returns the hard sample ``s`` (0./1.).  The estimators
differ only in the backward pass, i.e. in the number ``D`` that replaces
``ds/dx`` (and ``D_S`` for ``ds/dS``).  ``relaxed`` and ``iw`` use a
*relaxation* ``F_tau(v)`` of ``H(v)`` at temperature ``tau`` with derivative
``f_tau``: ``sigmoid(v/tau)`` by default (``relaxation="sigmoid"``), or its
Gaussian-cdf analogue ``Phi(v/tau)`` (``relaxation="normal"``), with which a
Gaussian unit relaxed is again a Gaussian unit of std ``sqrt(S^2 + tau^2)``.
The sigmoid is the default because one sigmoid gives both ``F_tau`` and
``f_tau`` (``Phi`` needs an erfc and an exp: it made ``iw`` 1.4x slower):

- ``st``        D = 1, D_S = z (identity through ``v = x + S z``).
- ``st_clipped``D = 1[|x| <= S] (width 1 where S = 0), D_S = z D.
- ``relaxed``   D = f_tau(v) at the sampled ``v = x + S z``, D_S = z D.
  ``E[D] = d/dx E_z F_tau(x + S z)``; for Gaussian noise and the normal
  relaxation this is ``phi(x/R)/R`` with ``R = sqrt(S^2 + tau^2)``.
- ``analytic``  D = f(x/S)/S, D_S = -(x/S) f(x/S)/S: the exact derivatives of
  the firing probability, sampled noise ignored (the authors' code).
- ``iw``        K fresh draws ``v_j = x + S z_j``, weights
  ``w_j ∝ F_tau(v_j)`` if s = 1 else ``1 - F_tau(v_j)`` (agreement of the
  relaxed unit with the drawn spike; self-normalised),
  ``D = sum_j w_j f_tau(v_j)``, ``D_S = sum_j w_j z_j f_tau(v_j)``; the K draws
  are shared across the batch (dim 0) unless ``share_draws=False``.

What ``iw`` estimates: the self-normalised importance sample of the posterior
mean ``E[dF_tau(x + S z)/dx | s]`` under ``p(z | s) ∝ p(z) P_tau(s | z)``
(a Rao-Blackwellised relaxation: the drawn spike is kept, the noise that
produced it is re-drawn K times and re-weighted).  No further rescaling is
applied, because the conditional already has the right scale *in expectation
over the drawn s*: as ``tau -> 0`` and ``K -> inf``,
``E[D | s] -> (dP(1)/dx) / (2 P(s))`` (the relaxed kernel sits on the edge of
the region ``{v : H(v) = s}``, half its mass inside), hence
``E_s[D] = P(1) E[D|1] + P(0) E[D|0] -> dP(1)/dx`` = ``analytic``.  For a loss
with downstream gradient ``g(s)`` this gives ``E[g D] -> dP/dx (g(0)+g(1))/2``,
the trapezoid rule for ``L(1) - L(0)``, exact for losses quadratic in ``s``,
where ST-type estimators evaluate ``g`` at the probable state only.
Limits (tested): ``K = 1`` is ``relaxed`` at an independent draw (w = 1, so
``E[D] = E[relaxed]``); ``tau -> 0, K -> inf`` approaches ``analytic`` in
expectation (per sample it is ``analytic / (2 P(s))``, which is where its
variance comes from; ``D <= f(0)/tau`` bounds it); large ``tau`` makes the
weights uniform and ``D -> f(0)/tau``, i.e. ``st`` up to that scale.  Limits
of the estimator: SNIS is biased for finite K (the bias is O(1/K)); the
relaxed weights use ``P_tau(s|z)`` while ``s`` came from the hard unit, so the
expectation over ``s`` is only exact as ``tau -> 0``; each call costs K draws
per element in the backward pass.

Deterministic mode: ``noise_std = 0`` (the number) gives ``s = H(x)`` with
``x > 0`` and the backward pass ``phi(x/tau)/tau`` (Gaussian surrogate of width
``tau``) for ``relaxed``, ``analytic`` and ``iw``; ``st`` keeps the identity and
``st_clipped`` the window ``|x| <= 1``.  Elements of a tensor ``noise_std``
that are 0 (a neuron whose receptive field carried no spikes) get the same
forward; ``analytic`` uses the Gaussian surrogate there, ``relaxed``/``iw``
their kernel derivative ``f(x/tau)/tau``, and ``D_S = 0``.
"""
from __future__ import annotations

import math

import torch
from torch.autograd import Function

ESTIMATORS = ("st", "st_clipped", "relaxed", "analytic", "iw")
NOISES = ("gaussian", "logistic")
RELAXATIONS = ("sigmoid", "normal")

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


# --- the noise family: cdf F, pdf f, log F, sampler --------------------------

def _cdf(t: torch.Tensor, noise: str) -> torch.Tensor:
    """F(t): ``Phi(t)`` (Gaussian) or ``sigmoid(t)`` (logistic)."""
    return torch.special.ndtr(t) if noise == "gaussian" else torch.sigmoid(t)


def _kernel_cdf(t: torch.Tensor, relaxation: str) -> torch.Tensor:
    """The relaxation F_tau's shape: ``sigmoid(t)`` or ``Phi(t)`` ("normal")."""
    return torch.sigmoid(t) if relaxation == "sigmoid" else torch.special.ndtr(t)


def _kernel_pdf(t: torch.Tensor, relaxation: str) -> torch.Tensor:
    """Its derivative: ``sigmoid(t)(1 - sigmoid(t))`` or ``phi(t)``."""
    return _pdf(t, "logistic" if relaxation == "sigmoid" else "gaussian")


def _pdf(t: torch.Tensor, noise: str) -> torch.Tensor:
    """f(t) = F'(t): ``exp(-t^2/2)/sqrt(2 pi)`` or ``sigmoid(t)(1 - sigmoid(t))``."""
    if noise == "gaussian":
        return torch.exp(-0.5 * t * t) * _INV_SQRT_2PI
    p = torch.sigmoid(t)
    return p * (1.0 - p)


def _gauss_surrogate(x: torch.Tensor, tau: float) -> torch.Tensor:
    """Deterministic-mode derivative ``phi(x/tau)/tau``."""
    t = x / tau
    return torch.exp(-0.5 * t * t) * (_INV_SQRT_2PI / tau)


def _draw(shape, like: torch.Tensor, noise: str, generator) -> torch.Tensor:
    """Standard noise z of the family: N(0,1) or Logistic(0,1) = logit(U)."""
    if noise == "gaussian":
        return torch.randn(shape, generator=generator, dtype=like.dtype, device=like.device)
    tiny = torch.finfo(like.dtype).tiny
    uni = torch.rand(shape, generator=generator, dtype=like.dtype, device=like.device)
    uni = uni.clamp(tiny, 1.0 - torch.finfo(like.dtype).eps)
    return torch.log(uni) - torch.log1p(-uni)


def _hard(v: torch.Tensor) -> torch.Tensor:
    """H(v) as float 0/1 (``v > 0``: H(0) = 0)."""
    return (v > 0).to(v.dtype)


def _safe_std(S: torch.Tensor) -> torch.Tensor:
    """S where S > 0, else 1 (so that ``x/S`` stays finite; masked later)."""
    return torch.where(S > 0, S, torch.ones_like(S))


# --- one autograd.Function per backward rule ---------------------------------

class _StraightThrough(Function):
    """s = H(x + S z); D = 1 (or 1[|x| <= S] clipped), D_S = z D."""

    @staticmethod
    def forward(ctx, x, S, z, clipped):
        mask = (x.abs() <= _safe_std(S)) if clipped else None
        ctx.save_for_backward(mask, z if ctx.needs_input_grad[1] else None)
        return _hard(x + S * z)

    @staticmethod
    def backward(ctx, grad):
        mask, z = ctx.saved_tensors
        gx = grad if mask is None else grad * mask
        return gx, (gx * z if z is not None else None), None, None


class _Relaxed(Function):
    """s = H(v), v = x + S z; D = f(v/tau)/tau, D_S = z D."""

    @staticmethod
    def forward(ctx, x, S, z, tau, relaxation):
        v = x + S * z
        ctx.tau, ctx.relaxation = tau, relaxation
        ctx.save_for_backward(v, z if ctx.needs_input_grad[1] else None)
        return _hard(v)

    @staticmethod
    def backward(ctx, grad):
        v, z = ctx.saved_tensors
        gx = grad * _kernel_pdf(v / ctx.tau, ctx.relaxation) / ctx.tau
        return gx, (gx * z if z is not None else None), None, None, None


class _Analytic(Function):
    """s = H(x + S z); D = f(x/S)/S, D_S = -(x/S) f(x/S)/S (phi(x/tau)/tau at S=0)."""

    @staticmethod
    def forward(ctx, x, S, z, tau, noise):
        ctx.tau, ctx.noise = tau, noise
        ctx.save_for_backward(x, S)
        return _hard(x + S * z)

    @staticmethod
    def backward(ctx, grad):
        x, S = ctx.saved_tensors
        S_safe = _safe_std(S)
        t = x / S_safe
        d = _pdf(t, ctx.noise) / S_safe
        noisy = S > 0
        gx = grad * torch.where(noisy, d, _gauss_surrogate(x, ctx.tau))
        gS = grad * torch.where(noisy, -t * d, torch.zeros_like(d)) if ctx.needs_input_grad[1] else None
        return gx, gS, None, None, None


class _ImportanceWeighted(Function):
    """s = H(x + S z); D = sum_j w_j f(v_j/tau)/tau over K fresh draws v_j = x + S z_j."""

    @staticmethod
    def forward(ctx, x, S, z, tau, k, noise, generator, relaxation, share_draws):
        s = _hard(x + S * z)
        ctx.tau, ctx.k, ctx.noise, ctx.generator = tau, k, noise, generator
        ctx.relaxation, ctx.share_draws = relaxation, share_draws
        ctx.save_for_backward(x, S, s)
        return s

    @staticmethod
    def backward(ctx, grad):
        x, S, s = ctx.saved_tensors
        D, D_S = _iw_derivatives(x, S, s, ctx.tau, ctx.k, ctx.noise, ctx.generator,
                                 ctx.relaxation, ctx.share_draws, need_std=ctx.needs_input_grad[1])
        gS = grad * D_S if D_S is not None else None
        return (grad * D, gS) + (None,) * 8


def _iw_derivatives(x, S, s, tau, k, noise, generator, relaxation="sigmoid", share_draws=True,
                    need_std=True):
    """(D, D_S) of ``iw``: w_j = F_tau(±v_j) / sum_i F_tau(±v_i), sign + if s = 1.

    ``D = sum_j w_j f_tau(v_j)`` and ``D_S = sum_j w_j z_j f_tau(v_j)`` with
    ``v_j = x + S z_j``, j = 1..K drawn along a new leading dim. With
    `share_draws` the K draws are shared across dim 0 (the batch): each
    element still sees K iid draws, so its estimator is unchanged, but the
    backward pass draws B times fewer numbers (random draws were half its
    cost). The weights are normalised directly, without logs: where every
    F underflows, every f(v_j/tau) is ~0 too, so D -> 0.
    """
    shape = (k,) + tuple(x.shape)
    if share_draws and x.dim() > 1:
        shape = (k, 1) + tuple(x.shape[1:])
    zk = _draw(shape, x, noise, generator)
    t = torch.addcmul(x / tau, S / tau, zk)
    cdf = _kernel_cdf((2.0 * s - 1.0) * t, relaxation)
    wd = cdf * _kernel_pdf(t, relaxation)
    norm = cdf.sum(0).clamp_min_(torch.finfo(cdf.dtype).tiny).mul_(tau)
    return wd.sum(0) / norm, ((wd * zk).sum(0) / norm if need_std else None)


class _Deterministic(Function):
    """Noiseless unit s = H(x) = 1[x > 0]; D = phi(x/tau)/tau."""

    @staticmethod
    def forward(ctx, x, tau):
        ctx.tau = tau
        ctx.save_for_backward(x)
        return _hard(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * _gauss_surrogate(x, ctx.tau), None


# --- public API ---------------------------------------------------------------

def _check_args(estimator, tau, k, noise, relaxation="sigmoid") -> None:
    """One-line ValueError naming the first bad argument."""
    if relaxation not in RELAXATIONS:
        raise ValueError(f"relaxation must be one of {RELAXATIONS}, got {relaxation!r}")
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    if noise not in NOISES:
        raise ValueError(f"noise must be one of {NOISES}, got {noise!r}")
    if not (isinstance(tau, (int, float)) and tau > 0):
        raise ValueError(f"tau must be a number > 0, got {tau!r}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an int >= 1, got {k!r}")


def _is_zero_number(noise_std) -> bool:
    """True for the number 0 (deterministic mode); ValueError for a negative number."""
    if isinstance(noise_std, torch.Tensor):
        return False
    if not isinstance(noise_std, (int, float)) or noise_std < 0:
        raise ValueError(f"noise_std must be a tensor or a number >= 0, got {noise_std!r}")
    return noise_std == 0


def _broadcast(x: torch.Tensor, S) -> tuple[torch.Tensor, torch.Tensor]:
    """x and S expanded to one shape (autograd sums S's gradient back)."""
    S = torch.as_tensor(S, dtype=x.dtype, device=x.device)
    shape = torch.broadcast_shapes(x.shape, S.shape)
    return x.expand(shape), S.expand(shape)


def spike(u, theta, noise_std, estimator="analytic", *, tau=0.5, k=8, noise="gaussian",
          generator=None, relaxation="sigmoid", share_draws=True) -> torch.Tensor:
    """Hard sample ``s = H(u - theta + eps)``, eps = noise_std * z, with the chosen backward.

    u: pre-activation / membrane potential, any shape (floating).
    theta: threshold, a number or a tensor broadcastable to u (gets gradients).
    noise_std: S, a tensor broadcastable to u (gets gradients; assumed >= 0) or
      the number 0 for deterministic evaluation.
    estimator: one of ``ESTIMATORS`` (see the module docstring for D and D_S).
    tau: relaxation temperature (``relaxed``, ``iw``) and deterministic-mode
      surrogate width; k: number of importance draws (``iw``).
    noise: ``"gaussian"`` or ``"logistic"``; generator: torch.Generator for all
      draws (the forward sample and, for ``iw``, the K backward draws).
    relaxation: the kernel F_tau of ``relaxed`` and ``iw``: ``"sigmoid"``
      (``sigmoid(v/tau)``, the default) or ``"normal"`` (``Phi(v/tau)``).
    share_draws: ``iw`` shares its K backward draws across dim 0 (the batch).
    Returns float 0/1 of the broadcast shape of u, theta and noise_std.
    """
    _check_args(estimator, tau, k, noise, relaxation)
    x = u - theta
    if _is_zero_number(noise_std):
        if estimator in ("st", "st_clipped"):
            return _StraightThrough.apply(x, torch.zeros((), dtype=x.dtype, device=x.device),
                                          torch.zeros((), dtype=x.dtype, device=x.device),
                                          estimator == "st_clipped")
        return _Deterministic.apply(x, float(tau))
    x, S = _broadcast(x, noise_std)
    z = _draw(x.shape, x, noise, generator)
    return _apply(estimator, x, S, z, float(tau), k, noise, generator, relaxation, share_draws)


def _apply(estimator, x, S, z, tau, k, noise, generator, relaxation, share_draws) -> torch.Tensor:
    """Dispatch to the estimator's autograd.Function."""
    if estimator in ("st", "st_clipped"):
        return _StraightThrough.apply(x, S, z, estimator == "st_clipped")
    if estimator == "relaxed":
        return _Relaxed.apply(x, S, z, tau, relaxation)
    if estimator == "analytic":
        return _Analytic.apply(x, S, z, tau, noise)
    return _ImportanceWeighted.apply(x, S, z, tau, k, noise, generator, relaxation, share_draws)


def firing_probability(u, theta, noise_std, noise="gaussian") -> torch.Tensor:
    """P(s=1) = F((u - theta)/S); ``1[u - theta > 0]`` where S = 0. Differentiable."""
    if noise not in NOISES:
        raise ValueError(f"noise must be one of {NOISES}, got {noise!r}")
    x = u - theta
    if _is_zero_number(noise_std):
        return _hard(x)
    x, S = _broadcast(x, noise_std)
    return torch.where(S > 0, _cdf(x / _safe_std(S), noise), _hard(x))
