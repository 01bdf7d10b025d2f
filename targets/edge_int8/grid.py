"""The integer grid edge-int8's quantiser (`quantise.py`) puts each trained weight on, for
`snnc adapt` (the record's `weight_grid`).

QuantiseEdge stores w_q = clip(rint(W / s_c), -127, 127) per output channel c of a Gemm or
ConvGemm, s_c = max_i |W[c, i]| / 127 (`weight_scales`; one scale for the whole tensor where
the layer feeds the Output, whose logits share a scale). W is the float graph's weight: the
trained weight times the per-channel gain the frontend folds into it (a "channel_positive"
affine), so the grid is returned in the folded units; `snnc.evaluation.adapt` divides each
channel's step by the trained net's gain. The readout (its synapse `fc_out`, which the dense
form merges into one `readout` Gemm: with the global-average pool's repeated columns in a resnet)
keeps its float training.
"""
from __future__ import annotations

import numpy as np

from snnc.compiler.ir import Output
from snnc.targets.edge_int8.quantise import WEIGHT_MAX, weight_scales


def weight_grid(compiled, layers) -> dict[str, tuple[np.ndarray, int, int]]:
    """{trained parameter: (step per output channel, -127, 127)} for `layers`, a list of
    (parameter, float-graph synapse, population it feeds) of a compiled checkpoint."""
    mapped = compiled.mapped
    grid = {}
    for param, synapse, _ in layers:
        if synapse not in mapped.nodes:   # the readout's synapse, merged into the 'readout' Gemm: left float
            continue
        w = mapped.nodes[synapse].weights
        to_output = any(isinstance(mapped.nodes[s], Output) for s in mapped.successors(synapse))
        grid[param] = (weight_scales(w.reshape(w.shape[0], -1), to_output), -WEIGHT_MAX, WEIGHT_MAX)
    return grid
