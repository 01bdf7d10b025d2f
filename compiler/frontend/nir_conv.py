"""NIR Conv2d, SumPool2d, AvgPool2d (and Flatten, the identity) -> the IR's Conv2d synapses.

What the nodes mean (NIR 1.0, as sinabs, snnTorch and Norse write them, and as PyTorch computes):
Conv2d is a correlation of the (C, H, W) image with `weight` (C_out, C_in/groups, kh, kw), zero
padding (`padding` an int, a pair, 'valid' or 'same' at stride 1), `stride`, `dilation`, `groups`,
plus `bias` per output channel; SumPool2d sums k x k windows, AvgPool2d averages them (divisor
kh kw); Flatten of (C, H, W) is channel-major, which is the IR's own order (compiler/ir/conv.py).

Between two populations a path may hold pools, then at most one weight layer (Conv2d, Affine,
Linear). Pools fold into that weight layer (`fold_pool_into_conv` / `fold_pool_into_dense`): exact
for pools whose windows tile the image (kernel = stride, no padding); others are refused in one
line. Pools with no weight layer after them become one pooling Conv2d. A conv's bias is the
population's bias, per output channel; a population's input gain (an IF's r, ...) scales the
weights, per output channel for a conv.
"""
from __future__ import annotations

import math

import numpy as np

from snnc.compiler.frontend.nir_nodes import real_array, show
from snnc.compiler.ir import Conv2d, FloatLIF
from snnc.compiler.ir.conv import fold_pool_into_conv, fold_pool_into_dense, foldable_pool, pool_conv
from snnc.errors import CompileError, GraphError

CONVS = ("Conv2d",)
POOLS = {"SumPool2d": "sum", "AvgPool2d": "avg"}


def _pair(where: str, value, lo: int) -> tuple[int, int]:
    arr = real_array(where, value).reshape(-1)
    if arr.size not in (1, 2) or not np.all(arr == np.round(arr)) or np.any(arr < lo) or np.any(arr > 2**20):
        raise CompileError(f"{where}: expected one or two integers >= {lo}, got {show(arr.tolist())}")
    return (int(arr[0]), int(arr[-1]))


def _image(where: str, value) -> tuple[int, int, int] | None:
    if value is None:
        return None
    arr = real_array(where, value).reshape(-1)
    if arr.size != 3 or not np.all(arr == np.round(arr)) or np.any(arr < 1) or np.any(arr > 2**22):
        return None
    return tuple(int(v) for v in arr)


def input_image(name: str, node) -> tuple[int, int, int] | None:
    """The (C, H, W) a NIR node declares for its input (input_type, or a Conv2d's input_shape)."""
    if type(node).__name__ == "Conv2d" and getattr(node, "input_shape", None) is not None:
        hw = _pair(f"NIR node '{name}': input_shape", node.input_shape, 1)   # nir's own input_type forgets groups
        groups = real_array(f"NIR node '{name}': groups", node.groups).reshape(-1)
        return (int(np.shape(node.weight)[1]) * int(groups[0]), *hw) if groups.size == 1 else None
    types = node.input_type if isinstance(getattr(node, "input_type", None), dict) else {}
    return _image(f"NIR node '{name}': input shape", next(iter(types.values()), None)) if len(types) == 1 else None


def _padding(name: str, node, kernel, dilation, stride) -> tuple[int, int]:
    pad = node.padding
    if isinstance(pad, str):
        if pad == "valid":
            return (0, 0)
        span = [d * (k - 1) for d, k in zip(dilation, kernel)]
        if pad != "same" or stride != (1, 1) or any(s % 2 for s in span):
            raise CompileError(f"NIR node '{name}': padding '{pad[:20]}' has no symmetric zero padding here "
                               "(snnc reads an int, a pair, 'valid', or 'same' at stride 1 with an even span)")
        return tuple(s // 2 for s in span)
    return _pair(f"NIR node '{name}': padding", pad, 0)


def conv_of(name: str, node, in_shape) -> tuple[Conv2d, np.ndarray]:
    """(float32 Conv2d with delay 0, bias per output channel) of a NIR Conv2d on a (C, H, W) input."""
    w = real_array(f"NIR node '{name}': weight", node.weight)
    if w.ndim != 4 or not np.all(np.isfinite(w)):
        raise CompileError(f"NIR node '{name}': weight must be finite, of shape (C_out, C_in/groups, kh, kw); "
                           f"got shape {w.shape}")
    groups = real_array(f"NIR node '{name}': groups", node.groups).reshape(-1)
    if groups.size != 1 or groups[0] != round(groups[0]) or groups[0] < 1:
        raise CompileError(f"NIR node '{name}': groups must be one integer >= 1, got {show(groups.tolist())}")
    stride = _pair(f"NIR node '{name}': stride", node.stride, 1)
    dilation = _pair(f"NIR node '{name}': dilation", node.dilation, 1)
    padding = _padding(name, node, w.shape[2:], dilation, stride)
    try:
        conv = Conv2d(w.astype(np.float32), delay=0, in_shape=in_shape, stride=stride, padding=padding,
                      dilation=dilation, groups=int(groups[0]))
    except GraphError as exc:
        raise CompileError(f"NIR node '{name}': {exc}") from None
    bias = real_array(f"NIR node '{name}': bias", 0.0 if getattr(node, "bias", None) is None else node.bias).reshape(-1)
    if bias.size not in (1, w.shape[0]) or not np.all(np.isfinite(bias)):
        raise CompileError(f"NIR node '{name}': bias must be finite, one per output channel ({w.shape[0]})")
    return conv, np.broadcast_to(bias, (w.shape[0],))


def out_size(name: str, node, in_shape) -> int:
    """Neurons a Conv2d or pool writes, for the population after it."""
    return _linear(name, node, in_shape)[0].out_size


def conv_out_size(name: str, node) -> int | None:
    """Neurons a Conv2d or pool that declares its input image writes (None where it does not declare it)."""
    image = input_image(name, node)
    return None if image is None else out_size(name, node, image)


def _linear(name: str, node, in_shape):
    """(Conv2d, per-channel bias) of a Conv2d or a pool (a pool: its pooling conv, no bias)."""
    kind = type(node).__name__
    if kind in CONVS:
        return conv_of(name, node, in_shape)
    kernel = _pair(f"NIR node '{name}': kernel_size", node.kernel_size, 1)
    stride = _pair(f"NIR node '{name}': stride", node.stride, 1)
    padding = _pair(f"NIR node '{name}': padding", node.padding, 0)
    try:
        return pool_conv(POOLS[kind], in_shape, kernel, stride, padding), np.zeros(in_shape[0])
    except GraphError as exc:
        raise CompileError(f"NIR node '{name}': {exc}") from None


def _pool_fold(name: str, node, shape) -> tuple[tuple[int, int], float]:
    """(window, factor) of a pool that folds into the layer after it; CompileError where it does not tile."""
    kernel = _pair(f"NIR node '{name}': kernel_size", node.kernel_size, 1)
    why = foldable_pool(shape, kernel, _pair(f"NIR node '{name}': stride", node.stride, 1),
                        _pair(f"NIR node '{name}': padding", node.padding, 0))
    if why is not None:
        raise CompileError(f"NIR node '{name}': a {type(node).__name__} before a weight layer folds into it only "
                           f"when its windows tile the image; this one has {why}")
    return kernel, 1.0 if POOLS[type(node).__name__] == "sum" else 1.0 / (kernel[0] * kernel[1])


def _pools_and_shapes(ng, chain, in_shape):
    """(pools, layer or None, image before each pool and after the last) of a path."""
    last = chain[-1] if type(ng.nodes[chain[-1]]).__name__ not in POOLS else None
    pools = list(chain if last is None else chain[:-1])
    shapes = [tuple(in_shape)]
    for p in pools:
        shapes.append(_linear(p, ng.nodes[p], shapes[-1])[0].out_shape)
    return pools, last, shapes


def conv_synapse(ng, chain: tuple[str, ...], in_shape) -> tuple[Conv2d, np.ndarray | None]:
    """The Conv2d (delay 0) of a path of pools and at most one Conv2d, and the bias it brings per
    postsynaptic neuron (None: none). Tiling pools fold into the conv after them; pools alone
    become the last pool's conv with the earlier ones folded in."""
    pools, last, shapes = _pools_and_shapes(ng, chain, in_shape)
    if last is None:
        last, pools = pools[-1], pools[:-1]
    syn, bias = _linear(last, ng.nodes[last], shapes[len(pools)])
    bias = np.repeat(bias, math.prod(syn.out_hw)) if type(ng.nodes[last]).__name__ in CONVS else None
    for p, shape in zip(reversed(pools), reversed(shapes[:len(pools)])):
        kernel, factor = _pool_fold(p, ng.nodes[p], shape)
        syn = fold_pool_into_conv(syn, kernel, factor, shape)
    return syn, bias


def dense_through_pools(ng, chain: tuple[str, ...], in_shape, weights_of) -> np.ndarray:
    """The weights of an Affine/Linear after tiling pools, on the image before the pools:
    `weights_of(n_in)` reads the layer's (n_out, n_in) weights for its pooled input."""
    pools, last, shapes = _pools_and_shapes(ng, chain, in_shape)
    w = weights_of(math.prod(shapes[-1]))
    for p, shape, pooled in zip(reversed(pools), reversed(shapes[:-1]), reversed(shapes[1:])):
        kernel, factor = _pool_fold(p, ng.nodes[p], shape)
        w = fold_pool_into_dense(w, pooled, kernel, factor)
    return w


def scaled_conv(syn: Conv2d, gain: np.ndarray, where: str) -> Conv2d:
    """A conv into a population whose input gain is `gain` [n_post]: the gain per output channel."""
    per = np.asarray(gain, np.float64).reshape(syn.out_shape[0], -1)
    if not np.all(per == per[:, :1]):
        raise CompileError(f"{where}: the population's input gain varies within an output channel; a Conv2d's "
                           "weights are shared across the image")
    w = (syn.weights.astype(np.float64) * per[:, 0, None, None, None]).astype(np.float32)
    return Conv2d(w, delay=syn.delay, in_shape=syn.in_shape, stride=syn.stride, padding=syn.padding,
                  dilation=syn.dilation, groups=syn.groups)


def with_bias(node: FloatLIF, bias: np.ndarray) -> FloatLIF:
    return FloatLIF(node.size, beta=node.beta, alpha=node.alpha, vth=node.vth,
                    bias=(node.bias.astype(np.float64) + bias).astype(np.float32), reset=node.reset)
