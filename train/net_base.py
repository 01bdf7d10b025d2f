"""What every architecture of `snnc.train.models` shares: the output record, the `Net` base, and
the non-spiking readout with its weights over time (`readout_weights`, which the compiler reads
too)."""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from snnc.train.neurons import Firing, noise_std


class ModelOutput(NamedTuple):
    logits: torch.Tensor        # [B, n_classes]
    margin_penalty: torch.Tensor  # scalar: sum over layers of mean ((u - theta)/S)^2 (0 when deterministic)
    rates: torch.Tensor         # [n_spiking_layers] mean spike rate of each


READOUTS = ("mean", "leaky", "cuba")


def readout_weights(steps: int, kind: str = "mean", *, tau: float = 5.0,
                    alpha: float = 0.5) -> torch.Tensor:
    """Weights w_t, t = 0..T-1 (float32, summing to 1) of the readout's average over time.

    "mean": 1/T. "leaky": the last-step membrane of a non-spiking leaky
    integrator y_t = beta y_{t-1} + FC(s_t), beta = exp(-1/tau), normalised by
    sum_t beta^t: w_t = beta^(T-1-t) / sum. "cuba": the last-step membrane of
    y_t = y_{t-1} + i_t, i_t = alpha (i_{t-1} + FC(s_t)) (Xylo's output neurons
    with dash_syn_out = 1 for alpha = 1/2, no membrane decay):
    w_t = alpha (1 - alpha^(T-t)) / (1 - alpha) / sum. The FC bias is unchanged by
    any (the host adds it once). `tau` and `alpha` are model.readout_tau and
    model.readout_alpha; the compiler calls this function too.
    """
    if kind not in READOUTS:
        raise ValueError(f"readout must be one of {READOUTS}, got {kind!r}")
    if kind == "mean":
        return torch.full((steps,), 1.0 / steps)
    if kind == "cuba":
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"readout alpha must be in (0, 1), got {alpha!r}")
        # float64 then float32: the weights do not depend on how the sum was rounded
        lag = torch.arange(steps, 0, -1, dtype=torch.float64)  # T - t
        w = alpha * (1.0 - alpha ** lag) / (1.0 - alpha)
        return (w / w.sum()).float()
    w = torch.exp(-torch.arange(steps - 1, -1, -1, dtype=torch.float32) / tau)
    return w / w.sum()


def time_average(x_seq: torch.Tensor, kind: str, tau: float = 5.0, alpha: float = 0.5) -> torch.Tensor:
    """Weighted mean over the leading time axis of x [T, B, ...]."""
    if kind == "mean":
        return x_seq.mean(0)
    w = readout_weights(x_seq.shape[0], kind, tau=tau, alpha=alpha).to(x_seq)
    return torch.tensordot(w, x_seq, dims=1)


class Readout(nn.Module):
    """Non-spiking readout: logits = FC(weighted time-mean of x) = weighted mean of per-step
    logits; weight noise by local reparameterisation (none for a deterministic `fc`)."""

    def __init__(self, fc: nn.Module, fire: Firing | None, kind: str = "mean", tau: float = 5.0,
                 alpha: float = 0.5):
        super().__init__()
        readout_weights(1, kind, tau=tau, alpha=alpha)  # validates
        self.fc, self.fire, self.kind, self.tau, self.alpha = fc, fire, kind, tau, alpha

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        mu, var = self.fc(time_average(x_seq, self.kind, self.tau, self.alpha))
        if var is None or self.fire.deterministic:
            return mu
        return mu + noise_std(var) * torch.randn_like(mu)

    def extra_repr(self) -> str:
        return f"kind={self.kind}, tau={self.tau}, alpha={self.alpha}"


class Net(nn.Module):
    """Shared helpers of every architecture."""

    fire: Firing | None

    def _output(self, logits, margins, rates) -> ModelOutput:
        margins = [m for m in margins if m is not None]
        margin = torch.stack(margins).sum() if margins else logits.new_zeros(())
        return ModelOutput(logits, margin, torch.stack(rates))

    def input_layer(self) -> nn.Module:
        raise NotImplementedError

    def scale_input_layer(self, factor: float) -> None:
        """Scale the first layer's weights (and posterior and prior std): data-aware init."""
        self.input_layer().scale_(factor)


def readout_head(parts, in_features: int, n_classes: int, readout: tuple) -> Readout:
    return Readout(parts.linear(in_features, n_classes, hidden=False), parts.fire, *readout)
