"""One step of each neuron kind as ONNX ops: the targets' arithmetic, op for op.

A lowering takes the builder, the node, what arrives this step — a list of
(synapse, presynaptic values [B, n_pre], the most count one presynaptic
neuron can deliver) in the graph's canonical delivery order (int64 counts,
delivery caps applied; the Input's float32 values on `ideal`) — and the
population's state tensors by name; it returns (spike counts int64 [B, n],
membrane v [B, n], next state by name). `states(node)` lists the state
tensors ([B, n] each; Xylo's synaptic states are one tensor per port) with
their dtype and reset value.

A Conv2d arrives as a `ConvArrival`: its sums already computed (compiler/export/onnx_conv.py, the
target's kernel, then the kind's `conv_output`: what the conv process does to them), joined as a
Dense's `W s` with the exponent the target's conv arithmetic names (`joined_exp`); `weighted_sum`
gives either.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from snnc.errors import GraphError
from snnc.targets.registry import kind_of, kinds, resolve


class Lowering(NamedTuple):
    states: Callable   # node -> {state name: (numpy dtype, reset value)}
    step: Callable     # (builder, node, arriving, state) -> (spikes, v, next state)
    v_dtype: type      # dtype of the exported v
    conv_output: Callable | None = None   # (builder, conv sums) -> sums after the conv process; None: no conv


class ConvArrival(NamedTuple):
    """A Conv2d synapse as a lowering joins it: `sums` [B, n_post] in place of W s."""

    sums: str
    weight_exp: int   # the target's ConvArithmetic.joined_exp
    delay: int
    port: int


def weighted_sum(b, syn, s_pre: str, cap, float64: bool = False) -> str:
    """W s of one arriving synapse: a Dense's product (int64, exact; float64 on a float target), or
    a conv's precomputed sums."""
    if isinstance(syn, ConvArrival):
        return syn.sums
    if float64:
        return b.op("MatMul", b.op("Cast", s_pre, to=11), b.const(np.asarray(syn.weights).T, np.float64, "w"))
    return b.matmul(s_pre, b.i64(syn.weights.T, "w"), sum_bound(syn.weights, cap))


def sum_bound(weights, cap) -> float:
    """The largest |W s| over counts s in [0, cap]: what `Builder.matmul` needs to choose float64."""
    return float(np.abs(np.asarray(weights, np.float64)).sum(axis=1).max(initial=0)) * cap


def lowering(node) -> Lowering | None:
    """The ONNX lowering of a neuron node: its kind's (`NeuronKind.onnx`, a reference into its
    chip's folder: targets/<chip>/onnx_kind.py), or None where the kind has none."""
    try:
        kind = kind_of(node)
    except GraphError:
        return None
    return LOWERINGS.get(kind.name) if kind.onnx else None


def _lowerings() -> dict[str, Lowering]:
    return {kind.name: resolve(kind.onnx) for kind in kinds() if kind.onnx}


LOWERINGS = _lowerings()   # kind name -> Lowering, read once from the registered kinds
