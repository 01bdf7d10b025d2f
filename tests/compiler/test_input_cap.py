"""Input counts above the chip's cap are counted and noted at compile (they were clipped in
silence: 1,719 overflow events on digits-seq counts of 16 against Xylo's 15)."""
from __future__ import annotations

import numpy as np

from snnc.compiler.compile import compile_net
from snnc.compiler.frontend import FloatNet
from snnc.compiler.ir import FloatLIF, Graph, Input, Output, Synapse
from snnc.compiler.ir.nodes import NON_SPIKING


def _xylo_net(x) -> FloatNet:
    rng = np.random.default_rng(1)
    g = Graph("ideal")
    g.add("input", Input(4))
    g.add("fc", Synapse((0.05 * rng.standard_normal((6, 4))).astype(np.float32), delay=0), ["input"])
    g.add("lif", FloatLIF(6, beta=0.5, alpha=0.5, vth=1.0, reset="soft"), ["fc"])
    g.add("fc2", Synapse((0.5 * rng.standard_normal((2, 6))).astype(np.float32), delay=0), ["lif"])
    g.add("readout", FloatLIF(2, beta=0.5, alpha=0.5, vth=NON_SPIKING), ["fc2"])
    g.add("output", Output(2, read="v", step=x.shape[1] - 1), ["readout"])
    return FloatNet(g, x.shape[1], 2, {}, "mean", 1, ["lif", "readout"], calibration=lambda n: x[:n])


def test_counts_above_xylos_cap_are_noted():
    x = np.random.default_rng(0).integers(0, 21, (8, 10, 4))
    over = int((x > 15).sum())
    c = compile_net(_xylo_net(x), "xylo", 8)
    assert f"input: {over} of {x.size} calibration input counts exceed xylo's cap of 15" in " ".join(c.report["notes"])


def test_counts_within_the_cap_add_no_note():
    x = np.random.default_rng(0).integers(0, 16, (8, 10, 4))
    assert not any(n.startswith("input:") for n in compile_net(_xylo_net(x), "xylo", 8).report["notes"])
