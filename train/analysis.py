"""Bias and variance of the IW-ST estimator family against an exact gradient.

A tiny network of noisy binary units (the ``snnc estimators`` command)::

    h1 = H(x W1^T + b1 + S1 z1)          x: [B, 4], h1: [B, 6]
    h2 = H(h1 W2^T + b2 + S2 z2)         h2: [B, 6]
    L  = mean_b CE(h2 Wr^T + br, y_b)    3 classes

Its expected loss is a finite sum over the 2^6 x 2^6 hidden configurations::

    E[L] = mean_b sum_{a, c} P(h1 = a | x_b) P(h2 = c | a) CE(c, y_b),
    P(h = a | u) = prod_i p_i^a_i (1 - p_i)^(1 - a_i),  p = Phi(u / S)

so the exact gradient ``g* = dE[L]/dW1`` comes from autograd through the
enumeration.  Each estimator gives per-draw gradients ``g_n`` (n = 1..N, the
draws batched along a leading dim, one copy of W1 per draw), summarised as::

    bias     = ||mean_n g_n - g*|| / ||g*||
    cosine   = cos(mean_n g_n, g*)
    variance = mean_n ||g_n - mean g||^2 / ||g*||^2
    mc_error = sqrt(variance / N)   (Monte Carlo error of `bias`: biases
                                     below it are not resolved)

The units fire as in training: the noise family (``noise``, Gaussian by
default) of the estimator settings, and ``iw``'s K draws shared across the
batch (dim 1 here; dim 0 holds the N independent draws).  ``--config F`` reads
the estimator settings of a training config (``[method]`` estimator, tau, k,
noise, relaxation): its row comes first, marked ``"training": true``, and the
grid rows use its noise and relaxation.  Every row carries ``paper_name``
(`estimators.PAPER_NAMES`).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from tqdm import tqdm

from snnc.errors import ConfigError
from snnc.train.estimators import PAPER_NAMES, firing_probability, spike

TAUS = (0.1, 0.3, 1.0, 3.0)
KS = (1, 4, 16, 64)
DTYPE = torch.float64
_CHUNK_ELEMENTS = 1_000_000  # draws x batch x units x K per chunk: bounds iw's memory


@dataclass(frozen=True)
class TinyNet:
    """Fixed inputs, labels, weights and per-layer noise stds of the test network."""

    x: torch.Tensor    # [B, 4] inputs
    y: torch.Tensor    # [B] labels in 0..2
    W1: torch.Tensor   # [6, 4] first-layer weights (the gradient is taken here)
    b1: torch.Tensor   # [6]
    W2: torch.Tensor   # [6, 6]
    b2: torch.Tensor   # [6]
    Wr: torch.Tensor   # [3, 6] readout
    br: torch.Tensor   # [3]
    S1: float          # noise std of layer 1
    S2: float          # noise std of layer 2
    noise: str = "gaussian"  # the noise family of every unit


def make_net(seed: int = 0, batch: int = 8, S1: float = 0.5, S2: float = 0.5,
             noise: str = "gaussian") -> TinyNet:
    """Weights ``U(+-1/sqrt(fan_in))`` as in the authors' init; a larger readout."""
    g = torch.Generator().manual_seed(seed)

    def uniform(*shape, fan_in):
        return (2 * torch.rand(shape, generator=g, dtype=DTYPE) - 1) / fan_in ** 0.5

    x = torch.randn(batch, 4, generator=g, dtype=DTYPE)
    y = torch.randint(0, 3, (batch,), generator=g)
    return TinyNet(x, y, uniform(6, 4, fan_in=4), uniform(6, fan_in=4),
                   2 * uniform(6, 6, fan_in=6), uniform(6, fan_in=6),
                   3 * uniform(3, 6, fan_in=6), uniform(3, fan_in=6), S1, S2, noise)


# --- exact expected loss ----------------------------------------------------------

def configurations(n: int) -> torch.Tensor:
    """All 2^n binary vectors, [2^n, n]."""
    return torch.tensor(list(itertools.product((0.0, 1.0), repeat=n)), dtype=DTYPE)


def config_probability(p: torch.Tensor, H: torch.Tensor) -> torch.Tensor:
    """P(h = H_c) = prod_i p_i^H_ci (1 - p_i)^(1 - H_ci): p [..., n], H [C, n] -> [..., C]."""
    p = p.unsqueeze(-2)
    return torch.where(H > 0, p, 1 - p).prod(-1)


def expected_loss(net: TinyNet, W1: torch.Tensor) -> torch.Tensor:
    """E[L] = mean_b sum_{a,c} P(a | x_b) P(c | a) CE(c, y_b), exactly."""
    H = configurations(6)
    P1 = config_probability(firing_probability(net.x @ W1.T + net.b1, 0.0, net.S1, net.noise), H)  # [B, 64]
    P2 = config_probability(firing_probability(H @ net.W2.T + net.b2, 0.0, net.S2, net.noise), H)  # [64, 64]
    logits = H @ net.Wr.T + net.br                                             # [64, 3]
    ce = -torch.log_softmax(logits, -1)[:, net.y]                              # [64, B]
    return torch.einsum("ba,ac,cb->b", P1, P2, ce).mean()


def exact_gradient(net: TinyNet) -> torch.Tensor:
    """g* = dE[L]/dW1 through the enumeration."""
    W1 = net.W1.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(expected_loss(net, W1), (W1,))
    return g


# --- sampled gradients --------------------------------------------------------------

def sampled_loss(net: TinyNet, W1n: torch.Tensor, estimator: str, params: dict, generator) -> torch.Tensor:
    """Per-draw loss L_n with W1n [N, 6, 4] (one copy of W1 per draw): [N]."""
    # dim 0 holds independent draws, dim 1 the batch: iw shares its K draws across the
    # batch only, as in training
    kw = dict(params, generator=generator, noise=net.noise, batch_dim=1)
    u1 = torch.einsum("bi,noi->nbo", net.x, W1n) + net.b1
    h1 = spike(u1, 0.0, net.S1, estimator, **kw)
    h2 = spike(h1 @ net.W2.T + net.b2, 0.0, net.S2, estimator, **kw)
    logits = h2 @ net.Wr.T + net.br
    return -torch.log_softmax(logits, -1)[..., torch.arange(len(net.y)), net.y].mean(-1)


def sampled_gradients(net: TinyNet, estimator: str, params: dict, draws: int, generator) -> torch.Tensor:
    """g_n = dL_n/dW1 for n = 1..draws, [draws, 6*4], batched in chunks."""
    per_draw = len(net.y) * 6 * params.get("k", 1)
    chunk = max(1, _CHUNK_ELEMENTS // per_draw)
    out = []
    for start in range(0, draws, chunk):
        n = min(chunk, draws - start)
        W1n = net.W1.expand(n, -1, -1).clone().requires_grad_(True)
        loss = sampled_loss(net, W1n, estimator, params, generator)
        (g,) = torch.autograd.grad(loss.sum(), (W1n,))
        out.append(g.reshape(n, -1))
    return torch.cat(out)


def gradient_stats(G: torch.Tensor, g_star: torch.Tensor) -> dict:
    """bias, cosine, variance (relative to ||g*||) and mc_error of per-draw gradients G [N, D]."""
    g_star = g_star.reshape(-1)
    mean = G.mean(0)
    norm2 = g_star.square().sum()
    variance = (G - mean).square().sum(1).mean() / norm2
    return {"bias": float((mean - g_star).norm() / norm2.sqrt()),
            "cosine": float(torch.nn.functional.cosine_similarity(mean, g_star, dim=0)),
            "variance": float(variance),
            "mc_error": float((variance / G.shape[0]).sqrt())}


# --- the sweep ----------------------------------------------------------------------

def estimator_grid(taus=TAUS, ks=KS, noise: str = "gaussian",
                   relaxation: str = "sigmoid") -> list[tuple[str, dict]]:
    """(estimator, params) rows: st, st_clipped, analytic; relaxed per tau; iw per
    (tau, K); gumbel_rao per tau (Gaussian noise only: its closed form)."""
    kernel = {} if relaxation == "sigmoid" else {"relaxation": relaxation}
    rows = [("st", {}), ("st_clipped", {}), ("analytic", {})]
    rows += [("relaxed", {"tau": t, **kernel}) for t in taus]
    rows += [("iw", {"tau": t, "k": k, **kernel}) for t in taus for k in ks]
    if noise == "gaussian":
        rows += [("gumbel_rao", {"tau": t}) for t in taus]
    return rows


def training_row(path) -> tuple[str, dict, str]:
    """(estimator, params, noise) of the `[method]` of training config `path`."""
    from snnc.train.config import load

    method = load(path).method
    if method.name != "sbnn":
        raise ConfigError(f"{path}: method.name is {method.name!r}; only an 'sbnn' config has an estimator")
    if method.estimator == "gumbel_rao" and method.noise != "gaussian":
        raise ConfigError(f"{path}: method.estimator 'gumbel_rao' needs method.noise 'gaussian', "
                          f"got {method.noise!r}")
    params = {"tau": method.tau, "k": method.k, "relaxation": method.relaxation}
    return method.estimator, params, method.noise


def run_rows(net: TinyNet, draws: int, seed: int, grid=None, progress=True) -> list[dict]:
    """One stats row per (estimator, params), each with its own seeded generator."""
    g_star = exact_gradient(net)
    rows = []
    for i, (estimator, params) in enumerate(tqdm(grid or estimator_grid(), desc="estimators",
                                                 unit="row", disable=not progress)):
        gen = torch.Generator().manual_seed(seed * 1000 + i)
        G = sampled_gradients(net, estimator, params, draws, gen)
        rows.append({"estimator": estimator, "paper_name": PAPER_NAMES[estimator], "params": params,
                     "noise": net.noise, **gradient_stats(G, g_star)})
    return rows


def grid_of(config) -> tuple[list, str, bool]:
    """(grid, noise, has a training row): the default grid, or the training config's
    estimator first and the grid in its noise family and relaxation."""
    if not config:
        return estimator_grid(), "gaussian", False
    estimator, params, noise = training_row(config)
    grid = estimator_grid(noise=noise, relaxation=params["relaxation"])
    return [(estimator, params)] + grid, noise, True
