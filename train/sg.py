"""Surrogate-gradient (SG) baseline on snnTorch: the SBNN's architectures, deterministic.

`SGParts` is the parts factory of `models.build`: the same MLP / srnn / resnet
definitions and parameter names as the SBNN, made of

- plain layers (`SGLinear`, `SGConv2d`, subclasses of `nn.Linear` / `nn.Conv2d`
  with the SBNN's mean init) that return (x, None): no variance;
- `snntorch.Leaky` neurons (threshold theta, subtract or zero reset, snnTorch's
  delayed reset) run one step at a time by `neurons.run_neuron`; the srnn adds
  its recurrent current `R s_{t-1}` in the shared `neurons.Recurrent` loop,
  which is what `snntorch.RLeaky(all_to_all=True)` computes, with room for the
  per-step BatchNorm or affine between the summed current and the neuron;
- a Gaussian-pdf surrogate of width `method.surrogate_width` (the authors' SG
  baseline: forward Heaviside, backward `phi(x/width)/width`, width 0.4) built
  with `snntorch.surrogate.custom_surrogate`; binary units are that surrogate
  applied to `mu - theta`;
- `method.batchnorm = true`: a BatchNorm per time step after every hidden layer,
  as in the authors' SG baseline (train_shd.py: `bn_layers[time_steps * j + t]`
  on `W x + R s`; train_cifar.py: on each conv), in place of the per-step affine;
  otherwise the affine of `model.affine`.

Of the chip options the SG twin follows `beta`, `bias`, `self_connections` and
the readout kinds; snnTorch's Leaky has no synaptic current and no multi-spike
output, so `syn_beta > 0` or `max_spikes > 1` is a one-line `ConfigError`;
`bias_noise` is a posterior quantity and does not exist in a deterministic net.

`method.sg_neuron = "target"` replaces snnTorch's Leaky by the SBNN's own LIF
step (`neurons.lif_step`: synaptic current, multi-spike, the reset the chip
applies) with the same surrogate spike (`SurrogateFiring`): the SG net then has
exactly the dynamics `snnc compile` deploys (snnTorch's subtract reset is
applied one step later, undecayed, which no chip here runs), so SG checkpoints
compile like SBNN ones.
"""
from __future__ import annotations

import math

import snntorch as snn
import torch
import torch.nn.functional as F
from snntorch import surrogate
from torch import nn

from snnc.errors import ConfigError
from snnc.train.models import NEURONS, Net, build, make_affine
from snnc.train.neurons import LIFNeuron, Neuron, resolve_beta

# Old SG checkpoints (before the shared architecture) named these differently.
LEGACY_SG_NAMES = ((".rlif.recurrent.weight", ".rec.weight"), (".rlif.", ".neuron.lif."),
                   ("readout.weight", "readout.fc.weight"), ("readout.bias", "readout.fc.bias"))


def gaussian_surrogate(width: float = 0.4):
    """snnTorch spike function: Heaviside forward, Gaussian pdf of std `width` backward."""
    scale = 1.0 / (math.sqrt(2.0 * math.pi) * width)

    def grad_fn(input_, grad_input, spikes):
        return grad_input * scale * torch.exp(-0.5 * (input_ / width) ** 2)

    return surrogate.custom_surrogate(grad_fn)


def _init_weight(weight: torch.Tensor, init: str) -> None:
    """The SBNN's mean init: U(+-1/sqrt(fan_in)) ("authors") or Kaiming normal."""
    fan_in = weight[0].numel()
    if init == "authors":
        nn.init.uniform_(weight, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))
    else:
        nn.init.normal_(weight, 0.0, math.sqrt(2.0 / fan_in))


class SGLinear(nn.Linear):
    """nn.Linear returning (x, None); optional zero diagonal (no self-connections)."""

    def __init__(self, a: int, b: int, *, bias: bool, init: str, no_diagonal: bool = False):
        super().__init__(a, b, bias=bias)
        _init_weight(self.weight, init)
        if bias:
            nn.init.zeros_(self.bias)
        self.no_diagonal = no_diagonal
        if no_diagonal:
            self.register_buffer("weight_mask", 1.0 - torch.eye(a), persistent=False)
            with torch.no_grad():
                self.weight.mul_(self.weight_mask)

    def forward(self, x: torch.Tensor):
        return self.moments()(x)

    def moments(self):
        weight = self.weight * self.weight_mask if self.no_diagonal else self.weight
        return lambda x: (F.linear(x, weight, self.bias), None)

    def scale_(self, factor: float) -> None:
        with torch.no_grad():
            self.weight.mul_(factor)


class SGConv2d(nn.Conv2d):
    """nn.Conv2d (k x k, same padding, no bias) returning (x, None)."""

    def __init__(self, cin: int, cout: int, stride: int, *, init: str, kernel_size: int = 3):
        super().__init__(cin, cout, kernel_size, stride=stride, padding=kernel_size // 2, bias=False)
        _init_weight(self.weight, init)

    def forward(self, x: torch.Tensor):
        return super().forward(x), None

    def scale_(self, factor: float) -> None:
        with torch.no_grad():
            self.weight.mul_(factor)


class SGNeuron(Neuron):
    """One step of a snnTorch Leaky (or a stateless binary unit) for `run_neuron`."""

    def __init__(self, kind: str, spike_grad, *, tau_mem: float, theta: float, reset: str,
                 beta: float | None = None):
        super().__init__()
        if kind not in NEURONS:
            raise ValueError(f"neuron must be one of {NEURONS}, got {kind!r}")
        self.kind, self.theta, self.spike_grad = kind, theta, spike_grad
        self.stateful = kind == "lif"
        if kind == "lif":
            self.lif = snn.Leaky(beta=resolve_beta(tau_mem, beta), threshold=theta,
                                 spike_grad=spike_grad,
                                 reset_mechanism="subtract" if reset == "soft" else "zero")

    def init_state(self, like: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(like)  # the membrane

    def step(self, cur, var, mem):
        if self.kind == "binary":
            return self.spike_grad(cur - self.theta), None, None
        spk, mem = self.lif(cur, mem)
        return spk, mem, None


class SurrogateFiring:
    """The `neurons.Firing` interface for a deterministic net: the surrogate spike of
    `u - theta`, no margin (`var` is None)."""

    deterministic = True

    def __init__(self, spike_grad):
        self.spike_grad = spike_grad

    def __call__(self, u, var, theta: float, batch_dim: int = 0):
        return self.spike_grad(u - theta), None

    def sequence(self):
        """The firing of one time loop (`neurons.Firing.sequence`): itself, there is no
        deferred backward to share for a deterministic surrogate."""
        return self


class StepBatchNorm(nn.Module):
    """A BatchNorm per time step (the authors' SG baseline), over [T, B, C, ...]."""

    def __init__(self, steps: int, channels: int, spatial: bool):
        super().__init__()
        kind = nn.BatchNorm2d if spatial else nn.BatchNorm1d
        self.bn = nn.ModuleList(kind(channels) for _ in range(steps))

    def forward(self, mu: torch.Tensor, var=None):
        return torch.stack([bn(x) for bn, x in zip(self.bn, mu.unbind(0))]), None

    def stepper(self):
        return lambda t, mu, var: (self.bn[t](mu), None)


class SGParts:
    """The SG baseline's parts for `models.build` (see the module docstring)."""

    fire = None

    def __init__(self, m, *, width: float = 0.4, batchnorm: bool = False, neuron: str = "snntorch"):
        if width <= 0:
            raise ConfigError(f"method.surrogate_width: must be > 0, got {width!r}")
        self.kind, self.init, self.batchnorm, self.target = m.neuron, m.init, batchnorm, neuron == "target"
        self.grad = gaussian_surrogate(width)
        self.nkw = dict(tau_mem=m.tau_mem, theta=m.theta, reset=m.reset, beta=m.beta)
        self.chip = dict(syn_beta=m.syn_beta, max_spikes=m.max_spikes)
        self.kernel_size = m.kernel_size

    def linear(self, a: int, b: int, *, bias: bool = True, hidden: bool = True,
               no_diagonal: bool = False) -> nn.Module:
        return SGLinear(a, b, bias=bias, init=self.init, no_diagonal=no_diagonal)

    def conv(self, cin: int, cout: int, stride: int) -> nn.Module:
        return SGConv2d(cin, cout, stride, init=self.init, kernel_size=self.kernel_size)

    def neuron(self) -> Neuron:
        if self.target and self.kind == "lif":
            return LIFNeuron(SurrogateFiring(self.grad), **self.nkw, **self.chip)
        return SGNeuron(self.kind, self.grad, **self.nkw)

    def norm(self, kind: str, steps: int, channels: int, spatial: bool = False,
             bias: bool = True) -> nn.Module | None:
        if self.batchnorm:
            return StepBatchNorm(steps, channels, spatial)
        return make_affine(kind, steps, channels, bias)


def build_sg_model(model_cfg, in_shape, n_classes: int, *, width: float = 0.4,
                   batchnorm: bool = False, neuron: str = "snntorch") -> Net:
    """The SG twin of `models.build_model` for the same `ModelConfig`."""
    m = model_cfg
    if neuron == "target":
        return build(m, tuple(in_shape), n_classes, SGParts(m, width=width, batchnorm=batchnorm, neuron=neuron))
    if m.syn_beta > 0:
        raise ConfigError("model.syn_beta: the SG baseline (snnTorch Leaky) has no synaptic current "
                          "(method.sg_neuron = 'target' has)")
    if m.max_spikes > 1:
        raise ConfigError("model.max_spikes: the SG baseline (snnTorch Leaky) fires one spike per step "
                          "(method.sg_neuron = 'target' fires more)")
    return build(m, tuple(in_shape), n_classes, SGParts(m, width=width, batchnorm=batchnorm))


def upgrade_sg_state(state: dict) -> dict:
    """An SG state dict written before the shared architecture (snnTorch RLeaky, readout
    as a bare Linear), renamed to today's modules; RLeaky's recurrent bias is added to
    the feed-forward bias of its layer (the same current). `FormatError`-worthy cases
    (a recurrent bias with no feed-forward bias to take it) raise `ValueError`."""
    state = dict(state)
    for key in [k for k in state if k.endswith(".rlif.recurrent.bias")]:
        layer = key.split(".")[1]
        if f"fcs.{layer}.bias" not in state:
            raise ValueError(f"{key}: a recurrent bias needs fcs.{layer}.bias to fold into")
        state[f"fcs.{layer}.bias"] = state[f"fcs.{layer}.bias"] + state.pop(key)
    out = {}
    for key, value in state.items():
        for old, new in LEGACY_SG_NAMES:
            if old in key:
                key = key.replace(old, new)
                break
        out[key] = value
    return out
