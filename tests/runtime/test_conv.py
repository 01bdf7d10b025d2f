"""Conv2d synapses: the node against PyTorch's conv2d, both simulators against each other and
against the conv's dense matrix, the `.snnc` round trip, hostile fields, and loihi's conv
arithmetic against Lava's own `lava.proc.conv.utils` (run in the Lava environment)."""
from __future__ import annotations

import json
import subprocess
import zipfile

import numpy as np
import pytest
import torch

from snnc.compiler.ir import Conv2d, FloatLIF, Graph, Input, LoihiLIF, Output, Synapse, load, save
from snnc.compiler.ir.conv import pool_conv
from snnc.errors import DesignRuleError, FormatError, GraphError
from snnc.runtime import simulate
from snnc.runtime.conv import conv_plan, correlate, reference_view, tap_table
from snnc.targets.loihi.conv import effective_kernel, lava_params, wrap24
from tests.backends import fresh_seed, require


def random_conv(rng, weights=None, **fixed) -> Conv2d:
    """A Conv2d of random geometry (groups, stride, padding, dilation) that fits its input."""
    while True:
        c = int(rng.integers(1, 4))
        groups = int(rng.choice([1, c]))
        kh, kw = (int(v) for v in rng.integers(1, 4, size=2))
        shape = (groups * int(rng.integers(1, 3)), c // groups, kh, kw)
        kw_ = dict(in_shape=(c, *(int(v) for v in rng.integers(3, 8, size=2))), stride=tuple(rng.integers(1, 3, size=2)),
                   padding=tuple(rng.integers(0, 2, size=2)), dilation=tuple(rng.integers(1, 3, size=2)), groups=groups)
        kw_.update(fixed)
        try:
            w = rng.normal(size=shape).astype(np.float32) if weights is None else weights(rng, shape)
            return Conv2d(w, **kw_)
        except GraphError:
            continue


def test_conv_matches_torch_three_ways():
    rng = np.random.default_rng(fresh_seed())
    for _ in range(40):
        n = random_conv(rng, delay=0)
        s = rng.integers(0, 3, n.in_size) * (rng.random(n.in_size) < 0.5)   # counts 0, 1 and 2
        x = torch.tensor(s.reshape(1, *n.in_shape), dtype=torch.float64)
        want = torch.nn.functional.conv2d(x, torch.tensor(n.weights, dtype=torch.float64), stride=n.stride,
                                          padding=n.padding, dilation=n.dilation, groups=n.groups).numpy().reshape(-1)
        acc = np.zeros((1, 1, n.out_size))
        events = conv_plan("ideal", "conv", n).deliver(acc, s[None, None], 0, -1)   # the event engine's walk
        np.testing.assert_allclose(acc[0, 0], want, atol=1e-9)
        np.testing.assert_allclose(n.dense().astype(np.float64) @ s, want, atol=1e-9)
        np.testing.assert_allclose(correlate(n.weights.astype(np.float64), s, n), want, atol=1e-9)
        assert events == int(n.fan_out_counts() @ s) == int(np.count_nonzero(n.dense(), axis=0) @ s)


def test_tap_table_is_every_output_a_position_reaches():
    """rows[y, k] = oy where y = oy stride - pad + k dilation for a whole oy in [0, out), else -1:
    against a search over every output position."""
    for size, taps, stride, pad, dilation in [(7, 3, 1, 1, 1), (8, 3, 2, 1, 1), (9, 2, 3, 0, 2), (5, 3, 2, 2, 2)]:
        out = (size + 2 * pad - dilation * (taps - 1) - 1) // stride + 1
        want = np.full((size, taps), -1)
        for oy in range(out):
            for k in range(taps):
                y = oy * stride - pad + k * dilation
                if 0 <= y < size:
                    want[y, k] = oy
        np.testing.assert_array_equal(tap_table(size, taps, out, stride, pad, dilation), want)


def _chain(target, conv: Conv2d, neuron, dense: bool = False) -> Graph:
    """Input -> conv (or its dense matrix) -> population -> Output."""
    g = Graph(target)
    g.add("in", Input(conv.in_size))
    syn = Synapse(conv.dense(), weight_exp=conv.weight_exp, delay=conv.delay) if dense else conv
    g.add("conv", syn, ["in"])
    g.add("pop", neuron(conv.out_size), ["conv"])
    g.add("out", Output(conv.out_size), ["pop"])
    return g


def test_ideal_conv_equals_its_dense_matrix_in_both_engines():
    rng = np.random.default_rng(fresh_seed())
    lif = lambda n: FloatLIF(n, beta=0.9, vth=1.0)  # noqa: E731
    for _ in range(10):
        conv = random_conv(rng, delay=int(rng.integers(0, 2)), weight_exp=int(rng.integers(-1, 2)))
        x = (rng.random((3, 6, conv.in_size)) < 0.3).astype(np.int64)
        runs = [simulate(_chain("ideal", conv, lif, dense), x, record=("v",), engine=engine)
                for dense, engine in ((False, "event"), (True, "event"), (False, "reference"))]
        for r in runs[1:]:
            np.testing.assert_array_equal(r.spikes["pop"], runs[0].spikes["pop"])
            np.testing.assert_allclose(r.state["pop"]["v"], runs[0].state["pop"]["v"], atol=1e-5)
            assert r.stats == runs[0].stats
        assert runs[0].stats["pop"]["synaptic_events"] == int(sum(conv.fan_out_counts() @ x[b, t]
                                                                 for b in range(3) for t in range(6 - conv.delay)))


def _int_kernel(lo, hi):
    return lambda rng, shape: rng.integers(lo, hi + 1, size=shape)


def big_conv(rng) -> Conv2d:
    """40 channels x 3 x 3 taps of 200..255 << 7: one output sums up to 11.7M > 2^23, so Lava's 24-bit
    wrap of the conv output decides (and u's wrap after the << 6)."""
    return Conv2d(rng.integers(200, 256, size=(2, 40, 3, 3)), weight_exp=7, delay=1, in_shape=(40, 5, 5), padding=1)


def _loihi_net(rng) -> tuple[Graph, Conv2d]:
    """Input -> Conv2d (random exponent in [-3, 3], weights up to 255) -> LIF -> Dense -> LIF: sums that
    wrap at 24 bits after the pre-shift, v that saturates."""
    conv = random_conv(rng, _int_kernel(-255, 255), delay=1, weight_exp=int(rng.integers(-3, 4))) \
        if rng.random() < 0.5 else big_conv(rng)
    g = Graph("loihi")
    g.add("in", Input(conv.in_size))
    g.add("conv", conv, ["in"])
    n = conv.out_size
    g.add("lif0", LoihiLIF(n, du=int(rng.integers(0, 4096)), dv=int(rng.integers(0, 4096)),
                           vth=int(rng.integers(1, 2000)), bias_mant=int(rng.integers(-50, 50))), ["conv"])
    g.add("fc", Synapse(rng.integers(-127, 128, size=(5, n)) * 2, weight_exp=int(rng.integers(-2, 3))), ["lif0"])
    g.add("lif1", LoihiLIF(5, du=100, dv=200, vth=500), ["fc"])
    g.add("out", Output(5), ["lif1"])
    return g, conv


def test_loihi_conv_event_equals_reference_and_wraps():
    rng = np.random.default_rng(fresh_seed())
    wrapped = 0
    for _ in range(8):
        g, conv = _loihi_net(rng)
        x = (rng.random((2, 8, conv.in_size)) < 0.6).astype(np.int64)
        a = simulate(g, x, record=("u", "v"))
        b = simulate(g, x, record=("u", "v"), engine="reference")
        for pop in ("lif0", "lif1"):
            np.testing.assert_array_equal(a.spikes[pop], b.spikes[pop])
            for var in ("u", "v"):
                np.testing.assert_array_equal(a.state[pop][var], b.state[pop][var])
        assert a.stats == b.stats
        wrapped += int(a.stats["lif0"]["overflow_events"] > 0)
    assert wrapped > 0   # some run wrapped u or saturated v
    assert effective_kernel(Conv2d(np.array([[[[-3, 5]]]]), weight_exp=-1, in_shape=(1, 1, 2))).tolist() == [[[[-2, 2]]]]


def test_wrap24_is_lavas_signed_clamp():
    x = np.array([2**23 - 1, 2**23, -(2**23), -(2**23) - 1, 3 * 2**24 + 5, -(2**31)], np.int64)
    want = (x + 2**23) % 2**24 - 2**23
    wrap24(x)
    np.testing.assert_array_equal(x, want)


def _lava_conv(cases: list[tuple[dict, np.ndarray]]) -> list[np.ndarray]:
    """Lava 0.10.0's own conv (`lava.proc.conv.utils.conv`, what PyConvModelFixed.run_spk calls) and its
    signed_clamp(x, 24), run in the Lava environment on (W, H, C) inputs."""
    from snnc.targets.loihi.lava_exec import lava_python

    python = require("Lava", lava_python)
    code = ("import json, sys, numpy as np\nfrom lava.proc.conv import utils\nout = []\n"
            "for p, s in json.load(sys.stdin):\n"
            "    w = np.array(p['weight'], np.int32)\n"
            "    a = utils.conv(np.array(s, np.int32), w, w.shape[1:3], p['stride'], p['padding'], p['dilation'], p['groups'])\n"
            "    out.append(utils.signed_clamp(a, bits=24).tolist())\n"
            "json.dump(out, sys.stdout)\n")
    doc = [({k: (v.tolist() if isinstance(v, np.ndarray) else list(v) if isinstance(v, tuple) else v)
             for k, v in p.items()}, s.tolist()) for p, s in cases]
    done = subprocess.run([str(python), "-c", code], input=json.dumps(doc), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return [np.asarray(a) for a in json.loads(done.stdout)]


def test_loihi_conv_is_lavas_conv_bit_for_bit():
    """The simulator's conv output (pre-shifted kernel, 24-bit wrap) equals Lava's on the documented
    mapping (`lava_params`: kernel flipped to (C_out, kw, kh, C_in), input as (W, H, C))."""
    rng = np.random.default_rng(fresh_seed())
    cases, ours = [], []
    for i in range(12):
        conv = random_conv(rng, _int_kernel(-255, 255), delay=1, weight_exp=int(rng.integers(-3, 8)))
        if i % 3 == 0:   # sums far beyond 24 bits: the wrap decides
            conv = big_conv(rng)
        s = (rng.random(conv.in_size) < 0.7).astype(np.int64)
        ours.append((reference_view("loihi", "conv", conv).weights @ s).reshape(conv.out_shape))
        cases.append((lava_params(conv), s.reshape(conv.in_shape).transpose(2, 1, 0)))
    for got, want in zip(ours, _lava_conv(cases)):
        np.testing.assert_array_equal(got, want.transpose(2, 1, 0))
    unwrapped = correlate(effective_kernel(big_conv(rng)), np.ones(1000, np.int64), big_conv(rng))
    assert unwrapped.max() >= 2**23   # the big case really wraps


def test_pool_as_conv_and_round_trip(tmp_path):
    g = Graph("ideal")
    g.add("in", Input(2 * 4 * 4))
    g.add("pool", pool_conv("avg", (2, 4, 4), 2), ["in"])
    g.add("pop", FloatLIF(8, vth=0.4), ["pool"])
    g.add("out", Output(8), ["pop"])
    x = np.zeros((1, 32), np.int64)
    x[0, :4] = 1                      # channel 0, row 0: windows (0, 0) and (0, 1) see 2 spikes each
    r = simulate(g, x, record=("v",))
    assert r.state["pop"]["v"][0, :4].tolist() == [0.5, 0.5, 0.0, 0.0] or r.spikes["pop"][0, :2].tolist() == [1, 1]
    back = load(save(g, tmp_path / "p.snnc"))
    node = back.nodes["pool"]
    assert isinstance(node, Conv2d) and node.in_shape == (2, 4, 4) and node.stride == (2, 2) and node.groups == 2
    np.testing.assert_array_equal(simulate(back, x).spikes["pop"], r.spikes["pop"])


@pytest.mark.parametrize("field, value, says", [
    ("in_shape", ["a", 4, 4], "in_shape"), ("in_shape", [2, 4], "(C, H, W)"), ("stride", [0, 1], "stride"),
    ("groups", 3, "groups"), ("padding", 1e9, "padding"), ("in_shape", [2, 4, 2**30], "in_shape"),
    ("dilation", [9, 9], "does not fit")])
def test_hostile_conv_fields_are_one_line(tmp_path, field, value, says):
    g = Graph("ideal")
    g.add("in", Input(32))
    g.add("conv", Conv2d(np.ones((4, 2, 3, 3), np.float32), in_shape=(2, 4, 4), padding=1), ["in"])
    g.add("pop", FloatLIF(64), ["conv"])
    path = save(g, tmp_path / "g.snnc")
    with zipfile.ZipFile(path) as zf:
        doc, npz = json.loads(zf.read("graph.json")), zf.read("tensors.npz")
    next(n for n in doc["nodes"] if n["name"] == "conv")["fields"][field] = value
    bad = tmp_path / "bad.snnc"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("graph.json", json.dumps(doc))
        zf.writestr("tensors.npz", npz)
    with pytest.raises(FormatError, match=says) as exc:
        load(bad)
    assert "\n" not in str(exc.value) and "conv" in str(exc.value)


def test_conv_on_a_target_without_conv_is_one_line():
    g = Graph("xylo")
    g.add("in", Input(16))
    g.add("conv", Conv2d(np.ones((1, 1, 2, 2), np.int64), in_shape=(1, 4, 4)), ["in"])
    from snnc.compiler.ir import XyloIAF
    g.add("pop", XyloIAF(9, threshold=1, dash_syn=np.ones((9, 1))), ["conv"])
    with pytest.raises((DesignRuleError, GraphError), match="conv"):
        simulate(g, np.zeros((2, 16), np.int64))
