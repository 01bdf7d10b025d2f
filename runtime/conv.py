"""Conv2d synapses in both simulators (compiler/ir/conv.py gives the layout).

Event engine: `deliver_conv` walks each spike's conv fan-out, the outputs whose window holds
it, straight from the kernel (no expanded matrix): work grows with spikes x kernel taps x
output channels per group, as a dense Synapse's grows with spikes x fan-out. Dense reference:
`ConvMatrix`, the conv as the matrix a neuron kind's `step` multiplies by, computed tap by tap
with numpy over the padded image (a different loop order: the two catch each other's index
errors). Both apply the target's conv arithmetic (`registry.conv_arithmetic`): the kernel the
sums use, what the conv process does to its sums (Loihi: a 24-bit wrap), and the exponent the
neuron kind then applies when it joins the sums into its input.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

import numpy as np

from snnc.compiler.ir.conv import Conv2d
from snnc.targets.kernel import kernel
from snnc.targets.registry import conv_arithmetic


class Joined(NamedTuple):
    """What a neuron kind reads of a synapse when it joins the synapse's sums into its input."""

    weight_exp: int
    delay: int
    port: int


@kernel
def deliver_conv(acc, spikes, delay, cap, w, synapse, in_h, in_w, out_h, out_w, sh, sw, ph, pw, dh, dw, groups):
    """acc[b, t + delay, (o, oy, ox)] += min(count, cap) * w[o, i, ky, kx] for every spike of input
    (c, y, x) and every tap with y = oy sh - ph + ky dh, x = ox sw - pw + kx dw; returns synaptic
    events: taps reached that are synapses (`synapse` != 0: the node's nonzero weights, whatever
    the target's kernel makes of them), times the count."""
    B, T, n_pre = spikes.shape
    c_out, c_in_g, kh, kw = w.shape
    out_g, plane, image = c_out // groups, out_h * out_w, in_h * in_w
    n_events = 0
    for b in range(B):
        for t in range(T - delay):
            row = acc[b, t + delay]
            for j in range(n_pre):
                c = spikes[b, t, j]
                if c == 0:
                    continue
                if cap >= 0 and c > cap:
                    c = cap
                ch, y, x = j // image, (j % image) // in_w, j % in_w
                g, i = ch // c_in_g, ch % c_in_g
                for ky in range(kh):
                    ny = y + ph - ky * dh
                    if ny < 0 or ny % sh != 0 or ny // sh >= out_h:
                        continue
                    for kx in range(kw):
                        nx = x + pw - kx * dw
                        if nx < 0 or nx % sw != 0 or nx // sw >= out_w:
                            continue
                        at = (ny // sh) * out_w + nx // sw
                        for o in range(g * out_g, (g + 1) * out_g):
                            if synapse[o, i, ky, kx] != 0:
                                row[o * plane + at] += c * w[o, i, ky, kx]
                                n_events += c
    return n_events


def synapses(node: Conv2d) -> np.ndarray:
    """1 where the node's kernel holds a synapse (a nonzero weight), as int8."""
    return (node.weights != 0).astype(np.int8)


def correlate(w: np.ndarray, s: np.ndarray, node: Conv2d) -> np.ndarray:
    """The conv of one flat input s [C*H*W] with kernel w, tap by tap over the zero-padded image: [n_post]."""
    (c, h, wd), (ph, pw), (sh, sw), (dh, dw) = node.in_shape, node.padding, node.stride, node.dilation
    c_out, c_in_g, kh, kw = w.shape
    ho, wo = node.out_hw
    x = np.pad(np.asarray(s).reshape(c, h, wd), ((0, 0), (ph, ph), (pw, pw)))
    out = np.zeros((c_out, ho, wo), np.result_type(w, x))
    out_g = c_out // node.groups
    for g in range(node.groups):
        chans = x[g * c_in_g:(g + 1) * c_in_g]
        for ky in range(kh):
            for kx in range(kw):
                patch = chans[:, ky * dh: ky * dh + sh * (ho - 1) + 1: sh, kx * dw: kx * dw + sw * (wo - 1) + 1: sw]
                out[g * out_g:(g + 1) * out_g] += np.tensordot(w[g * out_g:(g + 1) * out_g, :, ky, kx], patch, axes=1)
    return out.reshape(-1)


class ConvMatrix:
    """A Conv2d as the matrix the dense reference's neuron kinds multiply by: `m @ s` is the conv
    process's output for spikes s (the target's kernel, then its output arithmetic)."""

    def __init__(self, node: Conv2d, weights: np.ndarray, output: Callable):
        self.node, self.weights, self.output = node, weights, output
        self.shape = (node.out_size, node.in_size)

    def astype(self, dtype, copy: bool = True) -> "ConvMatrix":
        return ConvMatrix(self.node, self.weights.astype(dtype), self.output)

    def __matmul__(self, s: np.ndarray) -> np.ndarray:
        out = correlate(self.weights, s, self.node)
        self.output(out)
        return out


@dataclass
class ConvPlan:
    """A Conv2d prepared once per graph for its target: the kernel its sums use, in each dtype asked."""

    node: Conv2d
    kernel: np.ndarray            # the target's effective kernel (int64 or float64)
    output: Callable              # in place on the conv's sums (its process's output arithmetic)
    joined: Joined
    _cast: dict

    def deliver(self, acc: np.ndarray, spikes: np.ndarray, delay: int, cap: int) -> int:
        """Event engine: every spike's conv fan-out into acc [B, T, n_post], then the output arithmetic."""
        key = acc.dtype.str
        if key not in self._cast:
            self._cast[key] = np.ascontiguousarray(self.kernel, acc.dtype)
        n = self.node
        events = deliver_conv(acc, np.ascontiguousarray(spikes, np.int64), delay, cap, self._cast[key],
                              synapses(n), n.in_shape[1], n.in_shape[2], *n.out_hw, *n.stride, *n.padding, *n.dilation, n.groups)
        self.output(acc)
        return int(events)

    def matrix(self) -> ConvMatrix:
        return ConvMatrix(self.node, self.kernel, self.output)


def conv_plan(target: str, name: str, node: Conv2d) -> ConvPlan:
    """The plan of Conv2d `name` on `target` (DesignRuleError 'conv-support' where the target has none)."""
    arith = conv_arithmetic(target, name)
    return ConvPlan(node, arith.kernel(node), arith.output, Joined(arith.joined_exp(node), node.delay, node.port), {})


def reference_view(target: str, name: str, node: Conv2d) -> NamedTuple:
    """What the dense reference hands a neuron kind's `step` for a Conv2d: weights as a ConvMatrix."""
    plan = conv_plan(target, name, node)
    return _View(plan.matrix(), plan.joined.weight_exp, node.delay, node.port)


class _View(NamedTuple):
    weights: ConvMatrix
    weight_exp: int
    delay: int
    port: int
