"""Integer weight sums accumulate in int32 lanes only where the plan proves they fit: the most a
postsynaptic neuron can receive in a step (sum |w| x the source's largest count per step) below
2^31; otherwise, and for sources with unbounded counts, int64. Both give the same run."""
from __future__ import annotations

import numpy as np

import snnc
from snnc.runtime.plan import prepare
from tests.strategies import binary_input, recurrent_loihi_graph


def test_loihi_sums_fit_int32_and_give_the_int64_run():
    graph = recurrent_loihi_graph(seed=11)
    plan = prepare(graph)
    (first,) = [n for n, _, src in graph.incoming(next(iter(graph.neurons))) if src in graph.inputs]
    w = graph.nodes[first].weights
    assert plan.sum_bound[first] == np.abs(w).sum(axis=1).max()      # Loihi inputs: binary, count 1
    assert plan.accumulator(first, np.int64) == np.int32
    x = binary_input(seed=12, B=5, T=40, n=graph.nodes["input"].size, density=0.5)
    narrow = snnc.runtime.simulate(graph, x, record=("v", "u"), threads=1)
    plan.sum_bound = {name: None for name in plan.sum_bound}          # force int64 everywhere
    assert plan.accumulator(first, np.int64) == np.int64
    wide = snnc.runtime.simulate(graph, x, record=("v", "u"), threads=1)
    assert narrow.totals == wide.totals
    for name in narrow.spikes:
        assert np.array_equal(narrow.spikes[name], wide.spikes[name])
    for name, state in narrow.state.items():
        for var in state:
            assert np.array_equal(state[var], wide.state[name][var])


def test_a_bound_at_2_31_stays_int64():
    graph = recurrent_loihi_graph(seed=11)
    plan = prepare(graph)
    name = next(iter(plan.sum_bound))
    plan.sum_bound[name] = 2**31
    assert plan.accumulator(name, np.int64) == np.int64
    plan.sum_bound[name] = 2**31 - 1
    assert plan.accumulator(name, np.int64) == np.int32
    assert plan.accumulator(name, np.float64) == np.float64              # floats never narrow
