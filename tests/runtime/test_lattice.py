"""Float weights on a power-of-two lattice (runtime/lattice.py): the fused loop sums their integers
in int16 or int32 and gives the event engine's float64 result bit for bit, runs again with wider
sums (int32, then float64) when an input count exceeds what the proof covers, and keeps float64
sums off a lattice."""
from __future__ import annotations

import numpy as np
import pytest

import snnc
from snnc.compiler.ir import FloatLIF, Graph, Input, Output, Synapse
from snnc.runtime import fused, lattice
from snnc.runtime.plan import prepare
from tests.runtime.test_fused import assert_same, both, float_graph


@pytest.mark.parametrize("w,e", [
    ([0.0, 0.0], 0), ([1, -3, 5], 0), ([2, 4, -6], 1), ([0.5, 3, -1.25], -2), ([2.0**-20, 1.0], -20),
    ([3 * 2.0**40], 40), ([2.0**-149], -149), ([2.0**31], 31), ([1.0, 2.0**31], None), ([np.inf, 1], None),
    ([0.1], -27),    # 0.1 as a float32 is 13421773 x 2^-27
])
def test_the_exponent_is_the_largest_common_power_of_two(w, e):
    w = np.asarray(w, np.float32)
    got = lattice.exponent(w)
    assert got == e
    if e is not None:
        k = lattice.integers(w, e)
        assert np.array_equal(np.ldexp(k.astype(np.float64), e), w.astype(np.float64))
        assert not np.any(k) or np.bitwise_or.reduce(k) & 1   # nothing left to take out


def test_random_float32_weights_are_off_every_lattice():
    rng = np.random.default_rng(0)
    assert lattice.exponent(rng.normal(0, 1, (20, 30)).astype(np.float32)) is None


def lattice_weights(rng, *shape) -> np.ndarray:
    """Integers up to 100 (a fifth of them or all nonzero) times one power of two, 2^-12 to 2^3."""
    k = rng.integers(-100, 101, shape) * (rng.random(shape) < rng.choice([0.2, 1.0]))
    return np.ldexp(k.astype(np.float64), int(rng.integers(-12, 4))).astype(np.float32)


@pytest.mark.parametrize("sums", [(np.int16, np.int32), (np.int32,)])
@pytest.mark.parametrize("seed", range(8))
def test_sums_on_a_lattice_are_the_engines(monkeypatch, seed, sums):
    """On int16 sums where their proof holds (these graphs' do), and on int32 (forced)."""
    monkeypatch.setattr(fused, "LATTICE_SUMS", sums)
    g = float_graph(seed, lattice_weights)   # test_fused's random float graph, on lattices
    lay = fused.layout(g, prepare(g))
    assert lay.wd.dtype.kind == "i" and lay.acc_dtype == sums[0] and lay.input_limit >= 1
    x = np.random.default_rng(seed + 50).poisson(0.8, (5, 25, 6)).astype(np.int64)
    got, want = both(monkeypatch, g, x, ("v", "i_syn"), threads=1 + seed % 2)
    assert got.totals["spikes"] > 0
    assert_same(got, want)


def test_counts_beyond_the_limit_run_again_with_float64_sums(monkeypatch):
    """Weights of 2^27 (no int16 lattice): an input count above 10 could leave int32; such a part runs
    again with float64 sums (the float path's own layout), those before it stay on the lattice (on
    two threads every part started on it), and the plan's later parts and runs take float64 sums;
    every result is the engine's."""
    def graph():
        g = Graph(target="ideal")
        g.add("input", Input(2))
        g.add("w", Synapse(np.array([[2.0**27, -(2.0**26)], [1.0, 2.0**27]], np.float32), -27, 0), ["input"])
        g.add("lif", FloatLIF(2, beta=0.5, vth=0.7, reset="soft", max_spikes=31), ["w"])
        g.add("output", Output(2), ["lif"])
        return g

    g = graph()
    lay = fused.layout(g, prepare(g))
    assert lay.input_limit == (2**31 - 1) // (2**27 + 2**26) == 10
    x = np.zeros((4, 6, 2), np.int64)
    x[0, :, 0] = 3
    x[2, 1] = (30, 11)    # sample 2 beyond the limit (a part of its own with chunk=1)
    parts = []
    real = fused._part
    monkeypatch.setattr(fused, "_part", lambda lay, *a: parts.append(lay.input_limit) or real(lay, *a))
    got = snnc.runtime.simulate(g, x, record=("v",), threads=1, chunk=1)
    assert parts == [10, 10, 10, None, None]    # the third part again with float64 sums, the fourth from the start
    parts.clear()
    threaded = snnc.runtime.simulate(graph(), x, record=("v",), threads=2, chunk=1)   # a fresh plan
    assert sorted(parts, key=str) == [10, 10, 10, 10, None]   # parts on the pool, the rerun here
    parts.clear()
    again = snnc.runtime.simulate(g, x, record=("v",), threads=1, chunk=1)
    assert parts == [None] * 4                   # later runs of the plan: float64 sums from the start
    monkeypatch.setattr(fused, "layout", lambda graph, plan: None)
    want = snnc.runtime.simulate(g, x, record=("v",), threads=1)
    assert_same(got, want)
    assert_same(threaded, want)
    assert_same(again, want)


def test_sums_widen_step_by_step_int16_int32_float64(monkeypatch):
    """Row sums of 10,000 (x 2^-4): int16 sums cover input counts up to 3, int32 up to 214,748. A
    count of 5 runs its part again in int32 and one of 300,000 in float64; the plan's later runs
    start from the widest sums its data needed; every result is the engine's."""
    g = Graph(target="ideal")
    g.add("input", Input(2))
    g.add("w", Synapse(np.array([[6000.0, -4000.0], [1.0, 9999.0]], np.float32) / 16, 0, 0), ["input"])
    g.add("lif", FloatLIF(2, beta=0.5, vth=0.7, reset="soft", max_spikes=31), ["w"])
    g.add("output", Output(2), ["lif"])
    lay = fused.layout(g, prepare(g))
    assert (lay.acc_dtype, lay.input_limit) == (np.int16, 3)
    x = np.zeros((4, 5, 2), np.int64)
    x[0, :, 0] = 3
    x[1, 2] = (5, 1)
    x[3, 0] = (300_000, 2)
    used = []
    real = fused._part
    monkeypatch.setattr(fused, "_part", lambda lay, *a: used.append(str(lay.acc_dtype)) or real(lay, *a))
    got = snnc.runtime.simulate(g, x, record=("v",), threads=1, chunk=1)
    assert used == ["int16", "int16", "int32", "int32", "int32", "float64"]
    used.clear()
    again = snnc.runtime.simulate(g, x[:1], threads=1)
    assert used == ["float64"]
    monkeypatch.setattr(fused, "layout", lambda graph, plan: None)
    assert_same(got, snnc.runtime.simulate(g, x, record=("v",), threads=1))
    assert_same(again, snnc.runtime.simulate(g, x[:1], threads=1))


def test_weights_off_a_lattice_keep_float64_sums():
    """A few float32 weights of similar size share a lattice (24-bit mantissas a few octaves apart);
    a trained layer's spread does not."""
    rng = np.random.default_rng(1)
    assert lattice.exponent(rng.normal(0, 1, 12).astype(np.float32)) is not None
    g = Graph(target="ideal")
    g.add("input", Input(3))
    g.add("w", Synapse(rng.normal(0, 1, (4, 3)).astype(np.float32) * np.float32([1e-6, 1, 1]), 0, 1), ["input"])
    g.add("lif", FloatLIF(4), ["w"])
    lay = fused.layout(g, prepare(g))
    assert lay.wd.dtype == np.float32 and lay.acc_dtype == np.float64 and lay.input_limit is None
