"""A normalisation-free residual SBNN (train/models.py: ResNet) -> its float graph on `ideal`.

How each construct of the authors' nets maps (SEEDS.md; exact in real arithmetic, float32 round-off):

- conv unit (conv -> per-channel positive affine -> neuron): one `Conv2d` synapse per spike source
  of the unit's input into one FloatLIF population of C*H*W neurons (channel-major); the affine
  `softplus(scale_param[c]) (W x)[c] + bias[c]` folds into the conv's weights (per output channel)
  and the population's bias (per channel, repeated over the image).
- spike-add shortcut (block output = unit2 spikes + block input): no node. A block's output is a
  list of spike sources (populations, each seen through a pool factor); every consumer of it, a
  conv or the readout, receives one synapse per source, all with the consumer's weights: exact, and
  binary spikes stay binary.
- downsampling shortcut (2x2 average pool + zero-padded channels): the pool folds into the next
  consumer's weights (`fold_pool_into_conv`, exact as the 2x2 windows tile an even image; odd sizes,
  where ceil_mode's partial windows average fewer pixels, are refused); the zero channels are the
  consumer's weight columns that no source feeds (dropped; channels beyond a consumer's, cropped).
- global-average-pool readout: FC(mean over H, W) folds into a Dense from every source of the last
  block's output, each weight divided by that source's H * W: exact.
- model.shortcut = "none" (a plain conv net): a block's output is its second unit alone.
`--mode samples` is not lowered for resnets yet (one posterior-mean graph).
"""
from __future__ import annotations

import numpy as np

from snnc.compiler.ir import Conv2d, FloatLIF, Graph, Input, Output, Synapse
from snnc.compiler.ir.conv import fold_pool_into_conv
from snnc.errors import CompileError


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x.astype(np.float64))


def _affine(state: dict, prefix: str, cout: int) -> tuple[np.ndarray, np.ndarray]:
    """(gain, bias) per output channel of a unit's channel_positive affine (1, 0 without one)."""
    if f"{prefix}.affine.scale_param" not in state:
        return np.ones(cout), np.zeros(cout)
    bias = state.get(f"{prefix}.affine.bias")
    return _softplus(state[f"{prefix}.affine.scale_param"]), np.zeros(cout) if bias is None else bias.astype(np.float64)


def _channels(w: np.ndarray, c: int) -> np.ndarray:
    """A consumer's weights (n_out, C_in, ...) on a source of c channels: zero-padded channels dropped,
    channels beyond the consumer's cropped (F.pad with a negative width)."""
    out = np.zeros((w.shape[0], c) + w.shape[2:], w.dtype)
    n = min(c, w.shape[1])
    out[:, :n] = w[:, :n]
    return out


class _Builder:
    """Adds units to the graph; a block output is a list of (population, pool factor) sources."""

    def __init__(self, m, state: dict, image: tuple[int, int, int], neuron: dict):
        self.m, self.state, self.neuron = m, state, neuron
        self.graph = Graph(target="ideal")
        self.graph.add("input", Input(int(np.prod(image))))
        self.shapes = {"input": tuple(image)}   # (C, H, W) of every source
        self.layers: list[str] = []

    def unit(self, name: str, prefix: str, sources, stride: int) -> str:
        w = self.state[f"{prefix}.conv.weight"].astype(np.float64)
        gain, bias = _affine(self.state, prefix, w.shape[0])
        w = w * gain[:, None, None, None]
        k = w.shape[2]
        out_shape = None
        syns = []
        for i, (src, pool) in enumerate(sources):
            shape = self.shapes[src]
            pooled = (shape[0], shape[1] // pool, shape[2] // pool)
            conv = Conv2d(_channels(w, shape[0]).astype(np.float32), delay=0, in_shape=pooled, stride=stride,
                          padding=k // 2)
            if pool > 1:
                conv = fold_pool_into_conv(conv, (pool, pool), 1.0 / pool**2, shape)
            out_shape = conv.out_shape
            syns.append((f"{name}_from_{src}" if len(sources) > 1 else f"{name}_conv", conv, src))
        hw = out_shape[1] * out_shape[2]
        self.graph.add(name, FloatLIF(int(np.prod(out_shape)), bias=np.repeat(bias, hw).astype(np.float32),
                                      **self.neuron))
        for syn_name, conv, src in syns:
            self.graph.add(syn_name, conv, [src])
            self.graph.connect(syn_name, name)
        self.shapes[name] = out_shape
        self.layers.append(name)
        return name

    def block(self, i: int, sources, cout: int, stride: int):
        h1 = self.unit(f"b{i}_1", f"blocks.{i}.unit1", sources, stride)
        h2 = self.unit(f"b{i}_2", f"blocks.{i}.unit2", [(h1, 1)], 1)
        if getattr(self.m, "shortcut", "avgpool_pad") == "none":   # a plain conv net: no spike-add
            return [(h2, 1)]
        if stride != 1:
            for src, pool in sources:
                c, h, w = self.shapes[src]
                if (h // pool) % stride or (w // pool) % stride:
                    raise CompileError(f"block {i}: its downsampling shortcut pools a {h // pool}x{w // pool} image "
                                       f"by {stride}; odd sizes (ceil_mode's partial windows) have no exact fold")
        return [(h2, 1)] + [(src, pool * stride) for src, pool in sources]


def resnet_graph(m, state: dict, image, steps: int, neuron: dict, readout) -> tuple[Graph, list[str]]:
    """Input -> stem -> blocks -> readout (see module docstring); `neuron`: the hidden FloatLIF's
    parameters, `readout` = (readout FloatLIF params, input scale, decoding gain)."""
    b = _Builder(m, state, tuple(int(v) for v in image), neuron)
    sources = [(b.unit("stem", "stem", [("input", 1)], 1), 1)]
    i = 0
    for stage, (width, n) in enumerate(zip(m.widths, m.blocks)):
        for j in range(n):
            stride = m.downsample if (stage > 0 and j == 0) else 1
            sources = b.block(i, sources, width, stride)
            i += 1
    _readout(b, sources, state, steps, readout)
    return b.graph, b.layers


def _readout(b: _Builder, sources, state: dict, steps: int, readout) -> None:
    params, scale, gain = readout
    w = state["readout.fc.weight"].astype(np.float64)
    n_out = w.shape[0]
    b.graph.add("readout", FloatLIF(n_out, **params))
    for src, _ in sources:   # mean over the image: each source's own H * W (pools tile it)
        c, h, wd = b.shapes[src]
        dense = np.repeat(_channels(w, c)[:, :, None], h * wd, axis=2).reshape(n_out, -1) / (h * wd)
        name = f"fc_out_from_{src}" if len(sources) > 1 else "fc_out"
        b.graph.add(name, Synapse((dense * scale).astype(np.float32), delay=0), [src])
        b.graph.connect(name, "readout")
    b.layers.append("readout")
    b.graph.add("output", Output(n_out, read="v", step=steps - 1, gain=gain, offset=state["readout.fc.bias"]),
                ["readout"])
