"""Training objective of an SBNN: negative ELBO plus auxiliary terms.

    loss = CE(logits, y)                          expected NLL, one sample per example
         + kl_weight * KL(q(W) || p(W)) / N_data  ELBO's KL, scaled per example
         + bias_lambda * bias_penalty             sum_layers mean ((u - theta)/S)^2
         + rate_weight * sum_layers relu(rate_l - rate_target)^2

The bias penalty is the authors' `lambda sum_t mean_batch sum_neurons (mu/S)^2`
taken as a mean over neurons and steps (so one lambda fits nets of any width
and duration): small |u - theta|/S keeps the units in the regime where the
estimators are least biased.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F


class LossTerms(NamedTuple):
    total: torch.Tensor
    ce: torch.Tensor
    kl: torch.Tensor
    bias: torch.Tensor
    rate: torch.Tensor


def rate_penalty(rates: torch.Tensor, target: float) -> torch.Tensor:
    """Squared hinge on each layer's mean spike rate above `target`, summed over layers."""
    return (rates - target).clamp_min(0.0).pow(2).sum()


def sbnn_loss(out, y: torch.Tensor, kl: torch.Tensor, n_data: int, *, kl_weight: float = 1.0,
              bias_lambda: float = 0.0, rate_weight: float = 0.0,
              rate_target: float = 0.0) -> LossTerms:
    """Negative ELBO with the auxiliary terms; `out` is a `models.ModelOutput`."""
    ce = F.cross_entropy(out.logits, y)
    kl_term = kl * (kl_weight / n_data)
    bias = out.bias_penalty * bias_lambda
    rate = rate_penalty(out.rates, rate_target) * rate_weight if rate_weight else ce.new_zeros(())
    return LossTerms(ce + kl_term + bias + rate, ce.detach(), kl_term.detach(), bias.detach(),
                     rate.detach())
