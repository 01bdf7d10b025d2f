"""Property tests: the event-driven core equals the dense reference bit for bit
(spikes, every recorded state, every counter) on random graphs of every target."""
import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import snnc
from snnc.compiler.ir import FloatLIF, Graph, Input, Output, Synapse
from snnc.targets import loihi, xylo
from tests.strategies import binary_input, lava_layers, recurrent_loihi_graph, xylo_fanout_ok, xylo_params

# Fresh random examples each run; print_blob makes a failure also print a @reproduce_failure line
# that replays it exactly on any machine (the local .hypothesis database is not shared).
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    print_blob=True)


def assert_same(graph, x, record):
    ev = snnc.runtime.simulate(graph, x, record=record)
    ref = snnc.runtime.simulate(graph, x, record=record, engine="reference")
    for name in graph.neurons:
        np.testing.assert_array_equal(ev.spikes[name], ref.spikes[name], err_msg=f"spikes of {name}")
        for var in record:
            np.testing.assert_array_equal(ev.state[name][var], ref.state[name][var], err_msg=f"{var} of {name}")
    assert ev.stats == ref.stats
    return ev


@SETTINGS
@given(lava_layers(), st.integers(1, 3), st.integers(1, 25), st.sampled_from([0.05, 0.3, 1.0]))
def test_loihi_chain(case, B, T, density):
    layers, n_in, seed = case
    graph = loihi.graph_from_lava_layers(layers, n_in)
    assert_same(graph, binary_input(seed, B, T, n_in, density), ("u", "v"))


@SETTINGS
@given(st.integers(0, 10_000), st.integers(1, 30))
def test_loihi_recurrent(seed, T):
    graph = recurrent_loihi_graph(seed)
    assert_same(graph, binary_input(seed, 2, T, 6, 0.4), ("u", "v"))


@SETTINGS
@given(xylo_params(), st.integers(1, 3), st.integers(1, 25), st.sampled_from([1, 3, 20]))
def test_xylo_population(params, B, T, max_count):
    assume(xylo_fanout_ok(params))
    graph = xylo.graph_from_xylo(**params)
    x = np.random.default_rng(T).integers(0, max_count + 1, (B, T, params["w_in"].shape[0]))
    assert_same(graph, x, ("v", "i_syn"))


@SETTINGS
@given(st.integers(0, 10_000), st.integers(1, 20), st.sampled_from(["soft", "zero"]),
       st.sampled_from([0.0, 0.5, 0.75]), st.sampled_from([1, 3, 31]), st.sampled_from([0, 1]))
def test_ideal_float(seed, T, reset, alpha, max_spikes, delay):
    rng = np.random.default_rng(seed)
    g = Graph(target="ideal")
    g.add("input", Input(5))
    # integer-valued float weights: sums are exact, so float order cannot differ
    g.add("fc0", Synapse(rng.integers(-4, 5, (7, 5)).astype(np.float32), -2, delay), ["input"])
    g.add("lif0", FloatLIF(7, beta=0.875, vth=1.0, reset=reset, alpha=alpha, max_spikes=max_spikes), ["fc0"])
    g.add("rec0", Synapse(rng.integers(-2, 3, (7, 7)).astype(np.float32), -3, 1), ["lif0"])
    g.connect("rec0", "lif0")
    g.add("output", Output(7), ["lif0"])
    assert_same(g, binary_input(seed, 2, T, 5, 0.5), ("v", "i_syn"))


def test_chunked_batches_equal_one_batch():
    layers, n_in = [dict(weights=np.arange(12).reshape(3, 4) - 5, vth=1, du=100)], 4
    graph = loihi.graph_from_lava_layers(layers, n_in)
    x = binary_input(3, 10, 12, n_in, 0.5)
    whole = snnc.runtime.simulate(graph, x, record=("v",))
    parts = snnc.runtime.simulate(graph, x, record=("v",), chunk=3, progress=True)
    np.testing.assert_array_equal(whole.spikes["lif0"], parts.spikes["lif0"])
    np.testing.assert_array_equal(whole.state["lif0"]["v"], parts.state["lif0"]["v"])
    assert whole.stats == parts.stats
