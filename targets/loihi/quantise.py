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

Split weights (compile option `weight_split`: "all", or the synapse names): a Dense whose
exponent e is >= 1 becomes a SplitDense, two Lava Dense from the same source into the same
LIF, W = W_hi 2^k + W_lo, the high one at e (as the 8-bit Dense), the low one at e - k with
k = min(e, 7): integers of 9 + k bits, k more than one Dense, at twice the synaptic memory. The
low exponent stays >= 0 on purpose: below 0 Lava's right shift floors each step's sum, a bias of
-1/2 a_in unit per step on every neuron receiving input (measured on the braille RNN: argmax
agreement 0.89 with the floor, 0.945 without). Below a_in's unit (2^6 / S) the scale is the
limit: `v_margin` (v's headroom, default MARGIN) raises it where v's calibration peak binds.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from snnc.compiler.ir import Conv2d, FloatLIF, Graph, LoihiLIF, Synapse
from snnc.compiler.ir.nodes import NON_SPIKING
from snnc.compiler.passes.base import Pass, copy_graph
from snnc.compiler.passes.calibrate import peaks
from snnc.errors import CompileError, DesignRuleError
from snnc.targets.loihi import MAX_UV as STATE_MAX
from snnc.targets.loihi import RANGES, WEIGHT_EXP_RANGE, effective_weights
from snnc.targets.loihi.quantise_conv import quantise_conv   # Lava's Conv: pre-shifted 8-bit mantissas
from snnc.targets.loihi.lava_layers import SPLIT_SHIFT_MAX, SplitDense, split_parts

VTH_MAX = RANGES["vth"].hi               # 17-bit threshold mantissa
BIAS_MANT_MAX = RANGES["bias_mant"].hi   # 13-bit signed bias mantissa
BIAS_EXP_MAX = RANGES["bias_exp"].hi
BIAS_MAX = BIAS_MANT_MAX << BIAS_EXP_MAX     # 4095 << 7 = 524,160: the largest |bias_mant << bias_exp| (both signs)
MARGIN = 2.0               # estimate: headroom over the calibration peaks for unseen inputs (u, and v by default)
MIN_WEIGHT_LEVELS = 8      # our choice: fewer integer levels than this for the largest weight is no network


class QuantiseLoihi(Pass):
    name = "quantise-loihi"

    def run(self, graph: Graph, ctx) -> Graph:
        calib = peaks(graph, ctx.calib_x)
        out = copy_graph(graph, "loihi")
        split = split_synapses(graph, ctx.options.get("weight_split", ()))
        for name in graph.neuron_order():
            node = graph.nodes[name]
            incoming = graph.incoming(name)
            scale = self._scale(name, node, incoming, calib[name], v_margin(ctx.options.get("v_margin", MARGIN)))
            for syn_name, syn, _ in incoming:
                quantise = quantise_conv if isinstance(syn, Conv2d) else self._split if syn_name in split \
                    else self._synapse
                out.nodes[syn_name] = quantise(syn_name, syn, scale, ctx)
            out.nodes[name] = self._neuron(name, node, scale, ctx, calib[name])
        _notes(ctx, split)
        (out_name,) = out.outputs
        readout = graph.predecessors(out_name)[0]
        output = out.nodes[out_name]
        if output.read == "v":   # v is in integer units; spike counts are counts (gain unchanged)
            out.nodes[out_name] = dataclasses.replace(output, gain=output.gain / ctx.layer(readout)["scale"])
        return out

    def _scale(self, name, node: FloatLIF, incoming, calib, v_margin: float) -> float:
        theta = float(node.vth.max())
        peak = max(calib["v"].max() * v_margin / MARGIN, calib["i"].max(), 1e-12)
        limits = {"state": STATE_MAX / MARGIN / peak}
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

    def _split(self, name, syn: Synapse, scale: float, ctx) -> Synapse:
        """W = W_hi 2^k + W_lo: the high Dense at the 8-bit exponent e, the low one at e - k."""
        plain = self._synapse(name, syn, scale, ctx)
        e_hi = plain.weight_exp
        e_lo = max(e_hi - SPLIT_SHIFT_MAX, 0)   # >= 0: no floor (a right shift's bias of -1/2 a_in per step)
        if e_hi - e_lo < 1:
            ctx.layer(name)["split"] = f"not split: weight_exp {e_hi}, whose step is already Lava's a_in unit"
            return plain
        k = e_hi - e_lo
        w = syn.weights.astype(np.float64)
        q = 2.0 ** (e_lo + 6) / scale
        w_int = np.clip(np.round(w / q), -2 ** (k + 8), 2 ** (k + 8) - 1).astype(np.int64)
        node = SplitDense(w_int, weight_exp=e_lo, delay=syn.delay, shift=k)
        nnz = sum(int(np.count_nonzero(p)) for p, _ in split_parts(node))
        ctx.layer(name).update(weight_exp=e_lo, weight_exp_hi=e_hi, split_shift=k, weight_lsb=q, weight_bits=8 + k,
                               weight_rel_error=float(np.linalg.norm(w - w_int * q) / max(np.linalg.norm(w), 1e-30)),
                               weight_max_int=int(np.abs(w_int).max(initial=0)), synapses=int(np.count_nonzero(w_int)),
                               split=True, dense_processes=2, memory_bits=8 * nnz,
                               bits=f"weight 8+8 (W_hi 2^{k} + W_lo: two Dense, {8 + k + 1}-bit signed)")
        return node

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


def _notes(ctx, split: set[str]) -> None:
    """What the options changed, in the report's notes."""
    done = sorted(n for n in split if ctx.layer(n).get("split") is True)
    if done:
        ctx.notes.append(f"weight_split: {', '.join(done)} deployed as two Lava Dense each (W_hi 2^k + W_lo: "
                         "k more weight bits, twice the synaptic memory)")
    if "v_margin" in ctx.options:
        ctx.notes.append(f"v_margin {v_margin(ctx.options['v_margin']):g}: v may saturate beyond its calibration "
                         f"peak (Lava clips v, it does not wrap); u keeps the margin {MARGIN:g}")


def v_margin(value) -> float:
    """The `v_margin` option: v's headroom over its calibration peak, > 0 (default MARGIN). v
    saturates in Lava (clip to +-(2^23 - 1)), it never wraps, so a margin below MARGIN (down to
    below 1: the deepest excursions clip) buys scale, i.e. finer thresholds and weights; u wraps
    and keeps MARGIN."""
    try:
        margin = float(value)
    except (TypeError, ValueError):
        raise CompileError(f"v_margin: expected a number > 0, got {value!r}") from None
    if not (math.isfinite(margin) and margin > 0):
        raise CompileError(f"v_margin: expected a number > 0, got {value!r}")
    return margin


def split_synapses(graph: Graph, choice) -> set[str]:
    """The synapses `weight_split` names: "all", "none", or names of the graph's synapses."""
    synapses = set(graph.of_type(Synapse))
    if choice in ("all", "none", (), None):
        return synapses if choice == "all" else set()
    names = [choice] if isinstance(choice, str) else list(choice)
    unknown = [n for n in names if n not in synapses]
    if unknown:
        raise CompileError(f"weight_split: '{unknown[0]}' is not a synapse of the graph "
                           f"(its synapses: {', '.join(sorted(synapses))})")
    return set(names)


def _bias(b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per neuron the smallest bias_exp whose mantissa fits 13 bits. The scale keeps |b| within
    BIAS_MAX (`_scale`), so nothing is clipped; a value that still did not fit would be
    refused by LoihiLIF's own range check, never cut."""
    b = np.round(b)
    exp = np.zeros(b.shape, np.int64)
    while np.any((np.abs(b) / 2.0 ** exp > BIAS_MANT_MAX) & (exp < BIAS_EXP_MAX)):
        exp += (np.abs(b) / 2.0 ** exp > BIAS_MANT_MAX) & (exp < BIAS_EXP_MAX)
    return np.round(b / 2.0 ** exp).astype(np.int64), exp
