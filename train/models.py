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
`readout_weights`, the one definition of these weights), the auxiliary margin
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
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from snnc.train.bayes import BayesConv2d, BayesLinear
from snnc.train.neurons import (BinaryNeuron, Firing, LIFNeuron, Recurrent, noise_std, run_neuron)

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


class ModelOutput(NamedTuple):
    logits: torch.Tensor        # [B, n_classes]
    margin_penalty: torch.Tensor  # scalar: sum over layers of mean ((u - theta)/S)^2 (0 when deterministic)
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


def _readout(parts, in_features: int, n_classes: int, readout: tuple) -> Readout:
    return Readout(parts.linear(in_features, n_classes, hidden=False), parts.fire, *readout)


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
        self.readout = _readout(parts, sizes[-1], n_classes, readout)

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


class ConvUnit(nn.Module):
    """conv -> per-step affine (or the SG's BatchNorm) -> neuron, over [T, B, C, H, W]."""

    def __init__(self, cin: int, cout: int, stride: int, steps: int, parts, affine: str, bias: bool = True):
        super().__init__()
        self.conv = parts.conv(cin, cout, stride)
        self.affine = parts.norm(affine, steps, cout, spatial=True, bias=bias)
        self.neuron = parts.neuron()

    def forward(self, x: torch.Tensor, probe: list):
        T, B = x.shape[:2]
        mu, var = self.conv(x.flatten(0, 1))
        mu, var = mu.unflatten(0, (T, B)), (None if var is None else var.unflatten(0, (T, B)))
        if self.affine is not None:
            mu, var = self.affine(mu, var)
        s, margin = run_neuron(self.neuron, mu, var)
        probe.append((margin, s.mean()))
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
    """Two conv units; the block input's spike counts are added to the output spikes (`residual`
    False, model.shortcut = "none": not added, a plain conv net)."""

    residual = True

    def __init__(self, cin: int, cout: int, stride: int, steps: int, parts, affine: str, bias: bool = True):
        super().__init__()
        self.cout, self.stride = cout, stride
        self.unit1 = ConvUnit(cin, cout, stride, steps, parts, affine, bias)
        self.unit2 = ConvUnit(cout, cout, 1, steps, parts, affine, bias)

    def forward(self, x, probe):
        y = self.unit2(self.unit1(x, probe), probe)
        return y + shortcut(x, self.cout, self.stride) if self.residual else y


class ResNet(Net):
    """Normalisation-free residual net: stem conv unit, stages of residual blocks, readout.

    Conv layers: 1 + 2 * sum(blocks), `model.kernel_size` square with "same" padding,
    stride `model.downsample` in the first block of every stage after the first (all
    three stored in the checkpoint's config; old ones read 3, 2 and "avgpool_pad"). Activations between blocks are small integer spike
    counts. Input x [B, T, C, H, W] (or [B, T, C*H*W] with `image_shape`).
    """

    def __init__(self, image_shape: tuple[int, int, int], widths: list[int], blocks: list[int],
                 n_classes: int, steps: int, parts, *, affine: str = "step",
                 readout: tuple = ("mean", 5.0, 0.5), downsample: int = 2, bias: bool = True):
        super().__init__()
        self.image_shape, self.fire = tuple(image_shape), parts.fire
        self.stem = ConvUnit(image_shape[0], widths[0], 1, steps, parts, affine, bias)
        layers, cin = [], widths[0]
        for i, (width, n) in enumerate(zip(widths, blocks)):
            for j in range(n):
                stride = downsample if (i > 0 and j == 0) else 1
                layers.append(ResBlock(cin, width, stride, steps, parts, affine, bias))
                cin = width
        self.blocks = nn.ModuleList(layers)
        self.readout = _readout(parts, cin, n_classes, readout)

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
