"""Dense (one-step, non-spiking) conv layers: `ConvGemm` (a requantising int8 conv, TFLite's CONV_2D) and
`AvgPool` (TFLite's AVERAGE_POOL_2D), for 1-step binary conv nets on edge-int8 (integer) and ideal (float).

Activations are flat channel-major images `(c * H + y) * W + x`, as the spiking IR's (compiler/ir/conv.py).
Geometry is TFLite's, so that the exported CONV_2D / AVERAGE_POOL_2D compute the same outputs:
`padding` "valid" or "same" (tflite/kernels/padding.h ComputePaddingHeightWidth with
ComputeOutSize: valid H_out = (H - k) // s + 1; same H_out = ceil(H / s), total padding
max((H_out - 1) s + k - H, 0), of which total // 2 before the image and the rest after).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from snnc.compiler.ir.checks import as_int64, frozen, image_shape, integer
from snnc.compiler.ir.dense import INT16, DenseLayer, check_requantisation
from snnc.compiler.ir.nodes import register_node
from snnc.errors import GraphError

PADDINGS = ("valid", "same")     # TFLite's Padding enum (schema.fbs: SAME, VALID)
MAX_SIDE = 64                    # estimate: kernel side and stride (compiler/ir/conv.py's MAX_KERNEL)


def tflite_geometry(size: int, k: int, s: int, padding: str) -> tuple[int, int]:
    """(out size, padding before) along one axis, as TFLite's ComputePaddingHeightWidth (dilation 1)."""
    if padding == "valid":
        return (size - k) // s + 1, 0
    out = -(-size // s)
    return out, max((out - 1) * s + k - size, 0) // 2


@dataclass(eq=False)
class _Windowed(DenseLayer):
    """Shared geometry of a windowed layer on a (C, H, W) image."""

    def _check_window(self, kh: int, kw: int) -> None:
        self.in_shape = image_shape(type(self).__name__, self.in_shape)
        stride = self.stride if isinstance(self.stride, (list, tuple, np.ndarray)) else (self.stride, self.stride)
        if len(stride) != 2:
            raise GraphError(f"{type(self).__name__} parameter 'stride' must be one integer or two")
        self.stride = tuple(integer("stride", v, 1, MAX_SIDE) for v in stride)
        if self.padding not in PADDINGS:
            raise GraphError(f"{type(self).__name__} padding '{str(self.padding)[:20]}' unknown (TFLite's: "
                             f"{', '.join(PADDINGS)})")
        if self.padding == "valid" and (kh > self.in_shape[1] or kw > self.in_shape[2]):
            raise GraphError(f"{type(self).__name__} window {kh}x{kw} is larger than the image "
                             f"{self.in_shape[1]}x{self.in_shape[2]} (padding 'valid')")

    def geometry(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """((H_out, W_out), (pad_top, pad_left))."""
        (oh, pt), (ow, pl) = (tflite_geometry(n, k, s, self.padding) for n, k, s in
                              zip(self.in_shape[1:], self.window, self.stride))
        return (oh, ow), (pt, pl)

    in_size = property(lambda self: math.prod(self.in_shape))
    out_size = property(lambda self: math.prod(self.out_shape))


@register_node
@dataclass(eq=False)
class ConvGemm(_Windowed):
    """A requantising 2-D convolution (TFLite CONV_2D, per-channel int8; groups 1, dilation 1).

    Float (ideal; float32 weights): y[o, p] = float32(sum_{i,ky,kx} W[o,i,ky,kx] x[i, tap] + bias_o), float64
    sums, taps in the padding read 0. Integer (edge-int8; int8 weights held int64), per output channel o:
      acc[o, p] = wrap32(sum W[o, i, ky, kx] * (x[i, tap] - input_zero_point) + bias_o)   (padding taps skipped,
                  as TFLite's is_point_inside_image: a zero centred value)
    then requantised with `multiplier[o]`, `shift[o]`, zero points and clamp exactly as a Gemm's (dense.py), or
    left as the int32 accumulator (requantise=False: read by a Step).
    weights (C_out, C_in, kh, kw) correlation kernel (PyTorch's layout; TFLite's OHWI is a transpose).
    """

    weights: np.ndarray
    in_shape: tuple = (1, 1, 1)
    stride: tuple = (1, 1)
    padding: str = "valid"
    bias: np.ndarray = 0.0
    multiplier: np.ndarray = 0
    shift: np.ndarray = 0
    input_zero_point: int = 0
    output_zero_point: int = 0
    act_min: int = -128
    act_max: int = 127
    requantise: bool = True

    def check(self):
        w = np.asarray(self.weights)
        if w.ndim != 4 or 0 in w.shape or max(w.shape[2:]) > MAX_SIDE:
            raise GraphError(f"ConvGemm weights must be 4-D (C_out, C_in, kh, kw) with sides <= {MAX_SIDE}, "
                             f"got shape {w.shape}")
        if w.dtype.kind == "f":
            if not np.all(np.isfinite(w)):
                raise GraphError("ConvGemm weights must be finite")
            self.weights = frozen(np.ascontiguousarray(w, np.float32))
        else:
            self.weights = frozen(np.ascontiguousarray(as_int64("weights", w)))
            if w.min() < -128 or w.max() > 127:
                raise GraphError(f"ConvGemm integer weights must be int8 values, got [{w.min()}, {w.max()}]")
        self._check_window(*self.window)
        if self.in_shape[0] != w.shape[1]:
            raise GraphError(f"ConvGemm weights {w.shape} take {w.shape[1]} channels, the input has {self.in_shape[0]}")
        check_requantisation(self, w.shape[0])

    window = property(lambda self: (int(self.weights.shape[2]), int(self.weights.shape[3])))
    integer = property(lambda self: self.weights.dtype == np.int64)
    out_shape = property(lambda self: (int(self.weights.shape[0]), *self.geometry()[0]))
    channels = property(lambda self: int(self.weights.shape[0]))


@register_node
@dataclass(eq=False)
class AvgPool(_Windowed):
    """Average pooling of each channel (TFLite AVERAGE_POOL_2D), over the window's taps inside the image
    (`count`; padding taps are not counted, as TFLite's filter_x_start/end clamp).
    Float: y = float32(sum / count). Integer (int8/int16 values, the output keeps the input's scale and zero
    point, as TFLite requires): acc = sum of the raw values, y = clamp(acc > 0 ? (acc + count/2) / count
    : (acc - count/2) / count, act_min, act_max) with C's truncating '/': round half away from zero
    (tflite/kernels/internal/reference/integer_ops/pooling.h, AveragePool)."""

    in_shape: tuple = (1, 1, 1)
    kernel: tuple = (2, 2)
    stride: tuple = (2, 2)
    padding: str = "valid"
    act_min: int = -128
    act_max: int = 127
    integer_mode: bool = False   # True on edge-int8 (integer rounding), False on ideal

    def check(self):
        k = self.kernel if isinstance(self.kernel, (list, tuple, np.ndarray)) else (self.kernel, self.kernel)
        if len(k) != 2:
            raise GraphError("AvgPool parameter 'kernel' must be one integer or two")
        self.kernel = tuple(integer("kernel", v, 1, MAX_SIDE) for v in k)
        self._check_window(*self.kernel)
        self.act_min = integer("act_min", self.act_min, *INT16)
        self.act_max = integer("act_max", self.act_max, self.act_min, INT16[1])
        if not isinstance(self.integer_mode, (bool, np.bool_)):
            raise GraphError(f"AvgPool parameter 'integer_mode' must be true or false, got {self.integer_mode!r}")
        self.integer_mode = bool(self.integer_mode)

    window = property(lambda self: self.kernel)
    integer = property(lambda self: self.integer_mode)
    out_shape = property(lambda self: (self.in_shape[0], *self.geometry()[0]))


def window_index(node: _Windowed) -> np.ndarray:
    """idx [C, P, kh kw]: for each channel, output pixel and window tap (ky, kx), the flat channel-major index
    of the input value it reads, or C H W (one past the image: a padding slot) where the tap falls outside."""
    c, h, w = node.in_shape
    kh, kw = node.window
    (oh, ow), (pt, pl) = node.geometry()
    ch, oy, ox, ky, kx = np.meshgrid(np.arange(c), np.arange(oh), np.arange(ow), np.arange(kh), np.arange(kw),
                                     indexing="ij")
    y, x = oy * node.stride[0] - pt + ky, ox * node.stride[1] - pl + kx
    inside = (y >= 0) & (y < h) & (x >= 0) & (x < w)
    return np.where(inside, (ch * h + y) * w + x, c * h * w).reshape(c, oh * ow, kh * kw).astype(np.int64)


def conv_index(node: ConvGemm) -> np.ndarray:
    """idx [P, C kh kw]: a ConvGemm's receptive field of every output pixel, taps in (i, ky, kx) order (the
    order of weights.reshape(C_out, -1)); padding taps read index C H W."""
    idx = window_index(node)
    return np.ascontiguousarray(idx.transpose(1, 0, 2).reshape(idx.shape[1], -1))
