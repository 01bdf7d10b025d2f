"""Predicted synaptic operations of a net: spikes x fan-out, per layer, per inference.

A spike of a neuron reaches `fanout` synapses downstream; each is one synaptic
operation (an accumulate: NeuroBench's "effective ACs", snnc's `synaptic_events`
on the `ideal` target). With a layer's mean spike rate r (spikes per neuron and
step, counts for multi-spike neurons), n neurons and T steps, the layer causes

    synops = r * n * T * fanout           per inference,

and `synops_dense` = n * T * fanout if every neuron spiked once at every step.
The rates are the model's `ModelOutput.rates`, so the prediction carries
gradients (the synops penalty of `losses`). Input events (the data's own
spikes) are counted separately: no penalty can change them.

Fan-out per layer, from the model config (one order: the order of `rates`):

- mlp: the next layer's width (the last hidden layer: the readout's classes);
- srnn: that, plus the recurrent weights' n (n - 1 without self-connections);
- resnet: 3x3 convs with padding 1 reach `cout * taps / (H * W)` neurons per
  input neuron on average (border neurons reach fewer: the mean is exact for
  the total when spikes are uniform over positions, an estimate otherwise).
  Block outputs are spike *counts* (the unit's spikes plus the shortcut), so
  the stem's and every second unit's spikes are delivered again to every later
  block's first conv and to the readout, scaled by 1/4 per 2x2 average-pool
  shortcut they pass: those layers' fan-out sums all those deliveries.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Layer:
    """One spiking layer: neurons per step and the mean synapses a spike of it reaches."""

    name: str
    neurons: int
    fanout: float


def spiking_layers(model_cfg, in_shape, n_classes: int) -> list[Layer]:
    """The spiking layers of the net a `ModelConfig` builds, in the order of `rates`."""
    if model_cfg.name == "resnet":
        return _resnet_layers(model_cfg, in_shape, n_classes)
    hidden = list(model_cfg.hidden)
    recurrent = model_cfg.name == "srnn"
    self_links = bool(getattr(model_cfg, "self_connections", True))
    layers = []
    for i, n in enumerate(hidden):
        out = hidden[i + 1] if i + 1 < len(hidden) else n_classes
        rec = (n if self_links else n - 1) if recurrent else 0
        layers.append(Layer(f"hidden{i}", n, float(out + rec)))
    return layers


def input_fanout(model_cfg, in_shape) -> float:
    """Synapses one input event reaches (the first layer's fan-out)."""
    if model_cfg.name == "resnet":
        c, h, w = _image(model_cfg, in_shape)
        return _conv_fanout(model_cfg.widths[0], h, w, 1)
    return float(model_cfg.hidden[0])


def synops(rates: torch.Tensor, layers: list[Layer], steps: int) -> torch.Tensor:
    """Predicted synaptic operations per inference of each layer [L] (differentiable in rates)."""
    scale = torch.tensor([l.neurons * steps * l.fanout for l in layers], dtype=rates.dtype, device=rates.device)
    return rates * scale


def dense_synops(layers: list[Layer], steps: int) -> float:
    """Synaptic operations per inference if every neuron spiked once at every step."""
    return float(sum(l.neurons * steps * l.fanout for l in layers))


# --- resnet geometry ---------------------------------------------------------------

def _image(model_cfg, in_shape) -> tuple[int, int, int]:
    return tuple(model_cfg.image_shape) if model_cfg.image_shape else tuple(in_shape[1:])


def _taps(size: int, stride: int) -> int:
    """(output position, kernel tap) pairs of a 3-tap, padding-1 conv that land inside `size`."""
    outs = math.ceil(size / stride)
    return sum(0 <= o * stride + k < size for o in range(outs) for k in (-1, 0, 1))


def _conv_fanout(cout: int, h: int, w: int, stride: int) -> float:
    """Mean output neurons one input neuron of an h x w map reaches through a 3x3 conv."""
    return cout * _taps(h, stride) * _taps(w, stride) / (h * w)


def _resnet_blocks(model_cfg, image) -> list[tuple[int, int, int, int]]:
    """(width, stride, input height, input width) of each residual block, in order."""
    _, h, w = image
    blocks = []
    for i, (width, n) in enumerate(zip(model_cfg.widths, model_cfg.blocks)):
        for j in range(n):
            stride = 2 if (i > 0 and j == 0) else 1
            blocks.append((width, stride, h, w))
            h, w = math.ceil(h / stride), math.ceil(w / stride)
    return blocks


def _stream_fanout(blocks, start: int, n_classes: int) -> float:
    """Synapses a spike that enters the residual stream before block `start` reaches:
    every later block's first conv and the readout, 1/4 less per downsampling shortcut."""
    total, factor = 0.0, 1.0
    for width, stride, h, w in blocks[start:]:
        total += factor * _conv_fanout(width, h, w, stride)
        factor /= stride * stride
    return total + factor * n_classes


def _resnet_layers(model_cfg, in_shape, n_classes: int) -> list[Layer]:
    image = _image(model_cfg, in_shape)
    blocks = _resnet_blocks(model_cfg, image)
    _, h, w = image
    layers = [Layer("stem", model_cfg.widths[0] * h * w, _stream_fanout(blocks, 0, n_classes))]
    for b, (width, stride, bh, bw) in enumerate(blocks):
        oh, ow = math.ceil(bh / stride), math.ceil(bw / stride)
        layers.append(Layer(f"block{b}.unit1", width * oh * ow, _conv_fanout(width, oh, ow, 1)))
        layers.append(Layer(f"block{b}.unit2", width * oh * ow, _stream_fanout(blocks, b + 1, n_classes)))
    return layers
