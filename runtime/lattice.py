"""Float weights on a power-of-two lattice: their sums taken exactly in int16 or int32 lanes.

A float synapse's weights w are often all integer multiples k 2^e of one power of two (a
quantised net's float twin, weights trained on a grid, small integers). Then every partial
sum the event engine takes in float64, sum of count x w, is an integer times 2^e: exact in
float64 as long as the integer stays below 2^53, and the same integer is exact in int32 while
it stays below 2^31 (in int16 below 2^15). The fused loop then adds the int8/int16/int32 k (4x
fewer bytes than float64 rows, 8 or 16 lanes a vector) and joins float64(sum) x 2^(e +
weight_exp), the engine's own value: each product by a power of two is exact, or rounds the
same real value once.

The proof needs the most spikes a presynaptic neuron sends in a step: a population's
`max_spikes`; an Input's counts are not bounded by the graph, so a layout on the lattice takes
them up to `input_limit` (the most for which every input synapse's sums still fit), and the
fused loop's OR of the counts it read tells whether a run stayed within it (`runtime.fused`
runs a part again with the next wider sums when it did not: int16, int32, then float64).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.compiler.ir import Graph, Input

INT32_SUMS = 2**31 - 1           # the largest |sum| an int32 lane holds
EXP_RANGE = (-1074, 1023)        # 2^(e + weight_exp) must be a float64 itself (subnormal to largest)


@dataclass(frozen=True)
class Lattice:
    """Per synapse: e (weights = k 2^e); the integer dtype its sums take (int16 or int32) and
    input_limit: the largest input count the proof for that dtype covers."""

    exponents: dict[str, int]
    input_limit: int
    dtype: np.dtype


def exponent(w: np.ndarray) -> int | None:
    """The largest e with every weight an integer multiple of 2^e, |w / 2^e| < 2^31 (0 for no
    nonzero weight); None when there is none (a float32's 24 bits spread over too wide a range)."""
    w = np.asarray(w, np.float64)
    nz = w[w != 0]
    if nz.size == 0:
        return 0
    if not np.all(np.isfinite(nz)):
        return None
    f, ex = np.frexp(nz)                        # nz = f 2^ex: f's 53 bits are the integer f 2^53
    low = np.ldexp(f, 53).astype(np.int64)
    _, t = np.frexp((low & -low).astype(np.float64))   # the lowest set bit of each: 2^(t - 1)
    e = int((ex - 53 + t - 1).min())
    return e if np.ldexp(np.abs(nz), -e).max() <= INT32_SUMS else None


def integers(w: np.ndarray, e: int) -> np.ndarray:
    """w / 2^e as int64 (exact for the e of `exponent`)."""
    return np.ldexp(np.asarray(w, np.float64), -e).astype(np.int64)


def lattice(graph: Graph, entries: list, dtype=np.int32) -> Lattice | None:
    """The lattice of a graph's float synapses (`entries`: (name, synapse, source, target)) with
    sums in `dtype` (int16 or int32), or None when some synapse is off every lattice or its integer
    sums could leave `dtype` even for one spike a step from each input channel."""
    most = min(INT32_SUMS, int(np.iinfo(dtype).max))
    exponents, limit = {}, most
    for name, syn, src, _ in entries:
        e = exponent(syn.weights)
        if e is None or not EXP_RANGE[0] <= e + syn.weight_exp <= EXP_RANGE[1]:
            return None
        exponents[name] = e
        row_sum = int(np.abs(integers(syn.weights, e)).sum(axis=1).max(initial=0))
        node = graph.nodes[src]
        if isinstance(node, Input):
            limit = min(limit, most // max(row_sum, 1))
        elif row_sum * int(np.max(getattr(node, "max_spikes", 1))) > most:
            return None
    return Lattice(exponents, limit, np.dtype(dtype)) if limit >= 1 else None
