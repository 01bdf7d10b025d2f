"""Quantise a Conv2d for Lava's Conv process (targets/loihi/conv.py gives its arithmetic).

The same population scale S as a Dense (targets/loihi/quantise.py): a spike's float weight w
becomes `w S / 64` a_in units. Lava's Conv applies no exponent of its own: the IR's weight_exp is
a pre-shift of each mantissa. So the effective weight is the integer `round(w S / 64)`, and the
exponent only makes it fit 8 bits: e = max(0, ceil(log2(max|w| S / (64 * 255)))), mantissa
`round(w S / (64 * 2^e))` in [-255, 255] (one sign or mixed: Conv truncates nothing). A negative
exponent is never chosen: pre-shifting floors each weight, which only loses levels.
"""
from __future__ import annotations

import math

import numpy as np

from snnc.compiler.ir import Conv2d
from snnc.targets.loihi.conv import WEIGHT
from snnc.targets.loihi.lif import WEIGHT_EXP_RANGE


def quantise_conv(name: str, syn: Conv2d, scale: float, ctx) -> Conv2d:
    w = syn.weights.astype(np.float64)
    wmax = float(np.abs(w).max())
    e = max(0, math.ceil(math.log2(wmax * scale / (64.0 * WEIGHT.hi)))) if wmax > 0 else 0
    e = min(e, WEIGHT_EXP_RANGE[1])
    q = 2.0 ** (e + 6) / scale
    w_int = np.clip(np.round(w / q), WEIGHT.lo, WEIGHT.hi).astype(np.int64)
    err = float(np.linalg.norm(w - w_int * q) / max(np.linalg.norm(w), 1e-30))
    ctx.layer(name).update(weight_exp=e, weight_lsb=q, weight_bits=9, weight_rel_error=err, conv=True,
                           weight_max_int=int(np.abs(w_int).max(initial=0)), kernel_weights=int(w_int.size),
                           synapses=int(np.count_nonzero(w_int)))
    return Conv2d(w_int, weight_exp=e, delay=syn.delay, port=syn.port, in_shape=syn.in_shape, stride=syn.stride,
                  padding=syn.padding, dilation=syn.dilation, groups=syn.groups)
