"""A 1-step binary net trained on analog input (data.encoding = "direct") for a spiking chip:
its input sent as binary bit planes, held while the chip's pipeline settles.

Input. Loihi's input port takes 0/1 spikes (Lava 0.10.0 PyDenseModelBitAcc and the RingBuffer
that feeds it: s_in is a bool port). The host (`snnc.runtime.deploy.encode_planes`, which
`pad_input` calls) quantises each analog value x_i to B bits,
q_i = round(|x_i| / scale) (at most 2^B - 1: a larger value is an error, never clipped), and sends bit k of q_i on input channel
k * n + i (plane-major; a second set of B planes carries the negative values where the data
have any). Each synapse from the input becomes B (or 2B) synapses, plane k's weights being the
trained ones times +-2^k scale: sum_k 2^k bit_k(q) w scale = q scale w, exactly, and each
synapse keeps its own weight exponent on the chip (the same 8-bit mantissas as one synapse).
`scale` is the data's own lattice where it has one within 2^MAX_BITS levels (digits: pixels
k/16, B = 5: exact), else max |x| / (2^MAX_BITS - 1) (a rounding the float graph already
carries, so the compile report's "float graph" step names it).

Settling. Every synapse on the chip delivers one step late (Lava's Dense and Conv), so a
1-step net of depth D answers D steps late, and a residual shortcut's shorter path arrives
earlier than the long one. The input is held instead (the same planes every step) and the
trained units are memoryless (binary: beta = alpha = 0): a unit at depth k shows its 1-step
value from step k on, whichever path its inputs took. The run holds the input for
1 + SETTLE steps plus the latency; the readout, memoryless too (beta = 0: the 1-step readout
of the trained net), is read at the last step. On Loihi a memoryless unit keeps
trunc(v / 4096) of its membrane (dv is at most 4095), which at worst delays a unit's settling
by a step or two after its inputs settle: the SETTLE steps absorb it, and the deployed score
measures it.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from snnc.compiler.ir import Conv2d, Graph, Input, Synapse
from snnc.errors import CompileError

MAX_BITS = 8     # the planes per sign; 8 bits: the resolution of edge-int8's int8 input, and of an 8-bit sensor
SETTLE = 3       # estimate: held steps beyond the first, for Loihi's 1/4096 membrane carry (see docstring)


def input_lattice(x: np.ndarray) -> tuple[int, float, bool]:
    """(bits, scale, exact) for analog values x: the data's own lattice (the smallest nonzero
    |x|, when every |x| is a multiple of it below 2^MAX_BITS), else max |x| over 2^MAX_BITS - 1."""
    mag = np.abs(np.asarray(x, np.float64)).reshape(-1)
    top = float(mag.max(initial=0.0))
    if top == 0:
        return 1, 1.0, True
    step = float(mag[mag > 0].min())
    k = mag / step
    if np.allclose(k, np.round(k), rtol=0, atol=1e-6) and top / step < 2 ** MAX_BITS - 0.5:
        return max(1, int(np.ceil(np.log2(round(top / step) + 1)))), step, True
    return MAX_BITS, top / (2 ** MAX_BITS - 1), False


def bit_planes(graph: Graph, x_cal: np.ndarray) -> tuple[Graph, list[str]]:
    """The float graph taking the held bit planes of its analog input (module docstring); notes."""
    (inp, node), = graph.inputs.items()
    bits, scale, exact = input_lattice(x_cal)
    signed = bool(np.any(np.asarray(x_cal) < 0))
    signs = (1.0, -1.0) if signed else (1.0,)
    n, planes = node.size, bits * len(signs)
    factors = [sign * 2.0 ** k * scale for sign in signs for k in range(bits)]
    split = {name for name, value in graph.nodes.items()
             if isinstance(value, Synapse) and graph.predecessors(name) == [inp]}
    out = Graph(target=graph.target, metadata=dict(graph.metadata))
    for name, value in graph.nodes.items():
        if name == inp:
            out.add(inp, Input(n * planes))
        elif name in split:
            for p, factor in enumerate(factors):
                out.add(f"{name}_bit{p}", _plane(value, p, planes, factor, name))
        else:
            out.add(name, value)
    for src, dst in graph.edges:   # edge order kept (the order synapses are summed in)
        if dst in split:
            for p in range(planes):
                out.connect(inp, f"{dst}_bit{p}")
        elif src in split:
            for p in range(planes):
                out.connect(f"{src}_bit{p}", dst)
        else:
            out.connect(src, dst)
    out.metadata["input_planes"] = {"bits": bits, "scale": scale, "signed": signed, "channels": n}
    out.metadata["hold_input"] = True
    how = "the data's own lattice: exact" if exact else f"{2 ** bits} levels: rounded"
    return out, [f"input: analog values sent as {planes} binary bit planes of {n} channels (scale {scale:.4g}, {how})"]


def _plane(syn: Synapse, p: int, planes: int, factor: float, name: str) -> Synapse:
    """Synapse `syn` reading plane p of `planes` (its weights times `factor`, zero elsewhere)."""
    w = np.asarray(syn.weights, np.float64) * factor
    if isinstance(syn, Conv2d):
        if syn.groups != 1:
            raise CompileError(f"synapse '{name}': a grouped conv on the analog input has no bit-plane form")
        c = syn.in_shape[0]
        full = np.zeros((w.shape[0], c * planes) + w.shape[2:])
        full[:, p * c:(p + 1) * c] = w
        return dataclasses.replace(syn, weights=full.astype(np.float32), in_shape=(c * planes,) + tuple(syn.in_shape[1:]))
    full = np.zeros((w.shape[0], w.shape[1] * planes))
    full[:, p * w.shape[1]:(p + 1) * w.shape[1]] = w
    return dataclasses.replace(syn, weights=full.astype(np.float32))


def held_planes(graph: Graph, data: dict) -> tuple[Graph, int, list[str]]:
    """(graph, steps, notes): a 1-step binary float graph as it runs held (module docstring): bit
    planes of the data set's lattice, 1 + SETTLE steps, the readout memoryless and read last."""
    from snnc.compiler.passes.base import readout_name
    from snnc.train.data.arrays import load_split

    x_cal = load_split(data, "train")[0]   # the whole training split: its lattice and its largest value
    graph, notes = bit_planes(graph, x_cal)
    steps = 1 + SETTLE
    readout = readout_name(graph)
    graph.nodes[readout] = dataclasses.replace(graph.nodes[readout], beta=0.0)   # a vector again once checked
    (out_name,) = graph.outputs
    graph.nodes[out_name] = dataclasses.replace(graph.nodes[out_name], step=steps - 1)
    graph.metadata["steps"] = steps
    notes = [f"{notes[0]}, held for {steps} steps plus the chip's latency while the memoryless units settle"]
    return graph, steps, notes
