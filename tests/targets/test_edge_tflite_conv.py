"""edge-int8 conv graphs as whole .tflite models (tflite_export.build with tflite_conv's CONV_2D,
AVERAGE_POOL_2D and the fused ConvGemm -> Step CONV_2D) run by LiteRT's reference kernels: every layer's
tensor equal to the dense executor on random nets (requantising conv, pool, conv -> Step twice, readout
Gemm on the flattened image; input zero points, SAME / VALID, strides, per-channel thresholds)."""
from __future__ import annotations

import numpy as np

from snnc.compiler.ir import Graph, Input, Output
from snnc.compiler.ir.dense import Gemm, Step
from snnc.compiler.ir.dense_conv import AvgPool, ConvGemm
from snnc.runtime import simulate
from snnc.targets.edge_int8.tflite_conv import prepared_multipliers
from tests.backends import fresh_seed, require


def _conv_step(g: Graph, rng, name: str, src: str, shape, zp: int, stride: int, padding: str) -> str:
    c_out = int(rng.integers(2, 6))
    conv = ConvGemm(rng.integers(-127, 128, size=(c_out, shape[0], 3, 3)), in_shape=shape, stride=stride,
                    padding=padding, bias=rng.integers(-2000, 2000, size=c_out), input_zero_point=zp,
                    requantise=False)
    g.add(f"{name}_conv", conv, [src])
    t = np.repeat(rng.integers(-1000, 1000, size=c_out), conv.out_size // c_out)
    return g.add(name, Step(conv.out_size, t.astype(np.int64)), [f"{name}_conv"])


def _net(rng) -> Graph:
    shape = (int(rng.integers(1, 4)), int(rng.integers(5, 9)), int(rng.integers(5, 9)))
    scale, zp = float(np.float32(rng.uniform(0.01, 0.1))), int(rng.integers(-128, 128))
    g = Graph("edge-int8", metadata={"input_quant": {"scale": scale, "zero_point": zp, "bits": 8}})
    src = g.add("in", Input(int(np.prod(shape))))
    if rng.random() < 0.7:   # a requantising conv and a pool first (else the input feeds the conv -> Step)
        c = int(rng.integers(1, 4))
        filters = rng.uniform(0.001, 0.05, size=c).astype(np.float32)
        mult, shift = prepared_multipliers(scale, filters, scale)
        conv = ConvGemm(rng.integers(-127, 128, size=(c, shape[0], 3, 3)), in_shape=shape, padding="same",
                        bias=rng.integers(-3000, 3000, size=c), multiplier=mult, shift=shift, input_zero_point=zp,
                        output_zero_point=int(rng.integers(-20, 21)))
        g.add("conv", conv, [src])
        pool = AvgPool(conv.out_shape, kernel=2, stride=1, padding=str(rng.choice(["same", "valid"])),
                       integer_mode=True)
        src, shape, zp = g.add("pool", pool, ["conv"]), pool.out_shape, conv.output_zero_point
    s1 = _conv_step(g, rng, "s1", src, shape, zp, 1, "same")
    conv1 = g.nodes["s1_conv"]
    s2 = _conv_step(g, rng, "s2", s1, conv1.out_shape, 0, int(rng.integers(1, 3)), str(rng.choice(["same", "valid"])))
    n = g.nodes[s2].size
    g.add("readout", Gemm(rng.integers(-127, 128, size=(4, n)), rng.integers(-500, 500, size=4),
                          requantise=False), [s2])
    g.add("out", Output(4), ["readout"])
    return g


def test_conv_graphs_equal_litert_reference_kernels_at_every_layer():
    from snnc.targets.edge_int8 import tflite_exec

    require("LiteRT", tflite_exec.interpreter_module)
    rng = np.random.default_rng(fresh_seed())
    fired = silent = 0
    for _ in range(8):
        g = _net(rng)
        x = rng.integers(-128, 128, size=(5, 1, g.nodes["in"].size))
        sim, lite = simulate(g, x), tflite_exec.run(g, x)
        for layer, got in lite.items():
            if got:
                np.testing.assert_array_equal(got["v"], sim.state[layer]["v"], err_msg=layer)
        assert not lite["s1_conv"] and lite["s1"]   # the conv is fused into its Step's CONV_2D
        fired += int(sim.spikes["s2"].sum())
        silent += int((sim.spikes["s2"] == 0).sum())
    assert fired > 0 and silent > 0
