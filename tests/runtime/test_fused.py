"""The fused whole-graph loop (runtime/fused.py) gives the event engine's result bit for bit:
spikes, recorded states and every counter, on random Loihi chains (wraps, saturation, negative
exponents, recurrence, sparse and dense rows, several synapses into one population) and on random
float LIF graphs (multi-count input and spikes, soft and zero reset, delays 0 to 2); and it
is the path the benchmark net takes."""
from __future__ import annotations

import numpy as np
import pytest

import snnc
from snnc.compiler.ir import Conv2d, FloatLIF, Graph, Input, LoihiLIF, Output, Synapse
from snnc.runtime import fused
from snnc.runtime.plan import prepare
from snnc.targets import loihi
from tests.strategies import binary_input, random_lava_case, recurrent_loihi_graph


def engine_only(monkeypatch):
    """simulate() without the fused path: the general event engine (runtime/event.py)."""
    monkeypatch.setattr(fused, "layout", lambda graph, plan: None)


def both(monkeypatch, graph, x, record, threads=1):
    """(fused result, event-engine result) of one graph and input; asserts the fused path ran."""
    assert fused.layout(graph, prepare(graph)) is not None
    got = snnc.runtime.simulate(graph, x, record=record, threads=threads, chunk=3)
    with monkeypatch.context() as m:
        engine_only(m)
        want = snnc.runtime.simulate(graph, x, record=record, threads=1)
    return got, want


def assert_same(got, want):
    assert got.totals == want.totals and got.stats == want.stats
    for name in want.spikes:
        assert got.spikes[name].dtype == want.spikes[name].dtype, name
        assert np.array_equal(got.spikes[name], want.spikes[name]), name
    for name, state in want.state.items():
        assert state.keys() == got.state[name].keys(), name
        for var, trace in state.items():
            assert trace.dtype == got.state[name][var].dtype, (name, var)
            assert np.array_equal(trace, got.state[name][var]), (name, var)
    assert got.energy["energy_per_inference_j"] == want.energy["energy_per_inference_j"]


@pytest.mark.parametrize("seed", range(12))
def test_random_loihi_chains(monkeypatch, seed):
    rng = np.random.default_rng(seed)
    layers, n_in, x = random_lava_case(rng, steps=30)
    graph = loihi.graph_from_lava_layers(layers, n_in)
    batch = np.stack([x, *(rng.random((4,) + x.shape) < rng.random()).astype(np.int64)])
    got, want = both(monkeypatch, graph, batch, ("u", "v"), threads=1 + seed % 2)
    assert_same(got, want)


@pytest.mark.parametrize("tiers", [(np.int32, np.int64), (np.int64,)])
@pytest.mark.parametrize("seed", [0, 4, 7])
def test_every_sum_dtype_gives_the_engines_result(monkeypatch, seed, tiers):
    """The random chains' sums fit int16 (the path they take); the wider tiers, forced, give the
    same result (a graph whose bounds pass 2^15 or 2^31 takes them)."""
    monkeypatch.setattr(fused, "SUM_DTYPES", tiers)
    rng = np.random.default_rng(seed)
    layers, n_in, x = random_lava_case(rng, steps=30)
    graph = loihi.graph_from_lava_layers(layers, n_in)
    assert fused.layout(graph, prepare(graph)).acc_dtype == tiers[0]
    assert_same(*both(monkeypatch, graph, np.stack([x, 1 - x]), ("u", "v"), threads=2))


def edge_graph(extra: int) -> Graph:
    """Input(129) into two LIFs whose one-step weight sums with every input spiking are +-(32767 +
    extra): int16's largest (extra 0) or just past it. Excitatory weights are Lava's [0, 255],
    inhibitory [-255, 0] (`effective_weights`), so 128 x 255 + 127 = 32767."""
    row = np.array([255] * 128 + [127 + extra])
    g = Graph(target="loihi")
    g.add("input", Input(129))
    g.add("pos", Synapse(np.stack([row, row - 1]), 0, 1), ["input"])
    g.add("neg", Synapse(-np.stack([row, row - 1]), -2, 1), ["input"])
    g.add("lif_pos", LoihiLIF(2, du=4095, dv=100, vth=1 << 16), ["pos"])
    g.add("lif_neg", LoihiLIF(2, du=0, dv=0, vth=1 << 16), ["neg"])
    g.add("output", Output(2), ["lif_pos"])
    return g


@pytest.mark.parametrize("extra, dtype", [(0, np.int16), (1, np.int32)])
def test_int16_sums_at_their_edge(monkeypatch, extra, dtype):
    """Sums of exactly +-32767 are taken in int16 and one more in int32, each equal to the engine
    (int32 sums): a bound off by one would wrap 32768 to -32768 and change u. Lava runs both graphs
    too (tests/runtime/test_lava_graph_general.py)."""
    graph = edge_graph(extra)
    assert fused.layout(graph, prepare(graph)).acc_dtype == dtype
    x = np.ones((2, 6, 129), np.int64)
    x[1, 3] = 0
    got, want = both(monkeypatch, graph, x, ("u", "v"))
    assert_same(got, want)
    assert got.state["lif_pos"]["u"][0, 1, 0] == (32767 + extra) << 6   # du = 4095: u is the step's a_in


def test_the_random_chains_reach_the_edges(monkeypatch):
    """The cases above wrap u, saturate v, spike and use negative exponents and recurrence."""
    overflow = spikes = negative = recurrent = 0
    for seed in range(12):
        rng = np.random.default_rng(seed)
        layers, n_in, x = random_lava_case(rng, steps=30)
        res = snnc.runtime.simulate(loihi.graph_from_lava_layers(layers, n_in), x)
        overflow += res.totals["overflow_events"]
        spikes += res.totals["spikes"]
        negative += any(layer["weight_exp"] < 0 for layer in layers)
        recurrent += any("rec_weights" in layer for layer in layers)
    assert overflow > 0 and spikes > 0 and negative > 0 and recurrent > 0


def skip_loihi_graph(seed: int, density: float) -> Graph:
    """input -> lif0 -> lif1 plus input -> lif1 (two synapses into one population; Loihi's delay is
    always 1), a recurrent synapse on lif1, weights `density` dense (sparse rows: the CSR delivery)."""
    rng = np.random.default_rng(seed)
    w = lambda *shape: loihi.effective_weights(  # noqa: E731
        rng.integers(-255, 256, shape) * (rng.random(shape) < density))
    g = Graph(target="loihi")
    g.add("input", Input(7))
    g.add("d0", Synapse(w(11, 7), 2, 1), ["input"])
    g.add("lif0", LoihiLIF(11, du=rng.integers(0, 4096, 11), dv=rng.integers(0, 4096, 11), vth=rng.integers(0, 50, 11),
                           bias_mant=rng.integers(-100, 100, 11), bias_exp=3), ["d0"])
    g.add("d1", Synapse(w(5, 11), -3, 1), ["lif0"])
    g.add("skip", Synapse(w(5, 7), 1, 1), ["input"])
    g.add("lif1", LoihiLIF(5, du=50, dv=4000, vth=rng.integers(0, 30, 5)), ["d1", "skip"])
    g.add("rec", Synapse(w(5, 5), 0, 1), ["lif1"])
    g.connect("rec", "lif1")
    g.add("output", Output(5), ["lif1"])
    return g


@pytest.mark.parametrize("seed, density", [(0, 0.1), (1, 0.5), (2, 1.0), (3, 0.2)])
def test_loihi_skip_connections_and_sparse_rows(monkeypatch, seed, density):
    graph = skip_loihi_graph(seed, density)
    x = binary_input(seed, B=5, T=25, n=7, density=0.4)
    got, want = both(monkeypatch, graph, x, ("u",), threads=2)
    assert_same(got, want)


def float_weights(rng, *shape) -> np.ndarray:
    """Normal float32 weights, a tenth of them or all nonzero."""
    return (rng.normal(0, 1, shape) * (rng.random(shape) < rng.choice([0.1, 1.0]))).astype(np.float32)


def float_graph(seed: int, weights=float_weights) -> Graph:
    """Random FloatLIF graph: multi-spike neurons, soft and zero reset, synaptic decay, delay 0
    and 2, a skip synapse and a recurrent one, sparse and dense weights (`weights(rng, *shape)`),
    weight exponents."""
    rng = np.random.default_rng(seed)
    w = lambda *shape: weights(rng, *shape)  # noqa: E731
    vec = lambda lo, hi, n: rng.uniform(lo, hi, n).astype(np.float32)  # noqa: E731
    g = Graph(target="ideal")
    g.add("input", Input(6))
    g.add("s0", Synapse(w(9, 6), int(rng.integers(-2, 3)), 0), ["input"])
    g.add("a", FloatLIF(9, beta=vec(0, 1, 9), alpha=vec(0, 0.9, 9), vth=vec(0.2, 1.5, 9), bias=vec(-0.1, 0.1, 9),
                        reset=str(rng.choice(["soft", "zero"])), max_spikes=int(rng.choice([1, 3, 31]))), ["s0"])
    g.add("s1", Synapse(w(4, 9), 0, 2), ["a"])
    g.add("skip", Synapse(w(4, 6), -1, 1), ["input"])
    g.add("b", FloatLIF(4, beta=0.9, vth=0.5, reset="soft", max_spikes=2), ["s1", "skip"])
    g.add("rec", Synapse(w(4, 4), 0, 1), ["b"])
    g.connect("rec", "b")
    g.add("output", Output(4), ["b"])
    return g


@pytest.mark.parametrize("seed", range(6))
def test_random_float_graphs(monkeypatch, seed):
    rng = np.random.default_rng(seed + 100)
    x = rng.poisson(0.7, (5, 20, 6)).astype(np.int64)   # counts above 1
    got, want = both(monkeypatch, float_graph(seed), x, ("v", "i_syn"), threads=2)
    assert got.totals["spikes"] > 0
    assert_same(got, want)


def test_the_benchmark_net_takes_the_fused_path(monkeypatch):
    from snnc.targets.loihi.lava_exec import benchmark_case

    layers, spikes = benchmark_case(sizes=(70, 26, 26, 5), steps=10, rate=0.2)
    graph = loihi.graph_from_lava_layers(layers, spikes.shape[1])
    calls = []
    real = fused.run
    monkeypatch.setattr(fused, "run", lambda *args: calls.append(1) or real(*args))
    snnc.runtime.simulate(graph, spikes)
    assert calls == [1]
    lay = fused.layout(graph, prepare(graph))
    assert lay.wd.dtype == np.int8 and lay.acc_dtype == np.int16   # the narrowest exact weights and sums


def test_graphs_it_does_not_cover_fall_back():
    """A Conv2d synapse, a Xylo graph: the general engine (layout None); the result is unchanged."""
    conv = Graph(target="loihi")
    conv.add("input", Input(2 * 4 * 4))
    conv.add("c", Conv2d(weights=np.ones((2, 2, 3, 3), np.int64), in_shape=(2, 4, 4), padding=(1, 1)), ["input"])
    conv.add("lif", LoihiLIF(2 * 4 * 4, vth=1), ["c"])
    assert fused.layout(conv, prepare(conv)) is None
    rec = recurrent_loihi_graph(seed=5)
    assert fused.layout(rec, prepare(rec)) is not None


def test_overhead_free_repeat_calls_reuse_the_tables():
    graph = recurrent_loihi_graph(seed=5)
    x = binary_input(seed=6, B=2, T=5, n=6, density=0.3)
    snnc.runtime.simulate(graph, x)
    first = fused.layout(graph, prepare(graph))
    snnc.runtime.simulate(graph, x)
    assert fused.layout(graph, prepare(graph)) is first


def test_a_zero_threshold_sends_max_spikes_as_onnx_does(monkeypatch):
    """vth = 0 with several spikes a step: v / 0 is inf, the count max_spikes (numpy's division, as
    the ONNX lowering's Div), in both engines; no ZeroDivisionError."""
    from snnc.compiler.export import run_onnx

    g = Graph(target="ideal")
    g.add("input", Input(3))
    g.add("w", Synapse(np.array([[1, 0, 0], [0, -1, 0], [0, 0, 2]], np.float32), 0, 1), ["input"])
    g.add("lif", FloatLIF(3, vth=[0.0, 0.0, 0.5], max_spikes=3, beta=0.5, reset="soft"), ["w"])
    g.add("output", Output(3), ["lif"])
    x = np.ones((2, 5, 3), np.int64)
    got, want = both(monkeypatch, g, x, ("v",))
    assert_same(got, want)
    assert got.spikes["lif"][:, 1:, 0].tolist() == [[3] * 4] * 2
    onnx = run_onnx(g, x)
    assert np.array_equal(got.spikes["lif"], onnx["lif"]["spikes"]) and np.array_equal(got.state["lif"]["v"],
                                                                                         onnx["lif"]["v"])


def test_the_input_checks_value_range_is_min_and_max():
    """kernels.value_range (simulate's input check): binary arrays by OR and AND, others by min and max."""
    from snnc.runtime.kernels import value_range

    rng = np.random.default_rng(0)
    cases = [[0, 0], [0, 1], [1, 1], [1], [0], [2, 0], [-1, 0], [3, -7, 2**40], [-(2**63), 2**63 - 1]]
    cases += [rng.integers(lo, 4, rng.integers(1, 9)) for lo in (-3, 0) for _ in range(300)]
    cases += [rng.integers(0, 2, rng.integers(1, 9)) for _ in range(300)]
    for case in cases:
        a = np.asarray(case, np.int64)
        assert value_range(a) == (a.min(), a.max()), a


def test_a_large_inputs_range_is_read_by_several_threads():
    """simulate's input check on an input of at least PARALLEL_RANGE_MIN values: one slice a thread."""
    from snnc.runtime.simulate import PARALLEL_RANGE_MIN, _value_range

    x = np.zeros((1, 1, PARALLEL_RANGE_MIN + 7), np.int64)
    for threads in (1, 2, 3):
        assert _value_range(x, threads) == (0, 0)
    x[0, 0, 5] = 1
    assert _value_range(x, 3) == (0, 1)
    x[0, 0, -1], x[0, 0, 3] = -5, 9
    assert _value_range(x, 2) == (-5, 9) and _value_range(x, 3) == (-5, 9)


def _simulate_in_child(queue):
    graph = recurrent_loihi_graph(seed=5)
    res = snnc.runtime.simulate(graph, binary_input(seed=6, B=6, T=10, n=6, density=0.3), threads=2, chunk=1)
    queue.put(res.totals["spikes"])


def test_a_forked_child_makes_its_own_thread_pool():
    """The kept pools (runtime/batches.shared_pool) are forgotten in a forked child, whose threads
    they are not: a child's threaded simulate runs instead of waiting on the parent's pool."""
    import multiprocessing

    graph = recurrent_loihi_graph(seed=5)
    want = snnc.runtime.simulate(graph, binary_input(seed=6, B=6, T=10, n=6, density=0.3), threads=2, chunk=1)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_simulate_in_child, args=(queue,))
    child.start()
    child.join(600)   # a hang would stop here (not a timing check: the child takes well under a second)
    assert child.exitcode == 0 and queue.get(timeout=1) == want.totals["spikes"]


@pytest.mark.parametrize("threads", [1, 2])
def test_the_fused_loop_checks_every_input_count_it_reads(threads):
    """An int64 input's range is checked from the OR of its counts the loop takes as it reads them
    (no pass of its own): a bad count in any part of a batch is the same one-line error as before
    the loop; counts just within the limits run (the ideal target: 2^31 - 1; Loihi: 0/1)."""
    from snnc.errors import InputError
    from snnc.runtime.simulate import MAX_COUNT

    g = float_graph(3)
    x = np.zeros((9, 4, 6), np.int64)
    x[8, 3, 5] = MAX_COUNT                       # the largest count any engine takes, in the last part
    x[2, 1, 0] = 5
    assert snnc.runtime.simulate(g, x, threads=threads, chunk=2).spikes["input"][8, 3, 5] == MAX_COUNT
    for bad, message in ((-1, ">= 0, got minimum -1"), (MAX_COUNT + 1, f"at most {MAX_COUNT} per channel")):
        y = x.copy()
        y[7, 2, 4] = bad
        with pytest.raises(InputError, match=message):
            snnc.runtime.simulate(g, y, threads=threads, chunk=2)
    chain = loihi.graph_from_lava_layers([dict(weights=np.ones((3, 4), int), vth=1)], 4)
    z = np.zeros((5, 3, 4), np.int64)
    z[4, 2, 3] = 3                               # OR 3 > 1: the exact range is read for the message
    with pytest.raises(InputError, match="got counts up to 3") as info:
        snnc.runtime.simulate(chain, z, threads=threads, chunk=1)
    assert "\n" not in str(info.value)
