"""`loihi`'s Conv2d: Lava 0.10.0's Conv process under fixed_pt (`PyConvModelFixed`), bit for bit.

Read from lava/proc/conv/models.py and utils.py (lava-nc 0.10.0):
- `run_spk` sends last step's `a_buf`, then computes this step's: one step of delay, like Dense.
- `utils.conv` is `conv_scipy` (Lava disables torch inside its processes): a *true* convolution,
  `signal.convolve2d(input[:, :, c], weight[k, :, :, c], 'valid')` over (W, H) in float64, then
  `astype(int32)`. Inputs are (W, H, C), weights (C_out, kw, kh, C_in). So the IR's correlation kernel
  W (C_out, C_in, kh, kw) goes in flipped and transposed: `lava_weights`.
- `clamp_precision` is `signed_clamp(x, 24)` = `(x + 2^23) % 2^24 - 2^23`: despite its name a 24-bit
  *wrap*, not a saturation (`wrap24` here).
- `weight_exp` is stored and never applied, and weights are neither clipped nor LSB-truncated (unlike
  Dense's bit-accurate model). The IR's `weight_exp` therefore reaches Lava as pre-shifted weights,
  as a per-synapse exponent on the chip scales each weight: `w << e` for e >= 0, `w >> -e` (floor)
  for e < 0 (`kernel`). Weights are 8-bit mantissas as a Dense's (rule `conv-weight-format`).
- The float64 sum is exact (|sum| < 2^53) but `astype(int32)` is not defined beyond int32: rule
  `conv-sum-range` keeps every receptive field's sum of |effective weight| below 2^31.
The conv's output then joins the LIF's a_in as a Dense's a_out does (int32 sum of the ports), with no
further shift (`joined_exp` 0).

Layout for Lava: a population that a Conv reads or writes is Lava's (W, H, C) array, flattened
C-order, `index = (x * H + y) * C + c`; the IR's is channel-major (C, H, W). `lava_order(shape)`
gives, for each Lava index, the IR index: a Dense after a conv population takes its weight columns
in that order (`dense_columns_for_lava`), an input image goes in as `x.reshape(C, H, W).transpose(2, 1, 0)`.
"""
from __future__ import annotations

import numpy as np

from snnc.compiler.ir.conv import Conv2d
from snnc.errors import DesignRuleError
from snnc.targets.base import Range
from snnc.targets.kernel import kernel
from snnc.targets.registry import ConvArithmetic, register_conv

CONV_OUT_BITS = 24     # PyConvModelFixed.clamp_precision: signed_clamp(x, bits=24)
CONV_SUM_LIMIT = 2**31  # conv_scipy's float64 sum goes through astype(int32)
WEIGHT = Range(-255, 255, "our choice: 8-bit magnitudes and a sign, as Dense's one-sign weights (Lava's Conv "
                          "declares weight precision 8 and num_weight_bits 8 but neither clips nor truncates)")


def effective_kernel(node: Conv2d) -> np.ndarray:
    """The kernel Lava's Conv holds: mantissas pre-shifted by weight_exp (floor for e < 0), int64."""
    w, e = np.asarray(node.weights, np.int64), int(node.weight_exp)
    return w << e if e >= 0 else w >> -e


@kernel
def _wrap24_flat(x):
    half = np.int64(1) << np.int64(CONV_OUT_BITS - 1)
    for i in range(x.shape[0]):
        x[i] = ((np.int64(x[i]) + half) & (2 * half - 1)) - half


def wrap24(sums: np.ndarray) -> None:
    """Lava's signed_clamp(x, 24), in place: the two's-complement wrap to 24 bits."""
    _wrap24_flat(sums.reshape(-1))


def lava_weights(node: Conv2d) -> np.ndarray:
    """The Conv process's `weight` (C_out, kw, kh, C_in): the effective kernel, flipped (true convolution)."""
    return np.ascontiguousarray(effective_kernel(node)[:, :, ::-1, ::-1].transpose(0, 3, 2, 1))


def lava_params(node: Conv2d) -> dict:
    """Keyword arguments of lava.proc.conv.process.Conv for this node ((x, y) order; weight_exp 0:
    already in the weights)."""
    c, h, w = node.in_shape
    return {"weight": lava_weights(node), "weight_exp": 0, "input_shape": (w, h, c),
            "padding": node.padding[::-1], "stride": node.stride[::-1], "dilation": node.dilation[::-1],
            "groups": node.groups}


def lava_order(shape) -> np.ndarray:
    """For each index of Lava's flat (W, H, C) array, the IR's channel-major index of the same value."""
    c, h, w = shape
    return np.arange(c * h * w).reshape(c, h, w).transpose(2, 1, 0).reshape(-1)


def dense_columns_for_lava(weights: np.ndarray, shape) -> np.ndarray:
    """A Dense's weights (n_out, C*H*W) reordered for a source population that Lava holds as (W, H, C)."""
    return np.ascontiguousarray(weights[:, lava_order(shape)])


def sum_bound(node: Conv2d) -> int:
    """The largest |sum| one output can receive from binary spikes: max over outputs of sum |w_eff|."""
    return int(np.abs(effective_kernel(node)).sum(axis=(1, 2, 3)).max(initial=0))


# --- design rules -------------------------------------------------------------

def rule_conv_weight_format(graph) -> None:
    for name, node in graph.of_type(Conv2d).items():
        if node.weights.dtype.kind != "i" or not WEIGHT.holds(node.weights):
            raise DesignRuleError("conv-weight-format", name, f"Conv2d weights must be integer mantissas in {WEIGHT}")


def rule_conv_sum_range(graph) -> None:
    """Lava's conv sums in float64 and casts to int32: every output's sum must stay below 2^31."""
    for name, node in graph.of_type(Conv2d).items():
        bound = sum_bound(node)
        if bound >= CONV_SUM_LIMIT:
            raise DesignRuleError("conv-sum-range", name, f"one output can sum {bound} (>= 2^31), which Lava's "
                                  "Conv casts to int32 undefined; lower weight_exp")


RULES = (rule_conv_weight_format, rule_conv_sum_range)

CONV = register_conv("loihi", ConvArithmetic(kernel=effective_kernel, output=wrap24, joined_exp=lambda node: 0))
