"""Map the trained neuron onto the target's dynamics, in float (still on `ideal`).

After this pass the float graph runs the dynamics the chip can run: the decays
the target's integers can express, its reset, its spikes per step. Where the
trained dynamics cannot be expressed exactly, a note says what was done; the
compile report measures the effect by simulating this float graph.

loihi (Lava PyLifModelBitAcc): v decays by (4096 - dv)/4096, u by
(4096 - (du + 1))/4096 (12-bit du, dv), zero reset, strict `>`, one spike.
xylo (xylosim XyloIAFNeuron): x <- x - max(x >> dash, sign(x)), i.e.
beta = 1 - 2^-dash (4-bit dash), subtractive reset, `>=`, up to 31 hidden
spikes per step, and a synaptic state that cannot be switched off: the current
decays before it reaches v, so dash_syn = 0 would zero it; dash_syn >= 1 means
every input passes a filter i <- alpha (i + W x) with alpha = 1 - 2^-dash_syn.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from snnc.compiler.ir import FloatLIF, Synapse
from snnc.compiler.ir.nodes import NON_SPIKING
from snnc.compiler.passes.base import Pass
from snnc.errors import CompileError
from snnc.targets import loihi, xylo

XYLO_DASH_MAX = xylo.RANGES["dash_mem"].hi          # 4-bit dash fields
XYLO_HIDDEN_SPIKES = xylo.MAX_HIDDEN_SPIKES         # xylosim MAX_NUM_SPIKES
LOIHI_DECAY_UNITY = loihi.DECAY_UNITY               # 12-bit du, dv (Lava PyLifModelBitAcc)


def _uniform(values: np.ndarray, what: str, name: str) -> float:
    v = np.unique(values)
    if v.size != 1:
        raise CompileError(f"node '{name}': per-neuron {what} cannot be mapped yet (got {v.size} values)")
    return float(v[0])


def _replace(graph, name, node, **changes):
    graph.nodes[name] = dataclasses.replace(node, **changes)


def _scale_inputs(graph, name, factor: float) -> None:
    """Multiply every synapse into `name` by factor (a changed alpha keeps i = alpha (i + W x))."""
    if factor == 1.0:
        return
    for syn_name, syn, _ in graph.incoming(name):
        graph.nodes[syn_name] = Synapse((syn.weights * np.float32(factor)).astype(np.float32),
                                        syn.weight_exp, syn.delay, syn.port)


_RESET_NAMES = {"soft": "subtractive", "zero": "zero"}


class _MapNeurons(Pass):
    """Shared walk: each FloatLIF gets the target's decays, reset and spikes per step."""

    reset = "zero"          # the target's reset
    hidden_spikes = 1       # the target's spikes per step for a spiking neuron
    why_reset = why_spikes = ""

    def match(self, graph, name, node):
        return isinstance(node, FloatLIF)

    def decays(self, ctx, name, beta, alpha) -> tuple[float, float, float]:
        """(beta, alpha) the target runs, and the factor its weights into `name` take."""
        raise NotImplementedError

    def transform(self, graph, name, node, ctx):
        beta, alpha = _uniform(node.beta, "beta", name), _uniform(node.alpha, "alpha", name)
        beta_hat, alpha_hat, weight_factor = self.decays(ctx, name, beta, alpha)
        ctx.layer(name).update(beta=beta, beta_target=beta_hat, alpha=alpha, alpha_target=alpha_hat)
        _scale_inputs(graph, name, weight_factor)
        spiking = float(node.vth.max()) < NON_SPIKING
        max_spikes = self.hidden_spikes if spiking else 1
        if spiking and node.reset != self.reset:
            ctx.notes.append(f"{name}: {_RESET_NAMES[node.reset]} reset -> {_RESET_NAMES[self.reset]} reset "
                             f"({self.why_reset})")
        if spiking and node.max_spikes != max_spikes:
            ctx.notes.append(f"{name}: up to {node.max_spikes} spikes/step -> {max_spikes} ({self.why_spikes})")
        _replace(graph, name, node, beta=np.float32(beta_hat), alpha=np.float32(alpha_hat),
                 reset=self.reset if spiking else node.reset, max_spikes=max_spikes)


class MapNeuronsLoihi(_MapNeurons):
    name = "map-neurons-loihi"
    reset, hidden_spikes = "zero", 1
    why_reset, why_spikes = "Loihi sets v to 0 after a spike", "Loihi's LIF spikes once per step"

    def decays(self, ctx, name, beta, alpha):
        dv = int(np.clip(round((1.0 - beta) * LOIHI_DECAY_UNITY), 0, LOIHI_DECAY_UNITY - 1))
        du = int(np.clip(round((1.0 - alpha) * LOIHI_DECAY_UNITY) - 1, 0, LOIHI_DECAY_UNITY - 1))
        beta_hat, alpha_hat = 1.0 - dv / LOIHI_DECAY_UNITY, 1.0 - (du + 1) / LOIHI_DECAY_UNITY
        ctx.layer(name).update(dv=dv, du=du)
        _note_change(ctx, name, "beta", beta, beta_hat, f"dv = {dv}")
        _note_change(ctx, name, "alpha", alpha, alpha_hat, f"du = {du}")
        return beta_hat, alpha_hat, 1.0   # Loihi's u <- decay(u) + a is the float i <- alpha i + a


class MapNeuronsXylo(_MapNeurons):
    name = "map-neurons-xylo"
    reset, hidden_spikes = "soft", XYLO_HIDDEN_SPIKES
    why_reset, why_spikes = "Xylo subtracts the threshold", "Xylo hidden neurons emit up to 31"

    def decays(self, ctx, name, beta, alpha):
        dash_mem, beta_hat = _dash(beta, 0)
        dash_syn, alpha_hat = _dash(alpha, 1)
        ctx.layer(name).update(dash_mem=dash_mem, dash_syn=dash_syn)
        if dash_mem == XYLO_DASH_MAX and beta >= 1.0:
            ctx.notes.append(f"{name}: beta 1 (no leak) -> dash_mem = 15: Xylo still moves v one LSB toward 0 "
                             "per step (x >> 15 is 0 for 16-bit states and the minimum step is 1)")
        else:
            _note_change(ctx, name, "beta", beta, beta_hat, f"dash_mem = {dash_mem}")
        _note_change(ctx, name, "alpha", alpha, alpha_hat, f"dash_syn = {dash_syn}")
        return beta_hat, alpha_hat, alpha_hat / (alpha if alpha > 0 else 1.0)


def _dash(decay: float, dash_min: int) -> tuple[int, float]:
    """The bit-shift decay 1 - 2^-dash nearest to `decay` (dash in [dash_min, 15])."""
    if decay >= 1.0:
        dash = XYLO_DASH_MAX
    elif decay <= 0.0:
        dash = dash_min
    else:
        dash = int(np.clip(round(-math.log2(1.0 - decay)), dash_min, XYLO_DASH_MAX))
    return dash, 1.0 - 2.0 ** -dash


def _note_change(ctx, name, what, trained, target, how) -> None:
    if abs(trained - target) > 1e-7:
        ctx.notes.append(f"{name}: {what} {trained:.6g} -> {target:.6g} ({how}; nearest the target expresses)")
