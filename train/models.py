"""One architecture definition for the SBNN and its surrogate-gradient (SG) twin:
`mlp` (binary or spiking), `srnn` (recurrent LIF, SHD style) and `resnet`
(normalisation-free residual conv net with spike-count shortcuts).

An architecture asks a *parts* factory for its layers, neurons and per-step
affines: `SBNNParts` (here: Bayesian layers returning (mu, var), noisy neurons
of `neurons`) or `sg.SGParts` (plain layers returning (x, None), snnTorch
neurons with a Gaussian surrogate). Both build the same modules under the same
names, so an SBNN and its SG twin have the same parameter names and shapes
(apart from the posterior's `rho` / `bias_rho` and `prior_std`), and every neuron
runs through the one time loop `neurons.run_neuron`.

Every model maps x [B, T, ...] to a `ModelOutput`: logits [B, n_classes] from a
non-spiking readout (a linear layer applied to the time-mean of the last
spikes: by linearity the time-mean of per-step logits; `readout="leaky"`
weights late steps more, as the final membrane of a leaky integrator, and
`readout="cuba"` as the final membrane of Xylo's output neurons: see
`net_base.readout_weights`, the one definition of these weights), the auxiliary margin
penalty (sum over spiking layers of the mean of ((u - theta)/S)^2: the per-neuron
scaling of the authors' `sum_neurons (mu/S)^2`; 0 for SG nets), and each
spiking layer's mean spike rate (a tensor with gradients, for the rate regulariser).

Noise-aware init (`init="noise_aware"`): Kaiming-normal means (std
`gain/sqrt(fan_in)`) and posterior std `gain/(snr sqrt(fan_in))`, so the
pre-activation signal-to-noise ratio `std(W x)/S = std(w)/sigma = snr` starts
well above 1 in every layer whatever the input statistics. `init="authors"`
is U(+-1/sqrt(fan_in)) with sigma `0.5/sqrt(fan_in)` (SNR ~1.15).

Per-step affine of the hidden currents (`model.affine`, `AFFINES`):

- "none": no affine (mlp/srnn before this option; the chip configs).
- "step": `StepAffine`, a free scale[t, c] (init 1) and bias[t, c] (init 0): the
  authors' normalisation-free replacement of BatchNorm (their resnets, and their
  SHD net, where it scales `W x + R s` per step and neuron). Not compilable: a
  scale <= 0 flips the threshold inequality and a gain that changes with t has
  no static integer form.
- "channel_positive": `ChannelAffine`, scale[c] = softplus(p[c]) > 0 (init 1)
  and bias[c] (only with `model.bias = true`; always in a resnet), constant over
  time: `fold_channel_affine` moves it into the layer,
  `(W x + R s + b) a + c = (a W) x + (a R) s + (a b + c)`, so it has a static
  integer form and the threshold inequality keeps its direction.

Which configs compile: the compiler (`compiler/frontend/checkpoint.py`) reads
SBNN `mlp` and `srnn` checkpoints with `affine = "none"` or `"channel_positive"`
(folded): configs/digits_loihi.toml and configs/digits_seq_xylo.toml (the
deployment configs), and digits_sbnn / digits_seq_sbnn on targets whose rules
they meet (digits_binary: `edge-int8` only, analog input). It refuses
`affine = "step"` (shd_sbnn), every `resnet` (digits_resnet, dvs_sbnn,
cifar10_sbnn: no conv, pool or residual-add lowering yet) and every SG checkpoint.

Other options of a `ModelConfig`: `beta`, `syn_beta`, `max_spikes` (the LIF
neuron, see `neurons`), `bias = false` (hidden layers without bias: a chip's
per-layer delay would make a constant bias act during extra steps; the readout
keeps its bias, added once by the host), `readout_alpha` (the cuba readout),
`self_connections = false` (srnn: the recurrent weight's diagonal is masked to
zero, the authors' `recurrent_weights * masks`), `bias_noise` (initial std of the
learnable bias noise of every hidden layer, the authors' `scales_biases`; see
`bayes`; 0: off).

Parameter names (the compiler reads the first three): `fcs.{i}.weight/bias`,
`neurons.{i}.rec.weight` (srnn), `readout.fc.weight/bias`; affines
`affines.{i}.*` (mlp), `neurons.{i}.affine.*` (srnn), `stem.affine.*` and
`blocks.{j}.unit{1,2}.affine.*` (resnet), holding `scale`/`bias` [T, C] ("step"),
`scale_param`/`bias` [C] ("channel_positive") or `bn.{t}.*` (SG BatchNorm);
convs `stem.conv.weight`, `blocks.{j}.unit{1,2}.conv.weight`. SBNN layers add
`rho`, `bias_rho` (bias noise) and the `prior_std` buffer.

Old checkpoints: a stored config that lacks a key added after format
"snnc.train/2" gets the value that reproduces what the code computed before the
key existed (`LEGACY_MODEL_KEYS`, `stored_config`), never the current dataclass
default, so changing a default does not change an old checkpoint.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from snnc.train.bayes import BayesConv2d, BayesLinear
from snnc.train.net_base import ModelOutput, Net, readout_head
from snnc.train.neurons import BinaryNeuron, Firing, LIFNeuron, Recurrent, run_neuron
from snnc.train.resnet import ResNet

MODELS = ("mlp", "srnn", "resnet")
NEURONS = ("lif", "binary")
INITS = ("noise_aware", "authors")
AFFINES = ("none", "step", "channel_positive")

# Values of model keys that old stored configs lack: what the code computed before the
# key existed. Fixed forever (a default may change; these may not).
LEGACY_MODEL_KEYS = {
    "affine": lambda m: "step" if m.get("name") == "resnet" else "none",
    "self_connections": lambda m: True,
    "bias_noise": lambda m: 0.0,
    "kernel_size": lambda m: 3,          # resnet convs were 3x3, padding 1
    "downsample": lambda m: 2,
    "shortcut": lambda m: "avgpool_pad",
}


def stored_config(raw: dict) -> dict:
    """A checkpoint's stored config with every model key it lacks set to its legacy value."""
    if not isinstance(raw.get("model", {}), dict):
        return raw  # from_dict names the problem
    model = dict(raw.get("model", {}))
    for key, legacy in LEGACY_MODEL_KEYS.items():
        if key not in model:
            model[key] = legacy(model)
    return {**raw, "model": model}


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


def neuron_kwargs(m) -> dict:
    """The LIF constants of a `ModelConfig`."""
    return dict(tau_mem=m.tau_mem, theta=m.theta, reset=m.reset, beta=m.beta,
                syn_beta=m.syn_beta, max_spikes=m.max_spikes)


def make_neuron(kind: str, fire: Firing, *, tau_mem: float, theta: float, reset: str,
                beta: float | None = None, syn_beta: float = 0.0, max_spikes: int = 1):
    if kind not in NEURONS:
        raise ValueError(f"neuron must be one of {NEURONS}, got {kind!r}")
    if kind == "binary":
        return BinaryNeuron(fire, theta)
    return LIFNeuron(fire, tau_mem=tau_mem, theta=theta, reset=reset, beta=beta,
                     syn_beta=syn_beta, max_spikes=max_spikes)


def _per_channel(p: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
    """Parameters p [..., C] shaped to broadcast over mu [..., B, C, *spatial] (p's leading
    axes are mu's leading axes: [T, C] over [T, B, C, ...], [C] over [B, C, ...])."""
    return p.view(*p.shape[:-1], 1, p.shape[-1], *([1] * (mu.dim() - p.dim() - 1)))


class StepAffine(nn.Module):
    """Per-channel, per-time-step scale (init 1) and bias (init 0): the normalisation-free
    replacement of BatchNorm. Acts on mu; the variance scales by scale^2. Not compilable
    (a scale <= 0 or varying over t has no static integer form)."""

    def __init__(self, steps: int, channels: int):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(steps, channels))
        self.bias = nn.Parameter(torch.zeros(steps, channels))

    def forward(self, mu: torch.Tensor, var: torch.Tensor | None = None):
        """mu, var: [T, B, C, ...] (var may have C = 1, or be None)."""
        T = mu.shape[0]
        scale = _per_channel(self.scale[:T], mu)
        mu = mu * scale + _per_channel(self.bias[:T], mu)
        return mu, (None if var is None else var * scale ** 2)

    def stepper(self):
        """(t, mu [B, C, ...], var) -> the affine of step t (inside a recurrent loop)."""
        scales, biases, gains2 = self.scale.unbind(0), self.bias.unbind(0), (self.scale ** 2).unbind(0)

        def at(t, mu, var):
            mu = mu * _per_channel(scales[t], mu) + _per_channel(biases[t], mu)
            return mu, (None if var is None else var * _per_channel(gains2[t], var))

        return at


class ChannelAffine(nn.Module):
    """Per-channel positive scale softplus(scale_param[c]) (init 1) and bias[c] (init 0; none
    when `bias` is False), the same at every step: the compilable affine
    (`fold_channel_affine` moves it into the layer's weights and bias)."""

    def __init__(self, steps: int, channels: int, bias: bool = True):
        super().__init__()
        self.scale_param = nn.Parameter(torch.full((channels,), math.log(math.e - 1.0)))
        self.bias = nn.Parameter(torch.zeros(channels)) if bias else None

    @property
    def scale(self) -> torch.Tensor:
        return F.softplus(self.scale_param)

    def forward(self, mu: torch.Tensor, var: torch.Tensor | None = None):
        """mu, var: [T, B, C, ...] (var may have C = 1, or be None)."""
        return self._affine(mu, var, mu.dim() - 3, self.scale, self.scale ** 2)

    def stepper(self):
        """(t, mu [B, C, ...], var) -> the affine (the same at every step t)."""
        scale = self.scale
        gain2 = scale ** 2
        return lambda t, mu, var: self._affine(mu, var, mu.dim() - 2, scale, gain2)

    def _affine(self, mu, var, spatial: int, scale, gain2):
        shape = (-1,) + (1,) * spatial  # [C, 1, ...]: broadcasts over the trailing axes
        mu = mu * scale.view(shape)
        if self.bias is not None:
            mu = mu + self.bias.view(shape)
        return mu, (None if var is None else var * gain2.view(shape))


def make_affine(kind: str, steps: int, channels: int, bias: bool = True) -> nn.Module | None:
    """The affine of `model.affine`; `bias` (model.bias) applies to "channel_positive"."""
    if kind not in AFFINES:
        raise ValueError(f"affine must be one of {AFFINES}, got {kind!r}")
    if kind == "none":
        return None
    return StepAffine(steps, channels) if kind == "step" else ChannelAffine(steps, channels, bias)


def fold_channel_affine(state: dict, model_cfg) -> dict:
    """An mlp/srnn state dict with its "channel_positive" affines folded into the layers:
    (W x + R s + b) a + c = (a W) x + (a R) s + (a b + c), the affine-free net with the
    same currents (up to float rounding). Other states are returned as they are."""
    m = model_cfg
    if getattr(m, "affine", "none") != "channel_positive" or m.name not in ("mlp", "srnn"):
        return state
    out = dict(state)
    for i in range(len(m.hidden)):
        prefix = f"neurons.{i}.affine." if m.name == "srnn" else f"affines.{i}."
        gain = F.softplus(out.pop(prefix + "scale_param"))[:, None]
        shift = out.pop(prefix + "bias", None)
        out[f"fcs.{i}.weight"] = gain * out[f"fcs.{i}.weight"]
        if m.name == "srnn":
            out[f"neurons.{i}.rec.weight"] = gain * out[f"neurons.{i}.rec.weight"]
        bias = out.get(f"fcs.{i}.bias")
        if bias is not None:
            out[f"fcs.{i}.bias"] = gain[:, 0] * bias + (0.0 if shift is None else shift)
        elif shift is not None:
            out[f"fcs.{i}.bias"] = shift.clone()
    return out


class SBNNParts:
    """The SBNN's layers and neurons: Bayesian layers (mu, var), noisy neurons sharing `fire`."""

    def __init__(self, m, fire: Firing):
        self.fire, self.kind, self.bias_noise = fire, m.neuron, m.bias_noise
        self.bkw = bayes_kwargs(m.init, m.snr, m.posterior, m.prior_scale)
        self.nkw = neuron_kwargs(m)
        self.kernel_size = m.kernel_size

    def linear(self, a: int, b: int, *, bias: bool = True, hidden: bool = True,
               no_diagonal: bool = False) -> nn.Module:
        noise = self.bias_noise if hidden and not no_diagonal else 0.0  # once per hidden layer
        return BayesLinear(a, b, bias=bias, bias_noise=noise, no_diagonal=no_diagonal, **self.bkw)

    def conv(self, cin: int, cout: int, stride: int) -> nn.Module:
        return BayesConv2d(cin, cout, self.kernel_size, stride=stride, padding=self.kernel_size // 2, bias=False,
                           bias_noise=self.bias_noise, **self.bkw)

    def neuron(self, kind: str | None = None) -> nn.Module:
        return make_neuron(kind or self.kind, self.fire, **self.nkw)

    def norm(self, kind: str, steps: int, channels: int, spatial: bool = False,
             bias: bool = True) -> nn.Module | None:
        return make_affine(kind, steps, channels, bias)


class MLP(Net):
    """Dense net: [linear -> (affine) -> neuron] x len(hidden) -> readout.

    `recurrent=True` gives the SHD-style net (`srnn`): each hidden neuron is a
    `Recurrent` LIF whose affine acts on the summed feed-forward and recurrent current.
    """

    def __init__(self, in_features: int, hidden: list[int], n_classes: int, parts, *, steps: int,
                 recurrent: bool = False, bias: bool = True, affine: str = "none",
                 self_connections: bool = True, readout: tuple = ("mean", 5.0, 0.5)):
        super().__init__()
        if recurrent and parts.kind != "lif":
            raise ValueError("a recurrent net needs neuron = 'lif'")
        self.fire, self.recurrent = parts.fire, recurrent
        sizes = [in_features] + list(hidden)
        self.fcs = nn.ModuleList(parts.linear(a, b, bias=bias) for a, b in zip(sizes, sizes[1:]))
        norms = [parts.norm(affine, steps, n, bias=bias) for n in hidden]
        if recurrent:
            self.neurons = nn.ModuleList(
                Recurrent(parts.neuron(), parts.linear(n, n, bias=False, no_diagonal=not self_connections), a)
                for n, a in zip(hidden, norms))
        else:
            self.neurons = nn.ModuleList(parts.neuron() for _ in hidden)
            if norms[0] is not None:
                self.affines = nn.ModuleList(norms)
        self.readout = readout_head(parts, sizes[-1], n_classes, readout)

    def input_layer(self):
        return self.fcs[0]

    def forward(self, x: torch.Tensor) -> ModelOutput:
        h = x.flatten(2).transpose(0, 1)  # [T, B, C]
        affines = getattr(self, "affines", None)
        margins, rates = [], []
        for i, (fc, neuron) in enumerate(zip(self.fcs, self.neurons)):
            mu, var = fc(h)  # every step at once; only the neuron loops over time
            if affines is not None:
                mu, var = affines[i](mu, var)
            h, margin = run_neuron(neuron, mu, var)
            margins.append(margin)
            rates.append(h.mean())
        return self._output(self.readout(h), margins, rates)


def build(model_cfg, in_shape: tuple[int, ...], n_classes: int, parts) -> Net:
    """The architecture of a `ModelConfig` for samples of shape `in_shape` = [T, ...],
    made of `parts` (`SBNNParts` or `sg.SGParts`)."""
    m = model_cfg
    steps, features = in_shape[0], math.prod(in_shape[1:])
    readout = (m.readout, m.readout_tau, m.readout_alpha)
    if m.name in ("mlp", "srnn"):
        return MLP(features, list(m.hidden), n_classes, parts, steps=steps, recurrent=m.name == "srnn",
                   bias=m.bias, affine=m.affine, self_connections=m.self_connections, readout=readout)
    if m.name == "resnet":
        image = tuple(m.image_shape) if m.image_shape else tuple(in_shape[1:])
        net = ResNet(image, list(m.widths), list(m.blocks), n_classes, steps, parts,
                      affine=m.affine, readout=readout, downsample=m.downsample, bias=m.bias)
        for block in net.blocks:
            block.residual = m.shortcut != "none"
        return net
    raise ValueError(f"model must be one of {MODELS}, got {m.name!r}")


def build_model(model_cfg, in_shape: tuple[int, ...], n_classes: int, fire: Firing) -> Net:
    """The SBNN described by a `ModelConfig` for samples of shape `in_shape` = [T, ...]."""
    return build(model_cfg, in_shape, n_classes, SBNNParts(model_cfg, fire))


def set_deterministic(model: nn.Module, flag: bool) -> bool | None:
    """Switch every noisy unit of `model` (eps = 0 when True); returns the old flag
    (None for a deterministic SG net, which has no noisy units)."""
    model = getattr(model, "module", model)  # DDP wrapper
    fire = getattr(model, "fire", None)
    if fire is None:
        return None
    old = fire.deterministic
    fire.deterministic = flag
    return old
