"""Quantise a mapped float graph into Lava's Loihi integers (LoihiLIF, 8-bit Dense).

Per population one scale S (integer state = float state x S). A Dense with
integer weights w, exponent e delivers u += (w . s << e) << 6, so its float
weight per integer step is q = 2^(e + 6) / S. Per population:

    S = min(vth range, u/v peaks, weight range) with
      vth = round(theta S / 64) <= 2^17 - 1     (17-bit threshold mantissa, Lava)
      peak |v| S, peak |u| S <= 2^23 / MARGIN    (24-bit u wraps, v saturates)
      e <= 7 for every incoming Dense            (weight_exp in [-8, 7])
    per Dense: e = ceil(log2(q_min S / 64)), q_min = max|W| / 254 (mixed signs:
    even 9-bit values, Lava truncates the LSB) or / 255 (one sign), so the
    weights use between half and all of the 8-bit range.
A non-spiking readout gets vth = 2^17 - 1, above every state it can reach
(peak |v| S <= 2^22 < 131071 << 6). Biases: bias_mant << bias_exp = round(b S).
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from snnc.compiler.ir import FloatLIF, Graph, LoihiLIF, Synapse
from snnc.compiler.ir.nodes import NON_SPIKING
from snnc.compiler.passes.base import Pass, copy_graph
from snnc.compiler.passes.calibrate import peaks
from snnc.errors import DesignRuleError
from snnc.targets.loihi import MAX_UV as STATE_MAX
from snnc.targets.loihi import RANGES, WEIGHT_EXP_RANGE, effective_weights

VTH_MAX = RANGES["vth"].hi               # 17-bit threshold mantissa
BIAS_MANT_MAX = RANGES["bias_mant"].hi   # 13-bit signed bias mantissa
BIAS_EXP_MAX = RANGES["bias_exp"].hi
BIAS_MAX = BIAS_MANT_MAX << BIAS_EXP_MAX     # 4095 << 7 = 524,160: the largest |bias_mant << bias_exp| (both signs)
MARGIN = 2.0               # estimate: headroom over the calibration peaks for unseen inputs
MIN_WEIGHT_LEVELS = 8      # our choice: fewer integer levels than this for the largest weight is no network


class QuantiseLoihi(Pass):
    name = "quantise-loihi"

    def run(self, graph: Graph, ctx) -> Graph:
        calib = peaks(graph, ctx.calib_x)
        out = copy_graph(graph, "loihi")
        for name in graph.neuron_order():
            node = graph.nodes[name]
            incoming = graph.incoming(name)
            scale = self._scale(name, node, incoming, calib[name])
            for syn_name, syn, _ in incoming:
                out.nodes[syn_name] = self._synapse(syn_name, syn, scale, ctx)
            out.nodes[name] = self._neuron(name, node, scale, ctx, calib[name])
        (out_name,) = out.outputs
        readout = graph.predecessors(out_name)[0]
        output = out.nodes[out_name]
        if output.read == "v":   # v is in integer units; spike counts are counts (gain unchanged)
            out.nodes[out_name] = dataclasses.replace(output, gain=output.gain / ctx.layer(readout)["scale"])
        return out

    def _scale(self, name, node: FloatLIF, incoming, calib) -> float:
        theta = float(node.vth.max())
        limits = {"state": STATE_MAX / MARGIN / max(calib["v"].max(), calib["i"].max(), 1e-12)}
        if 0 < theta < NON_SPIKING:  # theta = 0 is vth = 0 (fires at v > 0) at any scale
            limits["vth"] = 64.0 * VTH_MAX / theta
        for syn_name, syn, _ in incoming:
            wmax = float(np.abs(syn.weights).max())
            if wmax > 0:
                limits[f"weights of {syn_name}"] = 64.0 * 2.0 ** WEIGHT_EXP_RANGE[1] * 254 / wmax
        bmax = float(np.abs(node.bias).max(initial=0.0))
        if bmax > 0:  # the bias must fit bias_mant << bias_exp: never clipped, the scale gives way
            limits["bias"] = BIAS_MAX / bmax
        binding = min(limits, key=limits.get)
        scale = limits[binding]
        if 0 < theta < NON_SPIKING and round(theta * scale / 64.0) < 1:
            raise DesignRuleError("vth-range", name, f"threshold {theta:g} rounds to 0 at the largest scale "
                                  f"the {binding} allow ({scale:.3g})")
        for syn_name, syn, _ in incoming:
            levels = float(np.abs(syn.weights).max()) * scale / 64.0 * 2.0 ** -WEIGHT_EXP_RANGE[0]
            if 0 < levels < MIN_WEIGHT_LEVELS:
                raise DesignRuleError("vth-range", name, f"threshold {theta:g} needs vth <= {VTH_MAX} (17 bits), "
                                      f"which leaves the weights of '{syn_name}' {levels:.2g} integer levels "
                                      f"at weight_exp {WEIGHT_EXP_RANGE[0]} (need >= {MIN_WEIGHT_LEVELS})")
        return scale

    def _synapse(self, name, syn: Synapse, scale: float, ctx) -> Synapse:
        w = syn.weights.astype(np.float64)
        mixed = w.min() < 0 < w.max()
        levels = 254 if mixed else 255
        wmax = float(np.abs(w).max())
        e = math.ceil(math.log2(wmax * scale / (64.0 * levels))) if wmax > 0 else 0
        e = int(np.clip(e, *WEIGHT_EXP_RANGE))
        q = 2.0 ** (e + 6) / scale
        w_int = 2 * np.round(w / (2 * q)) if mixed else np.round(w / q)
        w_int = effective_weights(np.clip(w_int, -256, 255).astype(np.int64))
        err = float(np.linalg.norm(w - w_int * q) / max(np.linalg.norm(w), 1e-30))
        ctx.layer(name).update(weight_exp=e, weight_lsb=q, weight_bits=8, weight_rel_error=err,
                               weight_max_int=int(np.abs(w_int).max(initial=0)),
                               synapses=int(np.count_nonzero(w_int)))
        return Synapse(w_int, weight_exp=e, delay=syn.delay)

    def _neuron(self, name, node: FloatLIF, scale: float, ctx, calib) -> LoihiLIF:
        info = ctx.layer(name)
        theta = float(node.vth.max())
        spiking = theta < NON_SPIKING
        vth = int(round(theta * scale / 64.0)) if spiking else VTH_MAX
        bias_mant, bias_exp = _bias(node.bias.astype(np.float64) * scale)
        bmax = max(float(np.abs(node.bias).max(initial=0.0)), 1e-30)
        bias_err = float(np.abs((bias_mant << bias_exp) / scale - node.bias).max(initial=0.0)) / bmax
        info.update(scale=scale, vth=vth, bias_rel_error=bias_err, neurons=node.size, cores=math.ceil(node.size / 1024),
                    threshold_rel_error=abs(vth * 64.0 / scale - theta) / theta if spiking and theta else 0.0,
                    peak_state_fraction=max(calib["v"].max(), calib["i"].max()) * scale / STATE_MAX,
                    spiking=spiking)
        return LoihiLIF(node.size, du=info["du"], dv=info["dv"], vth=vth, bias_mant=bias_mant,
                        bias_exp=bias_exp)


def _bias(b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per neuron the smallest bias_exp whose mantissa fits 13 bits. The scale keeps |b| within
    BIAS_MAX (`_scale`), so nothing is clipped; a value that still did not fit would be
    refused by LoihiLIF's own range check, never cut."""
    b = np.round(b)
    exp = np.zeros(b.shape, np.int64)
    while np.any((np.abs(b) / 2.0 ** exp > BIAS_MANT_MAX) & (exp < BIAS_EXP_MAX)):
        exp += (np.abs(b) / 2.0 ** exp > BIAS_MANT_MAX) & (exp < BIAS_EXP_MAX)
    return np.round(b / 2.0 ** exp).astype(np.int64), exp
