"""Spike encodings of intensities in [0, 1] into T time steps.

Every encoder maps `intensity` of shape [...] to a float32 tensor [T, ...]:

- `rate`:    s_t ~ Bernoulli(p), p = intensity, drawn independently per step.
- `latency`: one spike at t = round((1 - p) (T - 1)); brighter fires earlier,
             p = 0 never fires.
- `direct`:  the analog intensity itself at every step (for 1-step binary nets).
"""
from __future__ import annotations

import torch

from snnc.errors import ConfigError


def rate(intensity: torch.Tensor, steps: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Bernoulli spikes with firing probability `intensity` at each of `steps` steps."""
    p = intensity.float().clamp(0.0, 1.0).expand(steps, *intensity.shape)
    return torch.bernoulli(p, generator=generator)


def latency(intensity: torch.Tensor, steps: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Time-to-first-spike code: a single spike whose time falls as intensity rises."""
    p = intensity.float().clamp(0.0, 1.0)
    t_spike = torch.round((1.0 - p) * (steps - 1)).long()
    t = torch.arange(steps).view(steps, *([1] * p.dim()))
    return ((t == t_spike) & (p > 0)).float()


def direct(intensity: torch.Tensor, steps: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """The analog intensity repeated at every step (no spikes: the first layer encodes)."""
    return intensity.float().expand(steps, *intensity.shape).clone()


ENCODERS = {"rate": rate, "latency": latency, "direct": direct}


def encoder(name: str):
    """The encoder called `name`; a one-line `ConfigError` for an unknown one."""
    if name not in ENCODERS:
        raise ConfigError(f"unknown encoding '{name}'; choose one of {', '.join(ENCODERS)}")
    return ENCODERS[name]
