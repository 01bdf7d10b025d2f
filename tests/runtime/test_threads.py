"""Samples run side by side (`simulate(threads=N)`, `snnc simulate --threads N`): the same spikes,
states and counters as one thread, whatever the split; a bad count is one line."""
from __future__ import annotations

import numpy as np
import pytest

import snnc
from snnc.errors import InputError
from tests.strategies import binary_input, recurrent_loihi_graph


@pytest.mark.parametrize("threads, chunk", [(2, 256), (3, 256), (4, 2)])
def test_threads_give_the_one_thread_result(threads, chunk):
    graph = recurrent_loihi_graph(seed=5)
    x = binary_input(seed=6, B=11, T=30, n=6, density=0.3)
    one = snnc.runtime.simulate(graph, x, record=("v", "u"), threads=1)
    many = snnc.runtime.simulate(graph, x, record=("v", "u"), threads=threads, chunk=chunk)
    assert one.totals == many.totals and one.stats == many.stats
    for name in one.spikes:
        assert np.array_equal(one.spikes[name], many.spikes[name]), name
    for name, state in one.state.items():
        for var, trace in state.items():
            assert np.array_equal(trace, many.state[name][var]), (name, var)
    assert one.energy["energy_per_inference_j"] == many.energy["energy_per_inference_j"]


@pytest.mark.parametrize("threads", [0, -1, 1.5, True])
def test_a_bad_thread_count_is_one_line(threads):
    graph = recurrent_loihi_graph(seed=5)
    with pytest.raises(InputError, match="threads must be a positive integer"):
        snnc.runtime.simulate(graph, binary_input(seed=6, B=2, T=5, n=6, density=0.3), threads=threads)


def test_cli_threads_option(tmp_path, capsys):
    from snnc.cli import main
    from snnc.compiler.ir import save

    graph = save(recurrent_loihi_graph(seed=5), tmp_path / "g.snnc")
    np.save(tmp_path / "x.npy", binary_input(seed=6, B=4, T=10, n=6, density=0.3))
    reports = []
    for threads in ("1", "2"):
        assert main(["simulate", str(graph), "--input", str(tmp_path / "x.npy"), "--threads", threads,
                     "--report", str(tmp_path / f"r{threads}.json")]) == 0
        reports.append((tmp_path / f"r{threads}.json").read_text())
    assert reports[0] == reports[1]


def test_an_int64_input_is_read_in_place_never_written():
    """An int64 C-ordered input is not copied: the result's input spikes are a read-only view of
    it (nothing in the engines writes to it); any other dtype is converted once."""
    graph = recurrent_loihi_graph(seed=5)
    x = binary_input(seed=6, B=3, T=8, n=6, density=0.3)
    before = x.copy()
    res = snnc.runtime.simulate(graph, x, threads=2, chunk=1)
    assert np.shares_memory(res.spikes["input"], x) and not res.spikes["input"].flags.writeable
    assert np.array_equal(x, before) and x.flags.writeable
    as_int8 = snnc.runtime.simulate(graph, x.astype(np.int8), threads=1)
    assert not np.shares_memory(as_int8.spikes["input"], x)
    assert all(np.array_equal(as_int8.spikes[n], res.spikes[n]) for n in res.spikes)
