"""The integer grid Loihi's quantiser (`quantise.py`) put each trained weight on, in the trained
net's own units, for `snnc adapt` (the record's `weight_grid`).

QuantiseLoihi gives each Dense one float weight per integer step, `weight_lsb` = 2^(e + 6) / S,
in the float graph's units; mixed-sign weights are even integers in [-256, 254] (Lava drops the
LSB), one-sign weights integers in [0, 255] or [-255, 0]. The float graph's synapse into a
population with a synaptic state (alpha > 0) holds alpha W (`compiler/frontend/checkpoint.py`
`_scaled`; Loihi's mapping keeps it), so the trained weight's step is weight_lsb / alpha there.
"""
from __future__ import annotations

import numpy as np


def weight_grid(compiled, layers) -> dict[str, tuple[float, int, int]]:
    """{trained parameter: (step, lo, hi)} for `layers`, a list of (parameter, float-graph synapse,
    population it feeds) of a compiled checkpoint (`compiler.compile.Compiled`)."""
    grid = {}
    for param, synapse, post in layers:
        alpha = float(np.max(compiled.mapped.nodes[post].alpha))
        step = compiled.records[synapse]["weight_lsb"] / (alpha if alpha > 0 else 1.0)
        w = compiled.mapped.nodes[synapse].weights
        if w.min() < 0 < w.max():
            grid[param] = (2.0 * step, -128, 127)
        else:
            grid[param] = (step, 0, 255) if w.max() > 0 else (step, -255, 0)
    return grid
