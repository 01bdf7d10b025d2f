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
from snnc.runtime.kernels import add_row
from snnc.targets.kernel import kernel
from snnc.targets.registry import conv_arithmetic


class Joined(NamedTuple):
    """What a neuron kind reads of a synapse when it joins the synapse's sums into its input."""

    weight_exp: int
    delay: int
    port: int


@kernel(refcounts=False)
def deliver_conv(acc, spikes, delay, cap, wt, taps, rows, cols, tmp, out_w, groups):
    """acc[b, t + delay, (o, oy, ox)] += min(count, cap) * w[o, i, ky, kx] for every spike of input
    (c, y, x) and every tap with oy = rows[y, ky] and ox = cols[x, kx] (`tap_table`: -1 where the
    tap reaches no output); returns synaptic events: taps reached that are synapses (taps[g, i,
    ky, kx]: the node's nonzero weights of group g, whatever the target's kernel makes of them),
    times the count.

    wt is the kernel as (C_in/groups, kh, kw, C_out) with 0 where the node has no synapse: one tap's
    output channels side by side, added into tmp [(oy, ox), C_out] (position-major: a vector of
    adds a tap) for each step with a spike, then written to the channel-major slot, which starts at
    zero (acc: one synapse's). Each output's terms are added in the same order as one by one
    (spikes ascending, then ky, kx); a zero weight adds nothing (tmp is never -0.0). Compiled
    without reference counts: taking a step's slot is free (no atomic count shared by threads)."""
    B, T, n_pre = spikes.shape
    c_in_g, kh, kw, c_out = wt.shape
    in_h, in_w = rows.shape[0], cols.shape[0]
    out_g, plane = c_out // groups, tmp.shape[0] // c_out
    n_events = 0
    for b in range(B):
        for t in range(T - delay):
            spiked = False
            j = 0
            for ch in range(n_pre // (in_h * in_w)):
                g, i = ch // c_in_g, ch % c_in_g
                for y in range(in_h):
                    for x in range(in_w):
                        c = spikes[b, t, j]
                        j += 1
                        if c == 0:
                            continue
                        if not spiked:
                            for k in range(tmp.shape[0]):
                                tmp[k] = 0
                            spiked = True
                        if cap >= 0 and c > cap:
                            c = cap
                        for ky in range(kh):
                            oy = rows[y, ky]
                            if oy < 0:
                                continue
                            for kx in range(kw):
                                ox = cols[x, kx]
                                if ox < 0:
                                    continue
                                add_row(tmp, (oy * out_w + ox) * c_out + g * out_g, wt[i, ky, kx], g * out_g,
                                        out_g, c)
                                n_events += c * taps[g, i, ky, kx]
            if spiked:
                row = acc[b, t + delay]
                for o in range(c_out):
                    for at in range(plane):
                        row[o * plane + at] = tmp[at * c_out + o]
    return n_events


def synapses(node: Conv2d) -> np.ndarray:
    """1 where the node's kernel holds a synapse (a nonzero weight), as int8."""
    return (node.weights != 0).astype(np.int8)


def tap_table(size: int, taps: int, out: int, stride: int, pad: int, dilation: int) -> np.ndarray:
    """[size, taps] int64: the output position oy that input position y reaches through tap k
    (y = oy stride - pad + k dilation), or -1 where that oy is not a whole output position in
    [0, out): the divisions done once per node instead of per spike and tap."""
    ny = np.arange(size)[:, None] + pad - np.arange(taps)[None, :] * dilation
    ok = (ny >= 0) & (ny % stride == 0) & (ny // stride < out)
    return np.where(ok, ny // stride, -1).astype(np.int64)


def group_taps(node: Conv2d) -> np.ndarray:
    """taps[g, i, ky, kx]: the synapses of input channel i of group g at tap (ky, kx), over the
    group's output channels (int64)."""
    s = synapses(node).astype(np.int64)
    return s.reshape(node.groups, -1, *s.shape[1:]).sum(axis=1)


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


def walk(node: Conv2d, kernel: np.ndarray, acc: np.ndarray, spikes: np.ndarray, delay: int, cap: int,
         cache: dict | None = None) -> int:
    """`deliver_conv` of spikes [B, T, n_pre] with `kernel` (the node's shape) into acc [B, T, n_post]
    (zeros), from the tables it takes (built here, or kept in `cache` between calls); its events."""
    cache = {} if cache is None else cache
    key = acc.dtype.str
    if key not in cache:   # (C_in/groups, kh, kw, C_out), zero where no synapse
        cache[key] = np.ascontiguousarray((kernel * synapses(node)).transpose(1, 2, 3, 0), acc.dtype)
    if "tables" not in cache:   # taps per group; output row and column of each input position and tap
        kh, kw = node.weights.shape[2:]
        (h, w), (oh, ow) = node.in_shape[1:], node.out_hw
        cache["tables"] = (group_taps(node), tap_table(h, kh, oh, node.stride[0], node.padding[0], node.dilation[0]),
                           tap_table(w, kw, ow, node.stride[1], node.padding[1], node.dilation[1]))
    return int(deliver_conv(acc, np.ascontiguousarray(spikes, np.int64), delay, cap, cache[key], *cache["tables"],
                            np.zeros(node.out_size, acc.dtype), node.out_hw[1], node.groups))


@dataclass
class ConvPlan:
    """A Conv2d prepared once per graph for its target: the kernel its sums use, in each dtype asked."""

    node: Conv2d
    kernel: np.ndarray            # the target's effective kernel (int64 or float64)
    output: Callable              # in place on the conv's sums (its process's output arithmetic)
    joined: Joined
    _cast: dict

    def deliver(self, acc: np.ndarray, spikes: np.ndarray, delay: int, cap: int) -> int:
        """Event engine: every spike's conv fan-out into acc [B, T, n_post] (zeros: one synapse's),
        then the output arithmetic."""
        events = walk(self.node, self.kernel, acc, spikes, delay, cap, self._cast)
        self.output(acc)
        return events

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
