"""Map the trained neuron onto the target's dynamics, in float (still on `ideal`): the
shared walk; each chip's subclass (`targets/<chip>/passes.py`) says which decays,
reset and spikes per step it runs.

After this pass the float graph runs the dynamics the chip can run: the decays
the target's integers can express, its reset, its spikes per step. Where the
trained dynamics cannot be expressed exactly, a note says what was done; the
compile report measures the effect by simulating this float graph.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from snnc.compiler.ir import FloatLIF
from snnc.compiler.ir.nodes import NON_SPIKING
from snnc.compiler.passes.base import Pass
from snnc.errors import CompileError


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
        graph.nodes[syn_name] = dataclasses.replace(syn, weights=(syn.weights * np.float32(factor)).astype(np.float32))


_RESET_NAMES = {"soft": "subtractive", "zero": "zero"}


class MapNeurons(Pass):
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


def note_change(ctx, name, what, trained, target, how) -> None:
    if abs(trained - target) > 1e-7:
        ctx.notes.append(f"{name}: {what} {trained:.6g} -> {target:.6g} ({how}; nearest the target expresses)")
