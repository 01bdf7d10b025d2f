"""A bias Loihi's 13-bit mantissa << 3-bit exponent cannot hold at the layer's scale is never
clipped: the scale gives way (the bias then deploys within rounding), or a design rule names
it. The issue's layer: bias 0.9 deployed as 524,160 (clipped) instead of 1,101,383. (Xylo's
quantiser bounds its int16 bias the same way; its state limit, which the bias drives, binds first.)"""
from __future__ import annotations

import numpy as np
import pytest

from snnc.compiler.compile import compile_net
from snnc.compiler.frontend import FloatNet
from snnc.compiler.ir import FloatLIF, Graph, Input, Output, Synapse
from snnc.runtime import deploy
from snnc.targets.loihi.quantise import BIAS_MAX


def _bias_net(bias: float) -> FloatNet:
    rng = np.random.default_rng(0)
    g = Graph("ideal")
    g.add("input", Input(4))
    g.add("fc", Synapse((0.01 * rng.standard_normal((6, 4))).astype(np.float32), delay=0), ["input"])
    g.add("lif", FloatLIF(6, beta=0.9, alpha=0.0, vth=1.0, bias=bias, reset="zero"), ["fc"])
    g.add("output", Output(6, read="spike_count"), ["lif"])
    x = (rng.random((16, 50, 4)) < 0.2).astype(np.int64)
    return FloatNet(g, 50, 6, {}, "mean", 1, ["lif"], calibration=lambda n: x[:n]), x


def test_a_bias_that_would_not_fit_sets_the_scale_and_deploys_within_rounding():
    front, x = _bias_net(0.9)
    c = compile_net(front, "loihi", calibrate=16)
    lif = c.graph.nodes["lif"]
    row = next(r for r in c.report["layers"] if r["name"] == "lif")
    scale = row["scale"]
    deployed = (lif.bias_mant << lif.bias_exp) / scale
    assert np.abs(lif.bias_mant << lif.bias_exp).max() <= BIAS_MAX
    np.testing.assert_allclose(deployed, 0.9, rtol=2.0 ** -12)   # within the mantissa's rounding
    assert row["bias_rel_error"] < 2.0 ** -12
    # the neuron spikes as the float one does (zero reset, bias-driven: every few steps)
    float_counts = deploy.run(front.graph, x)[1].spikes["lif"].sum()
    deployed_counts = deploy.run(c.graph, x)[1].spikes["lif"].sum()
    assert deployed_counts == pytest.approx(float_counts, rel=0.02)

