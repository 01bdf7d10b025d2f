"""SBNN models: `mlp` (binary or spiking), `srnn` (recurrent LIF, SHD style) and
`resnet` (normalisation-free residual conv net with spike-count shortcuts).

Every model maps x [B, T, ...] to a `ModelOutput`: logits [B, n_classes] from a
non-spiking readout (a Bayesian linear layer applied to the time-mean of the
last spikes: by linearity the time-mean of per-step logits; `readout="leaky"`
weights late steps more, as the final membrane of a leaky integrator, and
`readout="cuba"` as the final membrane of Xylo's output neurons: see
`readout_weights`, the one definition of these weights), the auxiliary bias
term (sum over spiking layers of the mean of ((u - theta)/S)^2: the per-neuron
scaling of the authors' `sum_neurons (mu/S)^2`), and each spiking layer's mean
spike rate (a tensor with gradients, for the rate regulariser).

Noise-aware init (`init="noise_aware"`): Kaiming-normal means (std
`gain/sqrt(fan_in)`) and posterior std `gain/(snr sqrt(fan_in))`, so the
pre-activation signal-to-noise ratio `std(W x)/S = std(w)/sigma = snr` starts
well above 1 in every layer whatever the input statistics. `init="authors"`
is U(+-1/sqrt(fan_in)) with sigma `0.5/sqrt(fan_in)` (SNR ~1.15).

Chip options of a `ModelConfig`: `beta`, `syn_beta`, `max_spikes` (the LIF
neuron, see `neurons`), `bias = false` (hidden layers without bias: a chip's
per-layer delay would make a constant bias act during extra steps; the readout
keeps its bias, added once by the host) and `readout_alpha` (the cuba readout).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from snnc.train.bayes import BayesConv2d, BayesLinear
from snnc.train.neurons import (BinaryNeuron, Firing, LIFNeuron, RecurrentLIF, noise_std,
                                run_neuron)

MODELS = ("mlp", "srnn", "resnet")
NEURONS = ("lif", "binary")
INITS = ("noise_aware", "authors")


class ModelOutput(NamedTuple):
    logits: torch.Tensor        # [B, n_classes]
    bias_penalty: torch.Tensor  # scalar: sum over layers of mean ((u - theta)/S)^2 (0 when deterministic)
    rates: torch.Tensor         # [n_spiking_layers] mean spike rate of each


def bayes_kwargs(init: str, snr: float, posterior: str, prior_scale: float) -> dict:
    """Keyword arguments of the Bayesian layers for an init scheme."""
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    if init == "authors":
        return dict(weight_init="uniform", weight_gain=1.0, sigma_init=0.5,
                    posterior=posterior, prior_scale=prior_scale)
    gain = math.sqrt(2.0)
    return dict(weight_init="kaiming", weight_gain=gain, sigma_init=gain / snr,
                posterior=posterior, prior_scale=prior_scale)


def make_neuron(kind: str, fire: Firing, *, tau_mem: float, theta: float, reset: str,
                beta: float | None = None, syn_beta: float = 0.0, max_spikes: int = 1):
    if kind not in NEURONS:
        raise ValueError(f"neuron must be one of {NEURONS}, got {kind!r}")
    if kind == "binary":
        return BinaryNeuron(fire, theta)
    return LIFNeuron(fire, tau_mem=tau_mem, theta=theta, reset=reset, beta=beta,
                     syn_beta=syn_beta, max_spikes=max_spikes)


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
    logits; weight noise by local reparameterisation."""

    def __init__(self, in_features: int, n_classes: int, fire: Firing, kind: str = "mean",
                 tau: float = 5.0, alpha: float = 0.5, **bkw):
        super().__init__()
        readout_weights(1, kind, tau=tau, alpha=alpha)  # validates
        self.fc = BayesLinear(in_features, n_classes, **bkw)
        self.fire, self.kind, self.tau, self.alpha = fire, kind, tau, alpha

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        mu, var = self.fc(time_average(x_seq, self.kind, self.tau, self.alpha))
        if self.fire.deterministic:
            return mu
        return mu + noise_std(var) * torch.randn_like(mu)

    def extra_repr(self) -> str:
        return f"kind={self.kind}, tau={self.tau}, alpha={self.alpha}"


class _SBNN(nn.Module):
    """Shared helpers: the list of Bayesian layers and the probe of one forward pass."""

    def _output(self, logits, biases, rates) -> ModelOutput:
        biases = [b for b in biases if b is not None]
        bias = torch.stack(biases).sum() if biases else logits.new_zeros(())
        return ModelOutput(logits, bias, torch.stack(rates))

    def input_layer(self) -> nn.Module:
        raise NotImplementedError

    def scale_input_layer(self, factor: float) -> None:
        """Scale the first layer's weights and posterior std (data-aware init)."""
        layer = self.input_layer()
        with torch.no_grad():
            layer.weight.mul_(factor)
            sigma = layer.posterior_std * factor
            layer.rho.copy_(sigma + torch.log(-torch.expm1(-sigma)))
        layer.prior_std *= factor


class MLP(_SBNN):
    """Dense SBNN: [Bayesian linear -> neuron] x len(hidden) -> readout.

    `recurrent=True` gives the SHD-style net (`srnn`): each hidden layer is a
    recurrent LIF layer.
    """

    def __init__(self, in_features: int, hidden: list[int], n_classes: int, *, fire: Firing,
                 neuron: str = "lif", recurrent: bool = False, tau_mem: float = 10.0,
                 theta: float = 1.0, reset: str = "soft", init: str = "noise_aware",
                 snr: float = 4.0, posterior: str = "layer", prior_scale: float = 1.0,
                 readout: str = "mean", readout_tau: float = 5.0, readout_alpha: float = 0.5,
                 beta: float | None = None, syn_beta: float = 0.0, max_spikes: int = 1,
                 bias: bool = True):
        super().__init__()
        if recurrent and neuron != "lif":
            raise ValueError("a recurrent net needs neuron = 'lif'")
        bkw = bayes_kwargs(init, snr, posterior, prior_scale)
        self.fire, self.recurrent = fire, recurrent
        sizes = [in_features] + list(hidden)
        self.fcs = nn.ModuleList(BayesLinear(a, b, bias=bias, **bkw) for a, b in zip(sizes, sizes[1:]))
        nkw = dict(tau_mem=tau_mem, theta=theta, reset=reset, beta=beta, syn_beta=syn_beta,
                   max_spikes=max_spikes)
        if recurrent:
            self.neurons = nn.ModuleList(RecurrentLIF(n, make_neuron("lif", fire, **nkw), **bkw)
                                         for n in hidden)
        else:
            self.neurons = nn.ModuleList(make_neuron(neuron, fire, **nkw) for _ in hidden)
        self.readout = Readout(sizes[-1], n_classes, fire, readout, readout_tau, readout_alpha, **bkw)

    def input_layer(self):
        return self.fcs[0]

    def forward(self, x: torch.Tensor) -> ModelOutput:
        h = x.flatten(2).transpose(0, 1)  # [T, B, C]
        biases, rates = [], []
        for fc, neuron in zip(self.fcs, self.neurons):
            mu, var = fc(h)  # every step at once; only the neuron loops over time
            h, bias = neuron.run(mu, var) if self.recurrent else run_neuron(neuron, mu, var)
            biases.append(bias)
            rates.append(h.mean())
        return self._output(self.readout(h), biases, rates)


class StepAffine(nn.Module):
    """Per-channel, per-time-step scale (init 1) and bias (init 0): the normalisation-free
    replacement of BatchNorm. Acts on mu; the variance scales by scale^2."""

    def __init__(self, steps: int, channels: int):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(steps, channels))
        self.bias = nn.Parameter(torch.zeros(steps, channels))

    def forward(self, mu: torch.Tensor, var: torch.Tensor | None = None):
        """mu, var: [T, B, C, H, W] (var may have C = 1, or be None)."""
        scale = self.scale[: mu.shape[0], None, :, None, None]
        mu = mu * scale + self.bias[: mu.shape[0], None, :, None, None]
        return mu, (None if var is None else var * scale ** 2)


class ConvUnit(nn.Module):
    """Bayesian conv -> per-step affine -> neuron, over a sequence [T, B, C, H, W]."""

    def __init__(self, cin: int, cout: int, stride: int, steps: int, neuron: nn.Module, bkw: dict):
        super().__init__()
        self.conv = BayesConv2d(cin, cout, 3, stride=stride, padding=1, bias=False, **bkw)
        self.affine = StepAffine(steps, cout)
        self.neuron = neuron

    def forward(self, x: torch.Tensor, probe: list):
        T, B = x.shape[:2]
        mu, var = self.conv(x.flatten(0, 1))
        mu, var = self.affine(mu.unflatten(0, (T, B)), var.unflatten(0, (T, B)))
        s, bias = run_neuron(self.neuron, mu, var)
        probe.append((bias, s.mean()))
        return s


def shortcut(x: torch.Tensor, cout: int, stride: int) -> torch.Tensor:
    """Identity, or 2x2 average pool + zero-padded channels when the block downsamples."""
    if stride == 1 and x.shape[2] == cout:
        return x
    T, B = x.shape[:2]
    y = x.flatten(0, 1)
    if stride != 1:
        y = F.avg_pool2d(y, stride, ceil_mode=True)
    y = F.pad(y, (0, 0, 0, 0, 0, cout - y.shape[1]))
    return y.unflatten(0, (T, B))


class ResBlock(nn.Module):
    """Two conv units; the block input's spike counts are added to the output spikes."""

    def __init__(self, cin: int, cout: int, stride: int, steps: int, neuron_fn, bkw: dict):
        super().__init__()
        self.cout, self.stride = cout, stride
        self.unit1 = ConvUnit(cin, cout, stride, steps, neuron_fn(), bkw)
        self.unit2 = ConvUnit(cout, cout, 1, steps, neuron_fn(), bkw)

    def forward(self, x, probe):
        return self.unit2(self.unit1(x, probe), probe) + shortcut(x, self.cout, self.stride)


class ResNet(_SBNN):
    """Normalisation-free residual SBNN: stem conv unit, stages of residual blocks, readout.

    Conv layers: 1 + 2 * sum(blocks). Activations between blocks are small
    integer spike counts. Input x [B, T, C, H, W] (or [B, T, C*H*W] with `image_shape`).
    """

    def __init__(self, image_shape: tuple[int, int, int], widths: list[int], blocks: list[int],
                 n_classes: int, steps: int, *, fire: Firing, neuron: str = "binary",
                 tau_mem: float = 10.0, theta: float = 0.0, reset: str = "soft",
                 init: str = "noise_aware", snr: float = 4.0, posterior: str = "layer",
                 prior_scale: float = 1.0, readout: str = "mean", readout_tau: float = 5.0,
                 readout_alpha: float = 0.5, beta: float | None = None, syn_beta: float = 0.0,
                 max_spikes: int = 1):
        super().__init__()
        bkw = bayes_kwargs(init, snr, posterior, prior_scale)
        self.image_shape, self.fire = tuple(image_shape), fire
        nkw = dict(tau_mem=tau_mem, theta=theta, reset=reset, beta=beta, syn_beta=syn_beta,
                   max_spikes=max_spikes)

        def neuron_fn():
            return make_neuron(neuron, fire, **nkw)

        self.stem = ConvUnit(image_shape[0], widths[0], 1, steps, neuron_fn(), bkw)
        layers, cin = [], widths[0]
        for i, (width, n) in enumerate(zip(widths, blocks)):
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                layers.append(ResBlock(cin, width, stride, steps, neuron_fn, bkw))
                cin = width
        self.blocks = nn.ModuleList(layers)
        self.readout = Readout(cin, n_classes, fire, readout, readout_tau, readout_alpha, **bkw)

    @property
    def n_conv_layers(self) -> int:
        return 1 + 2 * len(self.blocks)

    def input_layer(self):
        return self.stem.conv

    def forward(self, x: torch.Tensor) -> ModelOutput:
        B, T = x.shape[:2]
        h = x.reshape(B, T, *self.image_shape).transpose(0, 1)  # [T, B, C, H, W]
        probe: list = []
        h = self.stem(h, probe)
        for block in self.blocks:
            h = block(h, probe)
        logits = self.readout(h.mean((3, 4)))
        return self._output(logits, [b for b, _ in probe], [r for _, r in probe])


def build_model(model_cfg, in_shape: tuple[int, ...], n_classes: int, fire: Firing) -> _SBNN:
    """The SBNN described by a `ModelConfig` for samples of shape `in_shape` = [T, ...]."""
    m = model_cfg
    common = dict(fire=fire, tau_mem=m.tau_mem, theta=m.theta, reset=m.reset, init=m.init,
                  snr=m.snr, posterior=m.posterior, prior_scale=m.prior_scale,
                  readout=m.readout, readout_tau=m.readout_tau, readout_alpha=m.readout_alpha,
                  beta=m.beta, syn_beta=m.syn_beta, max_spikes=m.max_spikes)
    steps, features = in_shape[0], math.prod(in_shape[1:])
    if m.name in ("mlp", "srnn"):
        return MLP(features, list(m.hidden), n_classes, neuron=m.neuron,
                   recurrent=m.name == "srnn", bias=m.bias, **common)
    if m.name == "resnet":
        image = tuple(m.image_shape) if m.image_shape else tuple(in_shape[1:])
        return ResNet(image, list(m.widths), list(m.blocks), n_classes, steps,
                      neuron=m.neuron, **common)
    raise ValueError(f"model must be one of {MODELS}, got {m.name!r}")


def set_deterministic(model: nn.Module, flag: bool) -> bool:
    """Switch every noisy unit of `model` (eps = 0 when True); returns the old flag."""
    model = getattr(model, "module", model)  # DDP wrapper
    old = model.fire.deterministic
    model.fire.deterministic = flag
    return old
