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
Gaussian-cdf analogue ``Phi(v/tau)`` (``relaxation="normal"``, the probit
relaxation), with which a Gaussian unit relaxed is again a Gaussian unit of std
``R = sqrt(S^2 + tau^2)``.  The sigmoid is the default because one sigmoid gives
both ``F_tau`` and ``f_tau`` (``Phi`` needs an erfc and an exp).

- ``st``        D = 1, D_S = z (identity through ``v = x + S z``).
- ``st_clipped``D = 1[|x| <= S] (width 1 where S = 0), D_S = z D.
- ``relaxed``   D = f_tau(v) at the sampled ``v = x + S z``, D_S = z D.
  ``E[D] = d/dx E_z F_tau(x + S z)``; for Gaussian noise and the normal
  relaxation this is ``phi(x/R)/R``.
- ``analytic``  D = f(x/S)/S, D_S = -(x/S) f(x/S)/S: the exact derivatives of
  the firing probability, sampled noise ignored (the authors' code).
- ``iw``        K fresh draws ``v_j = x + S z_j``, weights
  ``w_j ∝ F_tau(v_j)`` if s = 1 else ``1 - F_tau(v_j)`` (agreement of the
  relaxed unit with the drawn spike; self-normalised),
  ``D = sum_j w_j f_tau(v_j)``, ``D_S = sum_j w_j z_j f_tau(v_j)``.
- ``gumbel_rao`` the conditional expectation ``E[f_tau(v) | s]`` of the relaxed
  derivative given the drawn spike, in closed form (Gaussian noise, probit
  relaxation; ``relaxation`` is not read).  With ``a = x tau / (S R)`` and
  ``g = 2s - 1``::

      D   = phi(x/R)/R * Phi(g a) / Phi(g x/S)
      D_S = D * (-x S / R^2 + g (tau/R) phi(a) / Phi(g a))

  (the Gaussian integral of ``phi(v/tau)/tau`` over the half line ``{g v > 0}``;
  evaluated in logs, finite in both tails).  ``E_s[D] = phi(x/R)/R`` and
  ``E_s[D_S] = d/dS Phi(x/R)``, as for ``relaxed``; ``tau -> 0`` gives
  ``(dP/dx) / (2 P(s))``.

Draw sharing (``iw``): the K backward draws are shared across one axis,
``batch_dim``, when ``share_draws`` (the default): every element still sees K
iid draws, so its estimator is unchanged, but B times fewer numbers are drawn.
The axis must be the batch: a LIF step's tensors are ``[B, ...]``
(``batch_dim=0``), a binary unit's whole sequence ``[T, B, ...]``
(``batch_dim=1``); sharing across time would give one spike the same D at
every step.

Names: the paper (Walker, Khajehnejad, Razi, arXiv 2505.17962) calls the family
*importance-weighted straight-through* (IW-ST) estimators, "a unified class
generalising straight-through and relaxation-based estimators" (its abstract);
public summaries add an ``IW-ST(p)`` parameterisation and an "Analytical
Gumbel-Rao (AGR)" estimator.  The body of the paper, where those two are
defined, could not be read here (the stored copies of arXiv 2505.17962 give the
abstract and introduction only; the authors' code implements one estimator,
``analytic``).  So no estimator here is named ``IW-ST(p)`` or ``AGR``;
`PAPER_NAMES` says what each one is in the paper's vocabulary and the
literature's, as far as it can be checked:

- ``st``, ``relaxed``: the ST and relaxation-based members the abstract names
  (``relaxed`` with logistic noise and the sigmoid relaxation is the binary
  straight-through Gumbel-softmax, Jang et al. 2017).
- ``iw``: an IW-ST estimator: K importance draws re-weighted by the relaxed
  likelihood of the drawn spike.  It is a Monte-Carlo Gumbel-Rao estimator
  (Paulus et al., ICLR 2021, "GR-MCK": the ST-GS derivative averaged over the
  noise given the sample) in which the exact conditional draws ``z ~ p(z|s)``
  are replaced by self-normalised importance sampling with weights
  ``P_tau(s|z)``.
- ``gumbel_rao``: the K -> inf limit of Gumbel-Rao with exact conditional
  draws, analytically (Gaussian noise, probit relaxation).  Whether this is the
  paper's AGR could not be checked.
- ``analytic``: the estimator of the authors' code (``activation_bwd`` in their
  train_*.py): the expectation of the relaxed derivative over *all* the noise
  (not conditioned on ``s``) as ``tau -> 0``; also ``E_s`` of ``gumbel_rao``
  at ``tau -> 0``.

What ``iw`` estimates: the self-normalised importance sample of the posterior
mean ``E[dF_tau(x + S z)/dx | s]`` under ``p(z | s) ∝ p(z) P_tau(s | z)``.  No
further rescaling is applied, because the conditional already has the right
scale *in expectation over the drawn s*: as ``tau -> 0`` and ``K -> inf``,
``E[D | s] -> (dP(1)/dx) / (2 P(s))`` (the relaxed kernel sits on the edge of
the region ``{v : H(v) = s}``, half its mass inside), hence
``E_s[D] -> dP(1)/dx`` = ``analytic``.  For a loss with downstream gradient
``g(s)`` this gives ``E[g D] -> dP/dx (g(0)+g(1))/2``, the trapezoid rule for
``L(1) - L(0)``, exact for losses quadratic in ``s``, where ST-type estimators
evaluate ``g`` at the probable state only.  Limits (tested): ``K = 1`` is
``relaxed`` at an independent draw (w = 1, so ``E[D] = E[relaxed]``);
``tau -> 0, K -> inf`` approaches ``analytic`` in expectation (per sample it is
``analytic / (2 P(s))``, which is where its variance comes from;
``D <= f(0)/tau`` bounds it); large ``tau`` makes the weights uniform and
``D -> f(0)/tau``, i.e. ``st`` up to that scale.  Limits of the estimator: SNIS
is biased for finite K (the bias is O(1/K)); the relaxed weights use
``P_tau(s|z)`` while ``s`` came from the hard unit, so the expectation over
``s`` is only exact as ``tau -> 0``; each call costs K draws per element in the
backward pass.

Variance input: `spike_var` takes the noise *variance* ``V = S^2`` (what a
Bayesian layer and a LIF neuron carry) and takes the square root inside the
estimator, so a training step needs no separate autograd node for ``sqrt(V)``;
its gradient is ``D_S / (2 S)``, 0 where ``V = 0``.

Batched backward: in a LIF layer's time loop the backward of ``analytic``,
``iw`` and ``gumbel_rao`` is deferred and computed for all steps at once
(`snnc.train.deferred`, same derivatives, far fewer ops); `spike` and
`spike_var` here compute it per call.

Deterministic mode: ``noise_std = 0`` (the number) gives ``s = H(x)`` with
``x > 0`` and the backward pass ``phi(x/tau)/tau`` (Gaussian surrogate of width
``tau``) for ``relaxed``, ``analytic``, ``iw`` and ``gumbel_rao``; ``st`` keeps
the identity and ``st_clipped`` the window ``|x| <= 1``.  Elements of a tensor
``noise_std`` that are 0 (a neuron whose receptive field carried no spikes) get
the same forward; ``analytic`` and ``gumbel_rao`` use the Gaussian surrogate
there, ``relaxed``/``iw`` their kernel derivative ``f(x/tau)/tau``, and
``D_S = 0``.
"""
from __future__ import annotations

import math

import torch
from torch.autograd import Function

ESTIMATORS = ("st", "st_clipped", "relaxed", "analytic", "iw", "gumbel_rao")
NOISES = ("gaussian", "logistic")
RELAXATIONS = ("sigmoid", "normal")

# what each estimator is called in the paper's vocabulary and the literature (see above)
PAPER_NAMES = {
    "st": "ST (straight-through)",
    "st_clipped": "ST clipped to the window -S <= x <= S (not named by the paper)",
    "relaxed": "relaxation-based ST (binary ST-Gumbel-softmax analogue)",
    "analytic": "the authors' code estimator: exact dP/dx, dP/dS (expected derivative)",
    "iw": "IW-ST: K-draw self-normalised importance weighting (Monte-Carlo Gumbel-Rao)",
    # the paper's summaries name an "Analytical Gumbel-Rao (AGR)" estimator; its definition
    # was not readable here, so this is AGR by its name's meaning, not checked against the paper
    "gumbel_rao": "AGR (analytical Gumbel-Rao): the K -> inf limit of IW-ST, probit relaxation",
}

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


# --- the noise family: cdf F, pdf f, sampler ----------------------------------

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


# --- std or variance in, one sample out ------------------------------------------

def _std(S_or_var: torch.Tensor, from_var: bool) -> torch.Tensor:
    """The noise std S: the input itself, or sqrt(max(V, 0)) of a variance input."""
    return S_or_var.clamp_min(0.0).sqrt() if from_var else S_or_var


def _input_grad(gS, S: torch.Tensor, from_var: bool):
    """dL/dS, or dL/dV = dL/dS / (2 S) (0 where S = 0) for a variance input."""
    if gS is None or not from_var:
        return gS
    return torch.where(S > 0, gS.div_(S), 0.0).mul_(0.5)   # gS is a fresh buffer: in place


def _sample(ctx, x, S_or_var, z, from_var: bool):
    """(S, s): the std and the hard sample H(x + S z); remembers how S came in."""
    ctx.from_var = from_var
    S = _std(S_or_var, from_var)
    return S, _hard(torch.addcmul(x, S, z))


# --- one autograd.Function per backward rule ---------------------------------

class _StraightThrough(Function):
    """s = H(x + S z); D = 1 (or 1[|x| <= S] clipped), D_S = z D."""

    @staticmethod
    def forward(ctx, x, S_in, z, clipped, from_var):
        S, s = _sample(ctx, x, S_in, z, from_var)
        mask = (x.abs() <= _safe_std(S)) if clipped else None
        need_S = ctx.needs_input_grad[1]
        ctx.save_for_backward(mask, z if need_S else None, S if need_S else None)
        return s

    @staticmethod
    def backward(ctx, grad):
        mask, z, S = ctx.saved_tensors
        gx = grad if mask is None else grad * mask
        gS = _input_grad(gx * z, S, ctx.from_var) if z is not None else None
        return gx, gS, None, None, None


class _Relaxed(Function):
    """s = H(v), v = x + S z; D = f(v/tau)/tau, D_S = z D."""

    @staticmethod
    def forward(ctx, x, S_in, z, tau, relaxation, from_var):
        S = _std(S_in, from_var)
        v = torch.addcmul(x, S, z)
        ctx.tau, ctx.relaxation, ctx.from_var = tau, relaxation, from_var
        need_S = ctx.needs_input_grad[1]
        ctx.save_for_backward(v, z if need_S else None, S if need_S else None)
        return _hard(v)

    @staticmethod
    def backward(ctx, grad):
        v, z, S = ctx.saved_tensors
        gx = grad * _kernel_pdf(v / ctx.tau, ctx.relaxation) / ctx.tau
        gS = _input_grad(gx * z, S, ctx.from_var) if z is not None else None
        return gx, gS, None, None, None, None


def _analytic_derivatives(x, S, tau, noise, need_std=True):
    """(D, D_S) of ``analytic``; the Gaussian surrogate of width tau and D_S = 0 where S = 0.

    Gaussian noise in a few in-place ops: where S = 0 the width tau takes S's
    place, which is the Gaussian surrogate.
    """
    noisy = S > 0
    if noise != "gaussian":
        S_safe = _safe_std(S)
        t = x / S_safe
        d = _pdf(t, noise) / S_safe
        D = torch.where(noisy, d, _gauss_surrogate(x, tau))
        return D, (torch.where(noisy, -t * d, torch.zeros_like(d)) if need_std else None)
    width = torch.where(noisy, S, torch.full_like(S, tau))
    t = x / width
    D = torch.square(t).mul_(-0.5).exp_().mul_(_INV_SQRT_2PI).div_(width)
    return D, (t.mul_(D).mul_(noisy).neg_() if need_std else None)


def _iw_draws(x, k, noise, generator, share_draws, batch_dim):
    """The K standard draws z_j: [K, *x.shape], size 1 along `batch_dim` when shared."""
    shape = [k] + list(x.shape)
    if share_draws and x.dim() > 1:
        shape[1 + batch_dim] = 1
    return _draw(shape, x, noise, generator)


def _iw_derivatives(x, S, s, tau, k, noise, generator, relaxation="sigmoid", share_draws=True,
                    batch_dim=0, need_std=True, grad=None):
    """(D, D_S) of ``iw``: w_j = F_tau(±v_j) / sum_i F_tau(±v_i), sign + if s = 1.

    ``D = sum_j w_j f_tau(v_j)`` and ``D_S = sum_j w_j z_j f_tau(v_j)`` with
    ``v_j = x + S z_j``, j = 1..K drawn along a new leading dim (shared across
    `batch_dim` with `share_draws`: random draws were half the backward's cost).
    The weights are normalised directly, without logs: where every F underflows,
    every f(v_j/tau) is ~0 too, so D -> 0 (the norm is clamped above 0).
    """
    zk = _iw_draws(x, k, noise, generator, share_draws, batch_dim)
    sign = s.mul(2.0 / tau).sub_(1.0 / tau)  # F(±t): sign / tau folded into x and S, before the K draws
    t = torch.addcmul(x * sign, S * sign, zk)
    if relaxation == "sigmoid":  # one sigmoid a = F(±t) gives f(t) = a (1 - a)
        cdf = t.sigmoid_()
        wd = torch.ops.aten.sigmoid_backward(cdf, cdf)  # a * a (1 - a) in one kernel
    else:  # Phi(±t) phi(t), phi even
        cdf = _kernel_cdf(t, relaxation)
        wd = _kernel_pdf(t, relaxation).mul_(cdf)
    norm = cdf.sum(0).clamp_min_(torch.finfo(cdf.dtype).tiny).mul_(tau)
    scale = norm.reciprocal_() if grad is None else torch.div(grad, norm)  # the incoming grad folded in
    D = wd.sum(0).mul_(scale)
    return D, (wd.mul_(zk).sum(0).mul_(scale) if need_std else None)


class _FromSample(Function):
    """s = H(x + S z); a backward that reads the forward's (x, S, s) alone (`analytic`,
    `iw`, `gumbel_rao`: `sample_derivatives`)."""

    @staticmethod
    def forward(ctx, x, S_in, z, estimator, opts, from_var):
        S, s = _sample(ctx, x, S_in, z, from_var)
        ctx.estimator, ctx.opts = estimator, opts
        ctx.save_for_backward(x, S, s)
        return s

    @staticmethod
    def backward(ctx, grad):
        x, S, s = ctx.saved_tensors
        need_S = ctx.needs_input_grad[1]
        D, D_S = sample_derivatives(ctx.estimator, x, S, s, ctx.opts, need_S, grad)   # times grad
        gS = _input_grad(D_S, S, ctx.from_var) if need_S else None
        return D, gS, None, None, None, None


SAMPLE_ESTIMATORS = ("analytic", "iw", "gumbel_rao")   # their backward reads only (x, S, s)


def sample_derivatives(estimator, x, S, s, opts: dict, need_std=True, grad=None):
    """(D, D_S) of an estimator of `SAMPLE_ESTIMATORS` at the forward's (x, S, s), times
    `grad` when it is given (``iw`` folds it into its normaliser); `opts` as `spike`'s
    (tau, k, noise, generator, relaxation, share_draws, batch_dim). The per-call backward
    and the batched one of `snnc.train.deferred` both compute here."""
    if estimator == "iw":
        return _iw_derivatives(x, S, s, need_std=need_std, grad=grad, **opts)
    if estimator == "analytic":
        D, D_S = _analytic_derivatives(x, S, opts["tau"], opts["noise"], need_std)
    else:
        D, D_S = _gumbel_rao_derivatives(x, S, s, opts["tau"])
        D_S = D_S if need_std else None
    if grad is not None:
        D, D_S = D.mul_(grad), (None if D_S is None else D_S.mul_(grad))
    return D, D_S


def _gumbel_rao_derivatives(x, S, s, tau):
    """(D, D_S) of ``gumbel_rao``; the Gaussian surrogate and D_S = 0 where S = 0."""
    noisy = S > 0
    S1 = _safe_std(S)
    R = torch.sqrt(S1 * S1 + tau * tau)
    g = 2.0 * s - 1.0
    a = x * tau / (S1 * R)
    log_phi_ga = torch.special.log_ndtr(g * a)
    log_D = (-0.5 * (x / R) ** 2 - torch.log(R) - _LOG_SQRT_2PI
             + log_phi_ga - torch.special.log_ndtr(g * x / S1))
    D = torch.exp(log_D)
    mills = torch.exp(-0.5 * a * a - _LOG_SQRT_2PI - log_phi_ga)  # phi(a) / Phi(g a)
    D_S = D * (-x * S1 / (R * R) + g * (tau / R) * mills)
    D = torch.where(noisy, D, _gauss_surrogate(x, tau))
    return D, torch.where(noisy, D_S, torch.zeros_like(D_S))


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

def _check_args(estimator, tau, k, noise, relaxation="sigmoid", batch_dim=0) -> None:
    """One-line ValueError naming the first bad argument."""
    if relaxation not in RELAXATIONS:
        raise ValueError(f"relaxation must be one of {RELAXATIONS}, got {relaxation!r}")
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    if noise not in NOISES:
        raise ValueError(f"noise must be one of {NOISES}, got {noise!r}")
    if estimator == "gumbel_rao" and noise != "gaussian":
        raise ValueError(f"estimator 'gumbel_rao' needs noise 'gaussian' (its closed form), got {noise!r}")
    if not (isinstance(tau, (int, float)) and tau > 0):
        raise ValueError(f"tau must be a number > 0, got {tau!r}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an int >= 1, got {k!r}")
    if isinstance(batch_dim, bool) or not isinstance(batch_dim, int) or batch_dim < 0:
        raise ValueError(f"batch_dim must be an int >= 0, got {batch_dim!r}")


def _is_zero_number(noise_std) -> bool:
    """True for the number 0 (deterministic mode); ValueError for a negative number."""
    if isinstance(noise_std, torch.Tensor):
        return False
    if not isinstance(noise_std, (int, float)) or noise_std < 0:
        raise ValueError(f"noise_std must be a tensor or a number >= 0, got {noise_std!r}")
    return noise_std == 0


def _broadcast(x: torch.Tensor, S) -> tuple[torch.Tensor, torch.Tensor]:
    """x and S expanded to one shape (autograd sums S's gradient back); no op when equal."""
    S = torch.as_tensor(S, dtype=x.dtype, device=x.device)
    if S.shape == x.shape:
        return x, S
    shape = torch.broadcast_shapes(x.shape, S.shape)
    return (x if x.shape == shape else x.expand(shape)), S.expand(shape)


def spike(u, theta, noise_std, estimator="analytic", *, tau=0.5, k=8, noise="gaussian",
          generator=None, relaxation="sigmoid", share_draws=True, batch_dim=0) -> torch.Tensor:
    """Hard sample ``s = H(u - theta + eps)``, eps = noise_std * z, with the chosen backward.

    u: pre-activation / membrane potential, any shape (floating).
    theta: threshold, a number or a tensor broadcastable to u (gets gradients).
    noise_std: S, a tensor broadcastable to u (gets gradients; assumed >= 0) or
      the number 0 for deterministic evaluation.
    estimator: one of ``ESTIMATORS`` (see the module docstring for D and D_S).
    tau: relaxation temperature (``relaxed``, ``iw``, ``gumbel_rao``) and
      deterministic-mode surrogate width; k: number of importance draws (``iw``).
    noise: ``"gaussian"`` or ``"logistic"``; generator: torch.Generator for all
      draws (the forward sample and, for ``iw``, the K backward draws).
    relaxation: the kernel F_tau of ``relaxed`` and ``iw``: ``"sigmoid"``
      (``sigmoid(v/tau)``, the default) or ``"normal"`` (``Phi(v/tau)``).
    share_draws, batch_dim: ``iw`` shares its K backward draws across axis
      `batch_dim` of the broadcast shape, which must be the batch (0 for one
      step ``[B, ...]``, 1 for a sequence ``[T, B, ...]``).
    Returns float 0/1 of the broadcast shape of u, theta and noise_std.
    """
    opts = dict(tau=tau, k=k, noise=noise, generator=generator, relaxation=relaxation,
                share_draws=share_draws, batch_dim=batch_dim)
    _check_args(estimator, tau, k, noise, relaxation, batch_dim)
    x = u - theta
    if _is_zero_number(noise_std):
        return _deterministic(x, estimator, float(tau))
    return _noisy(x, noise_std, estimator, opts, from_var=False)


def spike_var(u, theta, noise_var, estimator="analytic", **options) -> torch.Tensor:
    """`spike` with the noise *variance* V = S^2 (a tensor >= 0, or the number 0):
    the square root is taken inside the estimator; dL/dV = dL/dS / (2 S), 0 at V = 0."""
    opts = dict(dict(tau=0.5, k=8, noise="gaussian", generator=None, relaxation="sigmoid",
                     share_draws=True, batch_dim=0), **options)
    _check_args(estimator, opts["tau"], opts["k"], opts["noise"], opts["relaxation"], opts["batch_dim"])
    x = u - theta
    if _is_zero_number(noise_var):
        return _deterministic(x, estimator, float(opts["tau"]))
    return _noisy(x, noise_var, estimator, opts, from_var=True)


def _deterministic(x, estimator, tau) -> torch.Tensor:
    """eps = 0: the identity (st), window (st_clipped) or Gaussian surrogate backward."""
    if estimator in ("st", "st_clipped"):
        zero = torch.zeros((), dtype=x.dtype, device=x.device)
        return _StraightThrough.apply(x, zero, zero, estimator == "st_clipped", False)
    return _Deterministic.apply(x, tau)


def _noisy(x, S_in, estimator, opts, from_var) -> torch.Tensor:
    """Draw z and dispatch to the estimator's autograd.Function."""
    x, S_in = _broadcast(x, S_in)
    if estimator == "iw" and opts["share_draws"] and 1 < x.dim() <= opts["batch_dim"]:
        raise ValueError(f"batch_dim must be < {x.dim()} (the sample's dims {tuple(x.shape)}), "
                         f"got {opts['batch_dim']}")
    z = _draw(x.shape, x, opts["noise"], opts["generator"])
    tau = float(opts["tau"])
    if estimator in ("st", "st_clipped"):
        return _StraightThrough.apply(x, S_in, z, estimator == "st_clipped", from_var)
    if estimator == "relaxed":
        return _Relaxed.apply(x, S_in, z, tau, opts["relaxation"], from_var)
    return _FromSample.apply(x, S_in, z, estimator, dict(opts, tau=tau), from_var)


def firing_probability(u, theta, noise_std, noise="gaussian") -> torch.Tensor:
    """P(s=1) = F((u - theta)/S); ``1[u - theta > 0]`` where S = 0. Differentiable."""
    if noise not in NOISES:
        raise ValueError(f"noise must be one of {NOISES}, got {noise!r}")
    x = u - theta
    if _is_zero_number(noise_std):
        return _hard(x)
    x, S = _broadcast(x, noise_std)
    return torch.where(S > 0, _cdf(x / _safe_std(S), noise), _hard(x))
