"""loihi's resource count (targets/loihi/resources.py): cores per population from 1,024 neurons per
core, chips of 128 cores, Conv processes counted apart from Dense, a conv's shared kernel stored once
per core of its output population (by the channels that core holds)."""
import numpy as np

from snnc.compiler.ir import Conv2d, Graph, Input, LoihiLIF, Output, Synapse
from snnc.targets.loihi import usage
from snnc.targets.loihi.resources import shared_kernel_bits


def test_cores_chips_and_conv_memory():
    g = Graph("loihi")
    g.add("x", Input(1 * 64 * 64))
    w = np.ones((40, 1, 3, 3), np.int64)
    w[0] = 0                                         # channel 0's kernel is all zeros
    conv = Conv2d(w, delay=1, in_shape=(1, 64, 64), padding=1)
    g.add("conv", conv, ["x"])
    g.add("A", LoihiLIF(40 * 64 * 64, du=0, dv=0, vth=10), ["conv"])   # 163,840 neurons: 160 cores
    g.add("fc", Synapse(np.full((10, 40 * 64 * 64), 2), delay=1), ["A"])
    g.add("R", LoihiLIF(10, du=0, dv=0, vth=10), ["fc"])
    g.add("out", Output(10), ["R"])
    use = usage(g)
    assert use["cores_per_layer"] == {"A": 160, "R": 1} and use["cores"] == 161
    assert use["chips"] == 2 and use["cores_limit"] == 256
    assert use["conv_processes"] == 1 and use["dense_processes"] == 1
    assert use["synapses_8bit"] == 10 * 40 * 64 * 64 and use["conv_kernel_weights"] == 39 * 9
    # 4,096 neurons a channel: each channel spans 4 cores, each storing its 9 weights (channel 0: none)
    assert shared_kernel_bits(conv) == 39 * 4 * 9 * 8
    assert use["conv_connections"] == int(conv.fan_out_counts().sum()) == 39 * (62 * 62 * 9 + 4 * 62 * 6 + 4 * 4)
    assert use["synaptic_memory_kib_estimate"] == round((10 * 40 * 4096 * 8 + 39 * 4 * 9 * 8) / 8192, 1)
