"""edge-int8 conv graphs in the dense ONNX model (compiler/export/onnx_edge_conv.py) under onnxruntime:
every layer equal to the dense executor on random int8 conv -> avg pool -> conv -> Step nets (input zero
points, saturation, pooling ties, SAME/VALID, strides), and the float (ideal) form to float32 rounding."""
from __future__ import annotations

import numpy as np

from snnc.compiler.export import onnx_edge
from snnc.compiler.ir import Graph, Input, Output
from snnc.compiler.ir.dense import Step
from snnc.compiler.ir.dense_conv import AvgPool, ConvGemm
from snnc.runtime import simulate
from tests.backends import fresh_seed
from tests.targets.test_edge_conv import random_conv_gemm


def _net(rng, target: str = "edge-int8") -> Graph:
    conv = random_conv_gemm(rng)[0]
    c, h, w = conv.out_shape
    pool = AvgPool(in_shape=(c, h, w), kernel=(min(2, h), min(2, w)), stride=1, padding=str(rng.choice(["same", "valid"])),
                   integer_mode=target == "edge-int8")
    c2 = int(rng.integers(1, 4))
    conv2 = ConvGemm(rng.integers(-127, 128, size=(c2, c, 3, 3)), in_shape=pool.out_shape, padding="same",
                     bias=rng.integers(-500, 500, size=c2), input_zero_point=conv.output_zero_point, requantise=False)
    if target != "edge-int8":
        conv = ConvGemm(conv.weights.astype(np.float32) / 64, in_shape=conv.in_shape, stride=conv.stride,
                        padding=conv.padding, bias=conv.bias.astype(np.float32) / 64)
        conv2 = ConvGemm(conv2.weights.astype(np.float32) / 64, in_shape=conv2.in_shape, padding="same",
                         bias=conv2.bias.astype(np.float32) / 64)
    g = Graph(target)
    g.add("in", Input(conv.in_size))
    g.add("conv", conv, ["in"])
    g.add("pool", pool, ["conv"])
    g.add("conv2", conv2, ["pool"])
    g.add("step", Step(conv2.out_size, np.zeros(conv2.out_size, np.int64 if target == "edge-int8" else np.float32)),
          ["conv2"])
    g.add("out", Output(conv2.out_size), ["step"])
    return g


def test_edge_int8_conv_nets_equal_the_executor_under_onnxruntime():
    rng = np.random.default_rng(fresh_seed())
    fired = 0
    for _ in range(10):
        g = _net(rng)
        x = rng.integers(-128, 128, size=(6, 1, g.nodes["in"].size))
        sim = simulate(g, x)
        got = onnx_edge.run_model(g, x)
        for layer in ("conv", "pool", "conv2", "step"):
            np.testing.assert_array_equal(got[layer]["v"], sim.state[layer]["v"], err_msg=layer)
        fired += int(sim.spikes["step"].sum() > 0)
    assert fired > 0


def test_ideal_conv_nets_under_onnxruntime():
    rng = np.random.default_rng(fresh_seed())
    for _ in range(5):
        g = _net(rng, "ideal")
        x = rng.normal(size=(4, 1, g.nodes["in"].size)).astype(np.float32)
        sim = simulate(g, x)
        got = onnx_edge.run_model(g, x)
        for layer in ("conv", "pool", "conv2"):
            np.testing.assert_allclose(got[layer]["v"], sim.state[layer]["v"], rtol=1e-5, atol=1e-5, err_msg=layer)
