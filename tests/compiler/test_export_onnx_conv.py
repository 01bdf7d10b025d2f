"""ONNX export of Conv2d synapses (compiler/export/onnx_conv.py): random conv nets on loihi (pre-shifted
kernels, 24-bit wrap of the conv output, u wrap, v saturation, negative exponents, stride, padding,
dilation, groups, pooling, residual adds as two synapses into one population, one-step delays) and on
ideal, under onnxruntime against the event simulator at every step of every population; the im2col
index against PyTorch's conv2d; `verify --backends onnx` on a conv graph; one-line refusals."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from snnc.compiler.export import onnx as ox
from snnc.compiler.export.onnx_conv import group_kernel, patch_index
from snnc.compiler.ir import Conv2d, FloatLIF, Graph, Input, LoihiLIF, Output, Synapse
from snnc.compiler.ir.conv import pool_conv
from snnc.errors import CompileError
from snnc.runtime import simulate
from snnc.targets.loihi.conv import effective_kernel
from tests.backends import fresh_seed
from tests.runtime.test_conv import _int_kernel, big_conv, random_conv


def _im2col(node: Conv2d, s: np.ndarray) -> np.ndarray:
    """The lowering's arithmetic in numpy: gather the patches, multiply per group, channel-major."""
    patches = np.concatenate([s, [0]])[patch_index(node)]                        # [G, P, K]
    sums = np.einsum("gpk,gkj->gjp", patches, group_kernel(node.weights.astype(np.float64), node.groups))
    return sums.reshape(-1)


def test_patch_index_is_torch_conv2d():
    rng = np.random.default_rng(fresh_seed())
    for _ in range(40):
        n = random_conv(rng)
        s = rng.normal(size=n.in_size)
        want = torch.nn.functional.conv2d(torch.tensor(s.reshape(1, *n.in_shape)),
                                          torch.tensor(n.weights, dtype=torch.float64), stride=n.stride,
                                          padding=n.padding, dilation=n.dilation, groups=n.groups)
        np.testing.assert_allclose(_im2col(n, s), want.numpy().reshape(-1), atol=1e-9)


def _loihi_lif(rng, n):
    return LoihiLIF(n, du=int(rng.integers(0, 4096)), dv=int(rng.integers(0, 4096)), vth=int(rng.integers(1, 2000)),
                    bias_mant=int(rng.integers(-50, 50)))


def _loihi_conv_net(rng) -> Graph:
    """Input -> conv -> lif0; lif0 -> conv2 (3x3, padding 1, same shape) and lif0 -> itself-shaped identity
    conv both into lif1 (a residual add: two synapses); lif1 -> sum pool -> lif2 -> Dense -> lif3."""
    conv = random_conv(rng, _int_kernel(-255, 255), delay=1, weight_exp=int(rng.integers(-3, 4))) \
        if rng.random() < 0.6 else big_conv(rng)
    c, h, w = conv.out_shape
    g = Graph("loihi")
    g.add("in", Input(conv.in_size))
    g.add("conv", conv, ["in"])
    g.add("lif0", _loihi_lif(rng, conv.out_size), ["conv"])
    g.add("conv2", Conv2d(rng.integers(-255, 256, size=(c, c, 3, 3)), weight_exp=int(rng.integers(-2, 3)), delay=1,
                          in_shape=(c, h, w), padding=1), ["lif0"])
    g.add("skip", Conv2d(np.eye(c, dtype=np.int64)[:, :, None, None] * 200, weight_exp=2, delay=1,
                         in_shape=(c, h, w)), ["lif0"])
    g.add("lif1", _loihi_lif(rng, conv.out_size), ["conv2", "skip"])
    k = min(2, h, w)
    pool = pool_conv("sum", (c, h, w), k)
    pool = Conv2d(pool.weights.astype(np.int64) * 100, weight_exp=1, delay=1, in_shape=(c, h, w), stride=k, groups=c)
    g.add("pool", pool, ["lif1"])
    g.add("lif2", _loihi_lif(rng, pool.out_size), ["pool"])
    g.add("fc", Synapse(rng.integers(-127, 128, size=(5, pool.out_size)) * 2, weight_exp=int(rng.integers(-2, 3))),
          ["lif2"])
    g.add("lif3", LoihiLIF(5, du=100, dv=200, vth=500), ["fc"])
    g.add("out", Output(5), ["lif3"])
    return g


def _agree(g: Graph, x: np.ndarray, exact: bool = True):
    sim = simulate(g, x, record=("v",))
    got = ox.run_sequence(g, x)
    for pop in g.neurons:
        np.testing.assert_array_equal(got[pop]["spikes"], sim.spikes[pop], err_msg=pop)
        if exact:
            np.testing.assert_array_equal(got[pop]["v"], sim.state[pop]["v"], err_msg=pop)
        else:
            np.testing.assert_allclose(got[pop]["v"], sim.state[pop]["v"], rtol=1e-5, atol=1e-5, err_msg=pop)
    return sim


COVERING_SEED = 2   # its 8 nets: 4 wrap or saturate, 5 reach the pool's population (checked below, not assumed)


@pytest.mark.parametrize("seed", [COVERING_SEED, fresh_seed()])
def test_loihi_conv_nets_are_bit_exact_under_onnxruntime(seed):
    rng = np.random.default_rng(seed)
    wrapped = spiking = 0
    for _ in range(8):
        g = _loihi_conv_net(rng)
        x = (rng.random((2, 7, g.nodes["in"].size)) < 0.6).astype(np.int64)
        sim = _agree(g, x)
        wrapped += int(sim.stats["lif0"]["overflow_events"] > 0 or sim.stats["lif1"]["overflow_events"] > 0)
        spiking += int(sim.spikes["lif2"].sum() > 0)
    if seed == COVERING_SEED:   # a fresh seed's nets need not wrap: only their agreement is asserted
        assert wrapped > 0 and spiking > 0, f"seed {seed}"


def test_loihi_conv_wraps_at_24_bits_in_onnx():
    """big_conv's sums exceed 2^23: the ONNX model must wrap them as Lava's signed_clamp does."""
    rng = np.random.default_rng(fresh_seed())
    conv = big_conv(rng)
    assert np.abs(effective_kernel(conv)).sum(axis=(1, 2, 3)).max() >= 2**23
    g = Graph("loihi")
    g.add("in", Input(conv.in_size))
    g.add("conv", conv, ["in"])
    g.add("lif", LoihiLIF(conv.out_size, du=4095, dv=4095, vth=1 << 16), ["conv"])
    g.add("out", Output(conv.out_size), ["lif"])
    _agree(g, np.ones((1, 3, conv.in_size), np.int64))


def test_ideal_conv_net_under_onnxruntime():
    """float64 sums as the ideal target's: spikes equal, v to float32 rounding; counts up to 2, residual add."""
    rng = np.random.default_rng(fresh_seed())
    for _ in range(5):
        conv = random_conv(rng, delay=int(rng.integers(0, 2)), weight_exp=int(rng.integers(-1, 2)))
        c, h, w = conv.out_shape
        g = Graph("ideal")
        g.add("in", Input(conv.in_size))
        g.add("conv", conv, ["in"])
        g.add("lif0", FloatLIF(conv.out_size, beta=0.9, vth=0.5), ["conv"])
        g.add("conv2", Conv2d(rng.normal(size=(c, 1, 3, 3)).astype(np.float32), in_shape=(c, h, w), padding=1,
                              groups=c, delay=0), ["lif0"])
        g.add("skip", Synapse(np.eye(conv.out_size, dtype=np.float32), delay=0), ["lif0"])
        g.add("lif1", FloatLIF(conv.out_size, beta=0.8, vth=0.3), ["conv2", "skip"])
        g.add("out", Output(conv.out_size), ["lif1"])
        x = rng.integers(0, 3, size=(2, 5, conv.in_size))
        _agree(g, x, exact=False)


def test_conv_into_a_kind_without_conv_is_one_line():
    g = Graph("ideal")
    g.add("in", Input(8))
    g.add("conv", Conv2d(np.ones((1, 2, 1, 1), np.float32), in_shape=(2, 2, 2)), ["in"])
    g.add("pop", FloatLIF(4), ["conv"])
    g.add("out", Output(4), ["pop"])
    from snnc.compiler.export import onnx_kinds
    from snnc.targets.ideal import onnx_kind

    saved = onnx_kinds.LOWERINGS["FloatLIF"]
    onnx_kinds.LOWERINGS["FloatLIF"] = saved._replace(conv_output=None)
    try:
        with pytest.raises(CompileError, match="node 'conv'.*no Conv2d into FloatLIF 'pop'"):
            ox.build(g)
    finally:
        onnx_kinds.LOWERINGS["FloatLIF"] = saved
    assert onnx_kind.LOWERING.conv_output is not None


def test_verify_onnx_backend_on_a_loihi_conv_graph(tmp_path):
    """`verify --backends onnx` (the loihi target's onnx executor) on a conv graph: agreement 1.0."""
    from snnc.evaluation.verify import verify

    rng = np.random.default_rng(fresh_seed())
    g = _loihi_conv_net(rng)
    x = (rng.random((6, 5, g.nodes["in"].size)) < 0.5).astype(np.int64)
    np.savez(tmp_path / "d.npz", x_train=x, y_train=np.zeros(6, np.int64), x_test=x, y_test=np.arange(6) % 5)
    r = verify(g, {"file": str(tmp_path / "d.npz")}, None, ("sim", "reference", "onnx"), 6, progress=False)
    assert r["agreement"] == {"reference": 1.0, "onnx": 1.0} and r["agreement_samples"]["onnx"] == 6
