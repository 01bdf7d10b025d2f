"""Calibration: peak magnitudes of every population's states on training samples.

The quantisers size each population's integer scale so that these peaks (times
a safety margin) stay inside the target's state widths; the simulator still
counts every overflow or saturation that happens later, and the verify report
shows them.
"""
from __future__ import annotations

import numpy as np

from snnc.compiler.ir import Conv2d, Graph
from snnc.errors import CompileError


def peaks(graph: Graph, x: np.ndarray) -> dict[str, dict]:
    """Per population, per neuron: peak |v|, peak |i_syn| and, per incoming synapse, peak |W s|.

    `graph` is the float graph after neuron mapping and latency (target `ideal`);
    x [N, T, C] spike counts of the training split (padded here like a deployment).
    """
    from snnc.runtime.deploy import pad_input
    from snnc.runtime.simulate import simulate

    if x is None or len(x) == 0:
        raise CompileError("calibration needs at least one training sample (--calibrate N, N >= 1)")
    result = simulate(graph, pad_input(graph, x), record=("v", "i_syn"))
    spikes = {**result.spikes, **{n: pad_input(graph, x) for n in graph.inputs}}
    out = {}
    for name in graph.neurons:
        st = result.state[name]
        acc = {syn_name: _peak_drive(syn, spikes[src]) for syn_name, syn, src in graph.incoming(name)}
        out[name] = {"v": _per_neuron(st["v"]), "i": _per_neuron(st["i_syn"]), "acc": acc}
    return out


def _per_neuron(trace: np.ndarray) -> np.ndarray:
    """max over samples and steps of |x|, per neuron: [B, T, n] -> [n]."""
    return np.abs(trace.reshape(-1, trace.shape[-1])).max(axis=0).astype(np.float64)


def _peak_drive(syn, spikes: np.ndarray) -> np.ndarray:
    """max over samples and steps of |W s_t| (before any delay), per postsynaptic neuron."""
    if isinstance(syn, Conv2d):   # the conv walked spike by spike (runtime/conv.py)
        from snnc.runtime.conv import walk

        acc = np.zeros(spikes.shape[:2] + (syn.out_size,))
        walk(syn, syn.weights.astype(np.float64), acc, spikes, 0, -1)
        return _per_neuron(acc)
    flat = spikes.reshape(-1, spikes.shape[-1]).astype(np.float32)
    return _per_neuron(flat @ syn.weights.T.astype(np.float32))
