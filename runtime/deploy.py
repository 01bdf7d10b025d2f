"""Run a compiled graph the way it is deployed: pad the input for the target's
latency, simulate, and decode class scores from the `Output` node.

A graph compiled from a checkpoint says in its metadata how many steps its
input has (`steps`) and how many empty steps follow (`pad_steps`: an L-layer
Loihi chain answers L steps late, every Xylo layer adds one); its `Output`
node says which state is read at which step, and with what gain and offset.
A graph compiled from a NIR file was trained on no fixed T (metadata
`any_steps`): it runs on inputs of any length, its `v` read at the last real
step (`step` -1 of the padded run: the padding is exactly the readout's latency).
A 1-step binary net on a spiking chip takes its analog input as bit planes (metadata
`input_planes`, `snnc.compiler.frontend.planes`), held through the padding (`hold_input`).
Bias channels (metadata `bias_channels`, the NIR frontend's rewrite of an Affine
bias into a synaptic current) are appended by the host: 1 during the T steps
from each channel's start: 0 in the float graph; on a chip `bias_inputs` holds
the step at which the population it feeds reads its first input (the latency pass).
"""
from __future__ import annotations

import numpy as np

from snnc.compiler.ir import Graph, Output
from snnc.errors import InputError


def output_node(graph: Graph) -> tuple[str, Output, str]:
    """(output name, node, population it reads); exactly one Output."""
    outs = graph.outputs
    if len(outs) != 1:
        raise InputError(f"graph has {len(outs)} Output nodes; decoding needs exactly one")
    name, node = next(iter(outs.items()))
    return name, node, graph.predecessors(name)[0]


def pad_input(graph: Graph, x: np.ndarray) -> np.ndarray:
    """x [B, T, N] with the graph's `pad_steps` empty steps appended (analog input of an
    integer dense graph first quantised to int8 by its `input_quant`, as the host does)."""
    from snnc.runtime.dense import encode_input

    x = encode_input(graph, x)
    pad = int(graph.metadata.get("pad_steps", 0))
    steps = graph.metadata.get("steps")
    planes = graph.metadata.get("input_planes")
    if planes is not None and x.ndim == 3 and x.shape[2] == planes["channels"]:   # analog: the host's planes
        x = encode_planes(planes, x, steps)
    if steps is not None and x.shape[1] != steps and not graph.metadata.get("any_steps"):
        raise InputError(f"graph was compiled for {steps} input steps, got {x.shape[1]}")
    if pad:
        tail = np.repeat(x[:, -1:], pad, axis=1) if graph.metadata.get("hold_input") else \
            np.zeros((x.shape[0], pad, x.shape[2]), x.dtype)
        x = np.concatenate([x, tail], axis=1)
    return with_bias_channels(graph, x, x.shape[1] - pad)


def encode_planes(meta: dict, x: np.ndarray, steps: int) -> np.ndarray:
    """Host side: analog x [B, 1, n] -> held bit planes [B, steps, planes * n] (int64 0/1): bit k
    of q = round(|x| / scale) on channel k * n + i, negative values in a second set of planes
    (`snnc.compiler.frontend.planes` builds the graph that reads them). A q above 2^bits - 1, or a
    negative value where the graph has no negative planes, is a one-line error: never clipped."""
    x = np.asarray(x, np.float64)
    n, bits, scale = int(meta["channels"]), int(meta["bits"]), float(meta["scale"])
    if x.ndim != 3 or x.shape[1] != 1 or x.shape[2] != n:
        raise InputError(f"input must be [B, 1, {n}] analog values (a 1-step net's samples), got {x.shape}")
    parts = [np.maximum(x, 0.0)] + ([np.maximum(-x, 0.0)] if meta["signed"] else [])
    if not meta["signed"] and (x < 0).any():
        raise InputError(f"{int((x < 0).sum())} input values are negative; the graph's bit planes hold values "
                         "in [0, max] (its training data had no negative value)")
    planes = []
    for part in parts:
        q = np.rint(part[:, 0] / scale)
        if q.max(initial=0) > 2 ** bits - 1:
            raise InputError(f"{int((q > 2 ** bits - 1).sum())} input values exceed {(2 ** bits - 1) * scale:.4g}, "
                             f"the largest the graph's {bits} bit planes hold (its training data's largest)")
        q = q.astype(np.int64)
        planes.extend((q >> k) & 1 for k in range(bits))
    held = np.concatenate(planes, axis=1)[:, None, :]
    return np.repeat(held, steps, axis=1)


def data_channels(graph: Graph) -> int:
    """Input channels the data fills (the graph's Input less its bias channels)."""
    (inp,) = graph.inputs.values()
    return inp.size - len(graph.metadata.get("bias_channels", ()))


def with_bias_channels(graph: Graph, x: np.ndarray, steps: int) -> np.ndarray:
    """x [B, T', N] with the graph's bias channels appended: 1 in [start, start + steps)."""
    starts = [int(b["start"]) for b in graph.metadata["bias_inputs"]] if "bias_inputs" in graph.metadata \
        else [0] * len(graph.metadata.get("bias_channels", ()))
    if not starts:
        return x
    if x.shape[2] != data_channels(graph):
        raise InputError(f"input has {x.shape[2]} channels; the graph takes {data_channels(graph)} (and "
                         f"appends its {len(starts)} bias channels itself)")
    bias = np.zeros((x.shape[0], x.shape[1], len(starts)), x.dtype)
    for c, start in enumerate(starts):
        bias[:, start:start + steps, c] = 1
    return np.concatenate([x, bias], axis=2)


def populations(graph: Graph) -> list[str]:
    """What a simulation reports per node: neuron populations, or a dense graph's layers."""
    from snnc.compiler.ir.dense import DenseLayer

    return list(graph.neurons) + list(graph.of_type(DenseLayer))


def decode(graph: Graph, spikes: dict, state: dict) -> np.ndarray:
    """Logits (or regression values) [B, n] from batched simulation results (spikes/state keyed by node)."""
    _, out, pop = output_node(graph)
    if out.read == "v":
        if pop not in state or "v" not in state[pop]:
            raise InputError(f"decoding reads v of '{pop}', which was not recorded")
        raw = np.asarray(state[pop]["v"])[:, out.step].astype(np.float64)
    else:
        raw = np.asarray(spikes[pop]).sum(axis=1).astype(np.float64)
    return out.gain * raw + out.offset.astype(np.float64)


def run(graph: Graph, x: np.ndarray, engine: str = "event", progress: bool = False, check: str = "error",
        threads: int | None = None):
    """(logits [B, n], SimResult) of the deployed graph on input x [B, T, N] (`threads`: as simulate's)."""
    from snnc.runtime.simulate import simulate

    kwargs = {"check": check} if check != "error" else {}
    result = simulate(graph, pad_input(graph, np.asarray(x)), record=("v",), engine=engine,
                      progress=progress, threads=threads, **kwargs)
    return decode(graph, result.spikes, result.state), result
