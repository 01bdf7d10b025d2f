"""Convolutional synapses: `Conv2d`, and pooling as a Conv2d with a fixed kernel.

Layout conventions (the ones every engine, frontend and writer follows):

- A population (or Input) that a Conv2d reads or writes is an image flattened
  channel-major, `index = (c * H + y) * W + x` (PyTorch's and NIR's `flatten`
  of (C, H, W)), so a Dense `Synapse` after a conv population reads the same
  index and `Flatten` is the identity: the IR has no Flatten node.
- `weights` (C_out, C_in / groups, kh, kw) are a *correlation* kernel, as in
  PyTorch and NIR's Conv2d:
      a[o, y, x] = sum_{i, ky, kx} W[o, i, ky, kx] * s[g(o) C_in/g + i, y s_h - p_h + ky d_h, x s_w - p_w + kx d_w]
  with zeros outside the image (zero padding); g(o) = o // (C_out / groups).
  A target that computes a true convolution (Lava's Conv) takes the kernel flipped;
  the target's own file says how its integers map.
- `weight_exp`, `delay` and `port` mean what they mean on a dense `Synapse`, scaled by
  the target's conv arithmetic (`Target.conv`: on `ideal` 2^weight_exp on the sum, as a
  Dense; on `loihi` a per-weight pre-shift, see targets/loihi/conv.py).
- Pooling is a Conv2d: sum pooling (k x k, stride s) is the depthwise kernel of ones
  (groups = C), average pooling the same over k^2 (`pool_conv`). Frontends fold a pool
  into the next weight layer where that is exact (`fold_pool`: non-overlapping windows
  that tile the image); a pool straight into neurons stays a pooling Conv2d.
- A residual spike add (a population receiving the sum of two spike sources) is two
  synapses with the same weights: exact, and binary spikes stay binary.

Synaptic events: a spike of input neuron j costs one event per nonzero weight that
reaches a valid output (`fan_out_counts`), as a dense Synapse's nonzero column.
"""
from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import numpy as np

from snnc.compiler.ir.checks import MAX_IMAGE, as_int64, frozen, image_shape, integer
from snnc.compiler.ir.nodes import Synapse, register_node
from snnc.errors import GraphError

MAX_KERNEL = 64        # estimate: kernel side, stride, dilation and padding; the largest kernel a frontend builds is
#                        a pool folded into a conv (4 x 4 pool into a 3 x 3 conv: 12), ImageNet stems use 11
_COUNTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()   # node -> (weights, fan_out_counts), outside
#                                                                    the node so that plan signatures ignore it


def _pair(name: str, value, lo: int, hi: int) -> tuple[int, int]:
    """A pair of integers in [lo, hi] from an int or a 2-sequence (JSON gives lists)."""
    if isinstance(value, (list, tuple, np.ndarray)):
        items = list(np.asarray(value).reshape(-1)) if isinstance(value, np.ndarray) else list(value)
        if len(items) != 2:
            raise GraphError(f"Conv2d parameter '{name}' must be one integer or two, got {str(value)[:40]}")
    else:
        items = [value, value]
    return tuple(integer(name, v, lo, hi) for v in items)


@register_node
@dataclass(eq=False)
class Conv2d(Synapse):
    """2-D convolution synapse (correlation, zero padding; module docstring gives the layout).

    a_post[t] = scale(conv(W, s_pre[t - delay]), weight_exp), s_pre the flat (C, H, W) image.
    weights (C_out, C_in/groups, kh, kw): integers (target format) or float32 on `ideal`.
    in_shape (C, H, W) of the source; stride, padding, dilation (h, w); groups divides C and C_out.
    """

    in_shape: tuple = (1, 1, 1)
    stride: tuple = (1, 1)
    padding: tuple = (0, 0)
    dilation: tuple = (1, 1)
    groups: int = 1

    def check(self):
        self._check_geometry()
        w = self.weights
        if not (isinstance(w, np.ndarray) and not w.flags.writeable and w.dtype in (np.int64, np.float32)):
            self.weights = self._kernel(np.asarray(w))
        self._check_shapes()
        self._check_scalars()

    def _check_geometry(self):
        self.in_shape = image_shape("Conv2d", self.in_shape)
        self.stride = _pair("stride", self.stride, 1, MAX_KERNEL)
        self.padding = _pair("padding", self.padding, 0, MAX_KERNEL)
        self.dilation = _pair("dilation", self.dilation, 1, MAX_KERNEL)
        self.groups = integer("groups", self.groups, 1, MAX_IMAGE)

    @staticmethod
    def _kernel(w: np.ndarray) -> np.ndarray:
        if w.ndim != 4 or 0 in w.shape:
            raise GraphError(f"Conv2d weights must be 4-D (C_out, C_in/groups, kh, kw), got shape {w.shape}")
        if max(w.shape[2:]) > MAX_KERNEL:
            raise GraphError(f"Conv2d kernel {w.shape[2]} x {w.shape[3]} is larger than {MAX_KERNEL} (snnc's limit)")
        if w.dtype.kind == "f":
            if not np.all(np.isfinite(w)):
                raise GraphError("Conv2d weights must be finite")
            return frozen(np.ascontiguousarray(w, np.float32))
        if w.dtype.kind not in "iub":
            raise GraphError(f"Conv2d weights must be integer or float, got dtype {w.dtype}")
        return frozen(np.ascontiguousarray(as_int64("weights", w)))

    def _check_shapes(self):
        c_out, c_in_g = self.weights.shape[:2]
        c = self.in_shape[0]
        if c % self.groups or c_out % self.groups or c_in_g * self.groups != c:
            raise GraphError(f"Conv2d weights {self.weights.shape} with groups {self.groups} do not take "
                             f"{c} input channels (C_in / groups = weights.shape[1], groups dividing C_out)")
        ho, wo = self.out_hw
        if ho < 1 or wo < 1:
            raise GraphError(f"Conv2d kernel {self.weights.shape[2:]} (dilation {self.dilation}) does not fit the "
                             f"input {self.in_shape[1:]} padded by {self.padding}")
        if c_out * ho * wo > MAX_IMAGE:
            raise GraphError(f"Conv2d output ({c_out}, {ho}, {wo}) holds more than {MAX_IMAGE} values")

    @property
    def kernel_size(self) -> tuple[int, int]:
        return int(self.weights.shape[2]), int(self.weights.shape[3])

    @property
    def out_hw(self) -> tuple[int, int]:
        """(H_out, W_out) = floor((H + 2p - d (k - 1) - 1) / s) + 1 per axis (PyTorch's formula)."""
        return tuple((n + 2 * p - d * (k - 1) - 1) // s + 1 for n, p, d, k, s in
                     zip(self.in_shape[1:], self.padding, self.dilation, self.kernel_size, self.stride))

    @property
    def out_shape(self) -> tuple[int, int, int]:
        return (int(self.weights.shape[0]), *self.out_hw)

    in_size = property(lambda self: math.prod(self.in_shape))
    out_size = property(lambda self: math.prod(self.out_shape))

    def fan_out_counts(self) -> np.ndarray:
        """Synapses (nonzero weights reaching a valid output) per presynaptic neuron [C*H*W]."""
        cached = _COUNTS.get(self)
        if cached is not None and cached[0] is self.weights:
            return cached[1]
        rows, cols, vals = conv_entries(self)
        counts = np.bincount(cols[vals != 0], minlength=self.in_size).astype(np.int64)
        _COUNTS[self] = (self.weights, counts)
        return counts

    def dense(self) -> np.ndarray:
        """The (n_post, n_pre) matrix of this conv (for small graphs and tests: it is n_post x n_pre)."""
        rows, cols, vals = conv_entries(self)
        out = np.zeros((self.out_size, self.in_size), self.weights.dtype)
        np.add.at(out, (rows, cols), vals)
        return out


def conv_entries(node: Conv2d) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(post, pre, weight) of every kernel tap that connects a valid output to a valid input, in
    (o, y_out, x_out, i, ky, kx) order: the conv as a sparse matrix (no entry is repeated)."""
    c_out, c_in_g, kh, kw = node.weights.shape
    ho, wo = node.out_hw
    (sh, sw), (ph, pw), (dh, dw) = node.stride, node.padding, node.dilation
    o, oy, ox, i, ky, kx = np.meshgrid(np.arange(c_out), np.arange(ho), np.arange(wo), np.arange(c_in_g),
                                       np.arange(kh), np.arange(kw), indexing="ij")
    y, x = oy * sh - ph + ky * dh, ox * sw - pw + kx * dw
    valid = (y >= 0) & (y < node.in_shape[1]) & (x >= 0) & (x < node.in_shape[2])
    c = o // (c_out // node.groups) * c_in_g + i
    post = ((o * ho + oy) * wo + ox)[valid]
    pre = ((c * node.in_shape[1] + y) * node.in_shape[2] + x)[valid]
    return post.astype(np.int64), pre.astype(np.int64), node.weights[o[valid], i[valid], ky[valid], kx[valid]]


POOLS = ("sum", "avg")


def pool_conv(mode: str, in_shape, kernel, stride=None, padding=0) -> Conv2d:
    """Sum or average pooling of a (C, H, W) image as a depthwise Conv2d (float32 weights 1 or 1/(kh kw))."""
    if mode not in POOLS:
        raise GraphError(f"pooling mode '{mode}' unknown (choose from {', '.join(POOLS)})")
    kh, kw = _pair("kernel_size", kernel, 1, MAX_KERNEL)
    c = integer("in_shape", in_shape[0], 1, MAX_IMAGE)
    value = 1.0 if mode == "sum" else 1.0 / (kh * kw)
    return Conv2d(np.full((c, 1, kh, kw), value, np.float32), delay=0, in_shape=tuple(in_shape),
                  stride=(kh, kw) if stride is None else stride, padding=padding, groups=c)


def foldable_pool(in_shape, kernel, stride, padding) -> str | None:
    """Why a pool cannot fold exactly into the next weight layer, or None when it can: windows that
    tile the image (kernel = stride, no padding, H and W multiples of the kernel)."""
    kh, kw = _pair("kernel_size", kernel, 1, MAX_KERNEL)
    if tuple(_pair("stride", stride, 1, MAX_KERNEL)) != (kh, kw) or tuple(_pair("padding", padding, 0, MAX_KERNEL)) != (0, 0):
        return f"kernel {kh}x{kw} with stride {stride} and padding {padding} (folds only with stride = kernel, no padding)"
    if in_shape[1] % kh or in_shape[2] % kw:
        return f"a {in_shape[1]}x{in_shape[2]} image is not tiled by {kh}x{kw} windows"
    return None


def fold_pool_into_conv(conv: Conv2d, pool_hw: tuple[int, int], factor: float, in_shape) -> Conv2d:
    """conv(pool(x)) as one Conv2d on x, exact for a tiling pool of size s (`foldable_pool`): kernel s k_c,
    stride s s_c, padding s p_c per axis (the conv's zero padding of a pooled pixel is s zero pixels); each
    conv tap becomes an s x s block of `factor` (1 for sum, 1/s^2 for average) times the tap."""
    sh, sw = pool_hw
    if conv.dilation != (1, 1):
        raise GraphError("a pool folds into a Conv2d with dilation 1 only")
    w = np.repeat(np.repeat(conv.weights.astype(np.float64), sh, axis=2), sw, axis=3) * factor
    return Conv2d(w.astype(np.float32), weight_exp=conv.weight_exp, delay=conv.delay, port=conv.port,
                  in_shape=tuple(in_shape), stride=(conv.stride[0] * sh, conv.stride[1] * sw),
                  padding=(conv.padding[0] * sh, conv.padding[1] * sw), groups=conv.groups)


def fold_pool_into_dense(weights: np.ndarray, pooled_shape, pool_hw: tuple[int, int], factor: float) -> np.ndarray:
    """W (n_out, C*H'*W') after a tiling pool -> (n_out, C*H*W) on the pooled image's source: every
    weight of pooled pixel (c, y', x') repeated over its window, times `factor`."""
    c, h, w = pooled_shape
    sh, sw = pool_hw
    grid = weights.reshape(weights.shape[0], c, h, w).astype(np.float64)
    full = np.repeat(np.repeat(grid, sh, axis=2), sw, axis=3) * factor
    return full.reshape(weights.shape[0], -1).astype(np.float32)
