"""Surrogate-gradient (SG) baseline on snnTorch: the same architectures, deterministic.

Neurons are `snntorch.Leaky` / `snntorch.RLeaky` (threshold theta, subtract or
zero reset, snnTorch's detached reset) with a Gaussian-pdf surrogate of width
`width` (the authors' SG baseline: forward Heaviside, backward
`phi(x/width)/width`) built with `snntorch.surrogate.custom_surrogate`; binary
units are that surrogate applied to `mu - theta`. Layers are plain
`nn.Linear`/`nn.Conv2d` with the same mean init as the SBNN; the resnet keeps
the per-channel per-step scale/bias, or replaces it with BatchNorm
(`batchnorm=True`). Models return `models.ModelOutput` (bias penalty 0).

Of the chip options the SG twin follows `beta`, `bias` and the readout kinds;
snnTorch's Leaky has no synaptic current and no multi-spike output, so
`syn_beta > 0` or `max_spikes > 1` is a one-line `ConfigError`.
"""
from __future__ import annotations

import math

import snntorch as snn
import torch
from snntorch import surrogate
from torch import nn

from snnc.errors import ConfigError
from snnc.train.models import ModelOutput, StepAffine, shortcut, time_average
from snnc.train.neurons import resolve_beta


def gaussian_surrogate(width: float = 0.4):
    """snnTorch spike function: Heaviside forward, Gaussian pdf of std `width` backward."""
    scale = 1.0 / (math.sqrt(2.0 * math.pi) * width)

    def grad_fn(input_, grad_input, spikes):
        return grad_input * scale * torch.exp(-0.5 * (input_ / width) ** 2)

    return surrogate.custom_surrogate(grad_fn)


def _init_weight(weight: torch.Tensor, init: str) -> None:
    fan_in = weight[0].numel()
    if init == "authors":
        nn.init.uniform_(weight, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))
    else:
        nn.init.normal_(weight, 0.0, math.sqrt(2.0 / fan_in))


class SGNeuron(nn.Module):
    """Runs a snnTorch Leaky (or a stateless binary unit) over a sequence [T, ...]."""

    def __init__(self, kind: str, spike_grad, *, tau_mem: float, theta: float, reset: str,
                 beta: float | None = None):
        super().__init__()
        self.kind, self.theta, self.spike_grad = kind, theta, spike_grad
        if kind == "lif":
            self.lif = snn.Leaky(beta=resolve_beta(tau_mem, beta), threshold=theta,
                                 spike_grad=spike_grad,
                                 reset_mechanism="subtract" if reset == "soft" else "zero")

    def forward(self, cur: torch.Tensor) -> torch.Tensor:
        if self.kind == "binary":
            return self.spike_grad(cur - self.theta)
        mem, out = torch.zeros_like(cur[0]), []
        for cur_t in cur.unbind(0):  # unbind: cur[t]'s backward would fill a [T, ...] tensor per step
            spk, mem = self.lif(cur_t, mem)
            out.append(spk)
        return torch.stack(out)


class SGRecurrent(nn.Module):
    """snnTorch RLeaky with all-to-all recurrent weights over a sequence [T, B, n]."""

    def __init__(self, n: int, spike_grad, *, tau_mem: float, theta: float, reset: str, init: str,
                 beta: float | None = None):
        super().__init__()
        self.rlif = snn.RLeaky(beta=resolve_beta(tau_mem, beta), linear_features=n, all_to_all=True,
                               threshold=theta, spike_grad=spike_grad,
                               reset_mechanism="subtract" if reset == "soft" else "zero")
        _init_weight(self.rlif.recurrent.weight, init)

    def forward(self, cur: torch.Tensor) -> torch.Tensor:
        spk, mem, out = torch.zeros_like(cur[0]), torch.zeros_like(cur[0]), []
        for cur_t in cur.unbind(0):
            spk, mem = self.rlif(cur_t, spk, mem)
            out.append(spk)
        return torch.stack(out)


class _SGNet(nn.Module):
    def input_layer(self) -> nn.Module:
        raise NotImplementedError

    def scale_input_layer(self, factor: float) -> None:
        with torch.no_grad():
            self.input_layer().weight.mul_(factor)


class SGMLP(_SGNet):
    """Dense SG net (`recurrent=True`: the SHD-style srnn), time-mean linear readout."""

    def __init__(self, in_features, hidden, n_classes, *, neuron="lif", recurrent=False,
                 tau_mem=10.0, theta=1.0, reset="soft", init="noise_aware", width=0.4,
                 readout="mean", readout_tau=5.0, readout_alpha=0.5, beta=None, bias=True):
        super().__init__()
        grad = gaussian_surrogate(width)
        self.readout_kind, self.readout_tau, self.readout_alpha = readout, readout_tau, readout_alpha
        sizes = [in_features] + list(hidden)
        self.fcs = nn.ModuleList(nn.Linear(a, b, bias=bias) for a, b in zip(sizes, sizes[1:]))
        for fc in self.fcs:
            _init_weight(fc.weight, init)
            if bias:
                nn.init.zeros_(fc.bias)
        nkw = dict(tau_mem=tau_mem, theta=theta, reset=reset, beta=beta)
        if recurrent:
            self.neurons = nn.ModuleList(SGRecurrent(n, grad, init=init, **nkw) for n in hidden)
        else:
            self.neurons = nn.ModuleList(SGNeuron(neuron, grad, **nkw) for _ in hidden)
        self.readout = nn.Linear(sizes[-1], n_classes)
        _init_weight(self.readout.weight, init)

    def input_layer(self):
        return self.fcs[0]

    def forward(self, x: torch.Tensor) -> ModelOutput:
        h = x.flatten(2).transpose(0, 1)
        rates = []
        for fc, neuron in zip(self.fcs, self.neurons):
            h = neuron(fc(h))
            rates.append(h.mean())
        logits = self.readout(time_average(h, self.readout_kind, self.readout_tau, self.readout_alpha))
        return ModelOutput(logits, logits.new_zeros(()), torch.stack(rates))


class SGConvUnit(nn.Module):
    """conv -> (per-step scale/bias | BatchNorm) -> neuron over [T, B, C, H, W]."""

    def __init__(self, cin, cout, stride, steps, neuron: SGNeuron, *, batchnorm: bool, init: str):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        _init_weight(self.conv.weight, init)
        self.norm = nn.BatchNorm2d(cout) if batchnorm else StepAffine(steps, cout)
        self.neuron = neuron

    def forward(self, x, rates: list):
        T, B = x.shape[:2]
        cur = self.conv(x.flatten(0, 1))
        if isinstance(self.norm, nn.BatchNorm2d):
            cur = self.norm(cur).unflatten(0, (T, B))
        else:
            cur, _ = self.norm(cur.unflatten(0, (T, B)))
        s = self.neuron(cur)
        rates.append(s.mean())
        return s


class SGResBlock(nn.Module):
    def __init__(self, cin, cout, stride, steps, neuron_fn, **kw):
        super().__init__()
        self.cout, self.stride = cout, stride
        self.unit1 = SGConvUnit(cin, cout, stride, steps, neuron_fn(), **kw)
        self.unit2 = SGConvUnit(cout, cout, 1, steps, neuron_fn(), **kw)

    def forward(self, x, rates):
        return self.unit2(self.unit1(x, rates), rates) + shortcut(x, self.cout, self.stride)


class SGResNet(_SGNet):
    """The SBNN resnet's SG twin: spike-count shortcuts, no normalisation unless asked."""

    def __init__(self, image_shape, widths, blocks, n_classes, steps, *, neuron="binary",
                 tau_mem=10.0, theta=0.0, reset="soft", init="noise_aware", width=0.4,
                 batchnorm=False, readout="mean", readout_tau=5.0, readout_alpha=0.5, beta=None):
        super().__init__()
        grad = gaussian_surrogate(width)
        self.image_shape = tuple(image_shape)
        self.readout_kind, self.readout_tau, self.readout_alpha = readout, readout_tau, readout_alpha

        def neuron_fn():
            return SGNeuron(neuron, grad, tau_mem=tau_mem, theta=theta, reset=reset, beta=beta)

        kw = dict(batchnorm=batchnorm, init=init)
        self.stem = SGConvUnit(image_shape[0], widths[0], 1, steps, neuron_fn(), **kw)
        layers, cin = [], widths[0]
        for i, (w, n) in enumerate(zip(widths, blocks)):
            for j in range(n):
                layers.append(SGResBlock(cin, w, 2 if (i > 0 and j == 0) else 1, steps, neuron_fn, **kw))
                cin = w
        self.blocks = nn.ModuleList(layers)
        self.readout = nn.Linear(cin, n_classes)
        _init_weight(self.readout.weight, init)

    def input_layer(self):
        return self.stem.conv

    def forward(self, x: torch.Tensor) -> ModelOutput:
        B, T = x.shape[:2]
        h = x.reshape(B, T, *self.image_shape).transpose(0, 1)
        rates: list = []
        h = self.stem(h, rates)
        for block in self.blocks:
            h = block(h, rates)
        logits = self.readout(time_average(h.mean((3, 4)), self.readout_kind, self.readout_tau,
                                           self.readout_alpha))
        return ModelOutput(logits, logits.new_zeros(()), torch.stack(rates))


def build_sg_model(model_cfg, in_shape, n_classes: int, *, width: float = 0.4,
                   batchnorm: bool = False) -> nn.Module:
    """The SG twin of `models.build_model` for the same `ModelConfig`."""
    m = model_cfg
    if m.syn_beta > 0:
        raise ConfigError("model.syn_beta: the SG baseline (snnTorch Leaky) has no synaptic current")
    if m.max_spikes > 1:
        raise ConfigError("model.max_spikes: the SG baseline (snnTorch Leaky) fires one spike per step")
    common = dict(tau_mem=m.tau_mem, theta=m.theta, reset=m.reset, init=m.init, width=width,
                  readout=m.readout, readout_tau=m.readout_tau, readout_alpha=m.readout_alpha,
                  beta=m.beta)
    if m.name in ("mlp", "srnn"):
        return SGMLP(math.prod(in_shape[1:]), list(m.hidden), n_classes, neuron=m.neuron,
                     recurrent=m.name == "srnn", bias=m.bias, **common)
    image = tuple(m.image_shape) if m.image_shape else tuple(in_shape[1:])
    return SGResNet(image, list(m.widths), list(m.blocks), n_classes, in_shape[0],
                    neuron=m.neuron, batchnorm=batchnorm, **common)
