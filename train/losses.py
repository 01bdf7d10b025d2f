"""Training objective of an SBNN: negative ELBO plus auxiliary terms.

    loss = CE(logits, y)                          expected NLL, one sample per example
         + kl_weight * KL(q(W) || p(W)) / N_data  ELBO's KL, scaled per example
         + margin_lambda * margin_penalty         sum_layers mean ((u - theta)/S)^2
         + rate_weight * sum_layers relu(rate_l - rate_target)^2
         + synops_weight * relu(synops - synops_budget) / synops_dense

The margin penalty is the authors' auxiliary "bias" loss `lambda sum_t
mean_batch sum_neurons (mu/S)^2` taken as a mean over neurons and steps (so one
lambda fits nets of any width and duration): small |u - theta|/S keeps the
units in the regime where the estimators are least biased. (Config name
`loss.margin_lambda`; `loss.bias_lambda` is its old name.)

The two activity terms (issue 10: activity-aware training) act on the spike
rates of `ModelOutput.rates`:

- rate: a squared hinge per layer on the mean spike rate above `rate_target`;
- synops: the predicted synaptic operations per inference (spikes x fan-out,
  summed over layers, see `activity`) above `synops_budget`, as a fraction of
  the dense count (every neuron spiking at every step), so the weight does not
  depend on the net's size: weight 1 costs as much as one nat of CE when the
  net runs fully dense. A budget of 0 penalises every operation (an L1 penalty
  on spikes weighted by fan-out).
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F


class LossTerms(NamedTuple):
    total: torch.Tensor
    ce: torch.Tensor
    kl: torch.Tensor
    margin: torch.Tensor
    rate: torch.Tensor
    synops: torch.Tensor


def rate_penalty(rates: torch.Tensor, target: float) -> torch.Tensor:
    """Squared hinge on each layer's mean spike rate above `target`, summed over layers."""
    return (rates - target).clamp_min(0.0).pow(2).sum()


def synops_penalty(synops: torch.Tensor, budget: float, dense: float) -> torch.Tensor:
    """Predicted synaptic operations per inference above `budget`, over the dense count."""
    return (synops.sum() - budget).clamp_min(0.0) / max(dense, 1.0)


def margin_term(out) -> torch.Tensor:
    """The model's auxiliary margin term (`ModelOutput.margin_penalty`; older models call it
    `bias_penalty`)."""
    value = getattr(out, "margin_penalty", None)
    return out.bias_penalty if value is None else value


class Weights(NamedTuple):
    """The loss weights of one run (a `LossConfig` with the SG net's terms switched off)."""

    kl_weight: float = 1.0
    margin_lambda: float = 0.0
    rate_weight: float = 0.0
    rate_target: float = 0.0
    synops_weight: float = 0.0
    synops_budget: float = 0.0


def sbnn_loss(out, y: torch.Tensor, kl: torch.Tensor, n_data: int, w: Weights | None = None, *,
              synops: torch.Tensor | None = None, dense: float = 1.0, **weights) -> LossTerms:
    """Negative ELBO with the auxiliary terms; `out` is a `net_base.ModelOutput`, `synops`
    the predicted operations per inference of each layer (`activity.synops`); the
    weights come as `w` or as keywords (`kl_weight=0.01`)."""
    w = w if w is not None else Weights(**weights)
    ce = F.cross_entropy(out.logits, y)
    zero = ce.new_zeros(())
    kl_term = kl * (w.kl_weight / n_data)
    margin = margin_term(out) * w.margin_lambda if w.margin_lambda else zero
    rate = rate_penalty(out.rates, w.rate_target) * w.rate_weight if w.rate_weight else zero
    ops = zero
    if w.synops_weight and synops is not None:
        ops = synops_penalty(synops, w.synops_budget, dense) * w.synops_weight
    total = ce + kl_term + margin + rate + ops
    return LossTerms(total, ce.detach(), kl_term.detach(), margin.detach(), rate.detach(), ops.detach())
