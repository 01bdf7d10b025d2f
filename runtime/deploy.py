"""Run a compiled graph the way it is deployed: pad the input for the target's
latency, simulate, and decode class scores from the `Output` node.

A graph compiled from a checkpoint says in its metadata how many steps its
input has (`steps`) and how many empty steps follow (`pad_steps`: an L-layer
Loihi chain answers L steps late, every Xylo layer adds one); its `Output`
node says which state is read at which step, and with what gain and offset.
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
    if steps is not None and x.shape[1] != steps:
        raise InputError(f"graph was compiled for {steps} input steps, got {x.shape[1]}")
    if pad == 0:
        return x
    return np.concatenate([x, np.zeros((x.shape[0], pad, x.shape[2]), x.dtype)], axis=1)


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


def run(graph: Graph, x: np.ndarray, engine: str = "event", progress: bool = False, check: str = "error"):
    """(logits [B, n], SimResult) of the deployed graph on input x [B, T, N]."""
    from snnc.runtime.simulate import simulate

    kwargs = {"check": check} if check != "error" else {}
    result = simulate(graph, pad_input(graph, np.asarray(x)), record=("v",), engine=engine,
                      progress=progress, **kwargs)
    return decode(graph, result.spikes, result.state), result
