"""The normalisation-free residual conv net (`model.name = "resnet"`): conv units, spike-count
shortcuts (identity, or 2x2 average pool + zero-padded channels where a block downsamples), a
global-average-pool readout. `compiler/frontend/resnet.py` lowers it."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from snnc.train.net_base import ModelOutput, Net, readout_head
from snnc.train.neurons import run_neuron


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
        self.readout = readout_head(parts, cin, n_classes, readout)

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
