"""A Conv2d synapse (compiler/ir/conv.py) as ONNX ops, exactly as the target's conv arithmetic sums it.

onnxruntime (1.32, CPU) runs `Conv` in float32 only (float64 and integer Conv have no kernel: "Could
not find an implementation for Conv(11)"), and float32 sums are not the integers the chips compute
nor the float64 sums `ideal` computes. So the conv is written as what it is, a matrix product over
receptive fields (im2col):

    patches = Gather(Pad(s, one zero column), idx, axis=1)      [B, G, P, K]
    sums    = MatMul(patches, Wg)                                 [B, G, P, C_out/G]
    a       = Reshape(Transpose(sums, (0, 1, 3, 2)), [B, C_out P])  channel-major, as the IR's populations

with P = H_out W_out output pixels, K = C_in/G kh kw taps, idx[g, p, k] the flat channel-major
index of tap k of output pixel p in group g (the padding column, index C H W, where the tap falls
in the zero padding), Wg[g, k, j] the target's kernel (`ConvArithmetic.kernel`: Loihi's pre-shifted
mantissas, ideal's float weights) of output channel g C_out/G + j. Integer sums go through
`Builder.matmul` (float64 where no partial sum can reach 2^53, int64 beyond: exact in any order);
ideal's in float64 as its Dense (targets/ideal/onnx_kind.py). The neuron kind's lowering then
applies the conv process's output arithmetic (`Lowering.conv_output`: Loihi's 24-bit wrap).
"""
from __future__ import annotations

import numpy as np

from snnc.compiler.export.onnx_ops import Builder
from snnc.compiler.ir.conv import Conv2d


def patch_index(node: Conv2d) -> np.ndarray:
    """idx [G, P, K]: the flat input index of every tap of every output pixel, per group; taps in
    the zero padding point at index C H W (the appended zero column)."""
    c, h, w = node.in_shape
    c_out, c_in_g, kh, kw = node.weights.shape
    ho, wo = node.out_hw
    (sh, sw), (ph, pw), (dh, dw) = node.stride, node.padding, node.dilation
    g, oy, ox, i, ky, kx = np.meshgrid(np.arange(node.groups), np.arange(ho), np.arange(wo), np.arange(c_in_g),
                                       np.arange(kh), np.arange(kw), indexing="ij")
    y, x = oy * sh - ph + ky * dh, ox * sw - pw + kx * dw
    inside = (y >= 0) & (y < h) & (x >= 0) & (x < w)
    flat = ((g * c_in_g + i) * h + y) * w + x
    idx = np.where(inside, flat, c * h * w)
    return idx.reshape(node.groups, ho * wo, c_in_g * kh * kw).astype(np.int64)


def group_kernel(kernel: np.ndarray, groups: int) -> np.ndarray:
    """Wg [G, K, C_out/G] from a (C_out, C_in/G, kh, kw) kernel, taps in (i, ky, kx) order."""
    c_out = kernel.shape[0]
    return np.ascontiguousarray(kernel.reshape(groups, c_out // groups, -1).transpose(0, 2, 1))


def conv_sums(b: Builder, node: Conv2d, kernel: np.ndarray, s_pre: str, cap: float) -> str:
    """The conv's sums [B, C_out H_out W_out] of s_pre [B, C H W] with the target's kernel: int64 for an
    integer kernel (exact: `Builder.matmul`), float64 for a float one (s_pre float32 or float64)."""
    padded = b.op("Pad", s_pre, b.i64([0, 0, 0, 1]))   # the zero column taps in the padding read
    patches = b.op("Gather", padded, b.i64(patch_index(node), "patches"), axis=1)
    wg = group_kernel(kernel, node.groups)
    if kernel.dtype.kind == "f":
        sums = b.op("MatMul", b.op("Cast", patches, to=11), b.const(wg, np.float64, "w"))
    else:
        bound = float(np.abs(kernel.astype(np.float64)).sum(axis=(1, 2, 3)).max(initial=0)) * cap
        sums = b.matmul(patches, b.i64(wg, "w"), bound)
    return b.op("Reshape", b.op("Transpose", sums, perm=[0, 1, 3, 2]), b.i64([0, -1]))
