"""Quantise the laid-out float graph into xylosim's integers (XyloIAF, int8 weights).

Xylo adds `int16(w << shift)` per input spike to a 16-bit saturating synaptic
state, which then decays by the bit shift, so i = alpha (i + W x) with integer
W = w << shift. Every original hidden layer k gets one scale S_k (integer state
= float state x S_k; thresholds are per neuron, so layers may differ), the
readout its own. Each weight matrix (w_in, w_rec, w_out) has ONE shift (xylosim
weight_shift_inp/_rec/_out, 0..7 here), shared by all blocks in it. Per layer:

    S_k = min( (32767 - 1) / theta            threshold is int16
               32767 / MARGIN / peak |v|      v saturates at 16 bits
               32767 / MARGIN / peak |i|/alpha  i (before its decay) saturates
               127 * 2^7 / max|W_block| )     int8 weights at the largest shift
    shift_M = ceil(log2(max over blocks of max|W_block| S_k / 127)), clipped to the 3-bit field [0, 7]
    threshold = floor(theta S_k) + 1: Xylo fires at v >= threshold, the trained net at v > theta.

A readout that spikes in the graph (a NIR net's spiking output population) keeps its
threshold the same way (Xylo's output neurons spike, at most once a step) and its spike
counts are decoded with gain 1; a non-spiking readout gets the unreachable 32767 and v is
read, gain 1 / S_out.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from snnc.compiler.ir import Graph, Synapse, XyloIAF
from snnc.compiler.ir.nodes import NON_SPIKING
from snnc.compiler.passes.base import Pass, copy_graph
from snnc.compiler.passes.calibrate import peaks
from snnc.targets.xylo.layout import HIDDEN, READOUT
from snnc.errors import DesignRuleError
from snnc.targets.xylo import RANGES, STATE_MAX

MARGIN = 2.0                           # estimate: headroom over the calibration peaks for unseen inputs
SHIFT_MAX = RANGES["weight_shift"].hi  # 3-bit weight shift fields
INT8 = RANGES["weight"].hi


class QuantiseXylo(Pass):
    name = "quantise-xylo"

    def run(self, graph: Graph, ctx) -> Graph:
        calib = peaks(graph, ctx.calib_x)
        hid, ro = graph.nodes[HIDDEN], graph.nodes[READOUT]
        rows = dict(ctx.blocks)
        s_hid = np.zeros(hid.size)
        for layer, (a, b) in rows.items():
            s_hid[a:b] = self._scale(layer, hid, slice(a, b), graph, calib[HIDDEN], ctx)
        s_out = self._scale(READOUT, ro, slice(0, ro.size), graph, calib[READOUT], ctx)
        out = copy_graph(graph, "xylo")
        for syn_name, syn, _ in graph.incoming(HIDDEN) + graph.incoming(READOUT):
            dst = graph.successors(syn_name)[0]
            scale = s_hid if dst == HIDDEN else np.full(ro.size, s_out)
            alpha = (hid if dst == HIDDEN else ro).alpha.astype(np.float64)
            out.nodes[syn_name] = self._synapse(syn_name, syn, scale, alpha, ctx)
        out.nodes[HIDDEN] = self._neuron(hid, s_hid, spiking=True)
        out.nodes[READOUT] = self._neuron(ro, np.full(ro.size, s_out), spiking=spiking(ro))
        (out_name,) = out.outputs
        if out.nodes[out_name].read == "v":   # v is in integer units; spike counts are counts
            out.nodes[out_name] = dataclasses.replace(out.nodes[out_name], gain=out.nodes[out_name].gain / s_out)
        self._report(ctx, rows, hid, s_hid, ro, s_out, calib)
        return out

    def _scale(self, layer, node, rows, graph, calib, ctx) -> float:
        theta = float(node.vth[rows].max())
        alpha = float(node.alpha[rows].max())
        limits = {"state v": STATE_MAX / MARGIN / max(calib["v"][rows].max(), 1e-12),
                  "state i": STATE_MAX / MARGIN * alpha / max(calib["i"][rows].max(), 1e-12)}
        if (layer != READOUT or spiking(node)) and theta > 0:  # theta = 0 is threshold 1 (v >= 1, i.e. v > 0) at any scale
            limits["threshold"] = (STATE_MAX - 1) / theta
        for syn_name, syn, _ in graph.incoming(READOUT if layer == READOUT else HIDDEN):
            w = np.abs(syn.weights[rows]).max(initial=0) / alpha
            if w > 0:
                limits[f"weights of {syn_name}"] = INT8 * 2.0 ** SHIFT_MAX / w
        bmax = float(np.abs(node.bias[rows]).max(initial=0.0))
        if bmax > 0:  # the int16 bias is never clipped: the scale gives way
            limits["bias"] = STATE_MAX / bmax
        binding = min(limits, key=limits.get)
        scale = limits[binding]
        ctx.layer(layer).update(scale=scale, scale_limited_by=binding)
        if (layer != READOUT or spiking(node)) and math.floor(theta * scale) + 1 > STATE_MAX:
            raise DesignRuleError("threshold-range", layer, f"threshold {theta:g} x scale {scale:.3g} exceeds int16")
        return scale

    def _synapse(self, name, syn: Synapse, scale: np.ndarray, alpha: np.ndarray, ctx) -> Synapse:
        w = syn.weights.astype(np.float64) / alpha[:, None] * scale[:, None]   # integer units, before shift
        wmax = float(np.abs(w).max(initial=0))
        shift = int(np.clip(math.ceil(math.log2(wmax / INT8)) if wmax > 0 else 0, 0, SHIFT_MAX))
        w_int = np.clip(np.round(w / 2.0 ** shift), -INT8 - 1, INT8).astype(np.int64)
        err = float(np.linalg.norm(w - w_int * 2.0 ** shift) / max(np.linalg.norm(w), 1e-30))
        ctx.layer(name).update(weight_shift=shift, weight_bits=8, weight_rel_error=err,
                               weight_max_int=int(np.abs(w_int).max(initial=0)),
                               synapses=int(np.count_nonzero(w_int)))
        return Synapse(w_int, weight_exp=shift, delay=syn.delay, port=0)

    def _neuron(self, node, scale: np.ndarray, spiking: bool) -> XyloIAF:
        dash_mem = _dash(node.beta)
        dash_syn = _dash(node.alpha)[:, None]
        if spiking:
            threshold = np.clip(np.floor(node.vth.astype(np.float64) * scale) + 1, 1, STATE_MAX)
            max_spikes = node.max_spikes
        else:
            threshold, max_spikes = np.full(node.size, STATE_MAX), 1
        bias = np.round(node.bias.astype(np.float64) * scale)   # within int16: `_scale` bounds it
        return XyloIAF(node.size, threshold=threshold.astype(np.int64), bias=bias.astype(np.int64),
                       dash_mem=dash_mem, dash_syn=dash_syn, max_spikes=max_spikes)

    def _report(self, ctx, rows, hid, s_hid, ro, s_out, calib) -> None:
        for layer, (a, b) in rows.items():
            theta = float(hid.vth[a:b].max())
            th_int = math.floor(theta * s_hid[a]) + 1
            ctx.layer(layer).update(neurons=b - a, threshold=th_int,
                                    threshold_rel_error=abs(th_int / s_hid[a] - theta) / theta if theta else 0.0,
                                    peak_state_fraction=float(calib[HIDDEN]["v"][a:b].max() * s_hid[a] / STATE_MAX))
        layers = [ctx.layers[layer] for layer in rows]
        ctx.layer(HIDDEN).update(threshold=max(r["threshold"] for r in layers),
                                 threshold_rel_error=max(r["threshold_rel_error"] for r in layers),
                                 peak_state_fraction=max(r["peak_state_fraction"] for r in layers))
        th_out = math.floor(float(ro.vth.max()) * s_out) + 1 if spiking(ro) else STATE_MAX
        ctx.layer(READOUT).update(neurons=ro.size, threshold=th_out, spiking=spiking(ro),
                                  peak_state_fraction=float(calib[READOUT]["v"].max() * s_out / STATE_MAX))


def spiking(node) -> bool:
    """A population that spikes (a readout too: Xylo's output neurons spike, at most once a step)."""
    return bool(np.all(node.vth < NON_SPIKING))


def _dash(decay: np.ndarray) -> np.ndarray:
    """dash with 1 - 2^-dash == decay (the neuron-mapping pass chose representable decays)."""
    hi = RANGES["dash_mem"].hi
    decay = decay.astype(np.float64)
    return np.clip(np.round(-np.log2(np.maximum(1.0 - decay, 2.0 ** -hi))), 0, hi).astype(np.int64)
