"""xylosim's XyloLayer really runs and returns the documented traces; the
hand-computed values follow its C++ (XyloIAFNeuron::evolve), per step:

    deliver: i += count * (w << shift), count <= 15 (input) / 31 (hidden), 16-bit saturating
    evolve:  i -= max(i >> dash_syn, sign(i));  v += sum(i) - max(v >> dash_mem, sign(v)) + bias
             while v >= th and spikes < max (31 hidden, 1 readout): spikes++, v -= th
"""
import numpy as np
import pytest

import snnc
from snnc.errors import GraphError, InputError

from snnc.targets.xylo.xylosim_exec import run_xylosim, run_xylosim_graph, xylosim_v2
from tests.backends import require

pytestmark = pytest.mark.xylosim


@pytest.fixture(scope="module", autouse=True)
def xylosim_available():
    require("xylosim", xylosim_v2)


def one_neuron(w_in, shift_in, dash_syn, threshold, w_out=50, threshold_out=40):
    """1 input -> 1 hidden neuron (one synapse) -> 1 readout, slow membrane decay."""
    return dict(w_in=np.array([[[w_in]]], np.int8), w_rec=np.zeros((1, 1, 1), np.int8),
                w_out=np.array([[w_out]], np.int8),
                threshold=np.array([threshold]), threshold_out=np.array([threshold_out]),
                bias=np.array([0]), bias_out=np.array([0]),
                weight_shift_in=shift_in, weight_shift_rec=0, weight_shift_out=0,
                dash_mem=np.array([15]), dash_mem_out=np.array([15]),
                dash_syn=np.array([[dash_syn]]), dash_syn_out=np.array([[15]]))


def random_params(rng, n_in, n_hid, n_out, n_syn):
    """A small random network in xylosim's parameter layout."""
    def weights(*shape):
        return (rng.integers(-60, 60, size=shape) * (rng.random(shape) < 0.5)).astype(np.int8)
    return dict(w_in=weights(n_in, n_hid, n_syn), w_rec=weights(n_hid, n_hid, n_syn),
                w_out=weights(n_hid, n_out),
                threshold=rng.integers(50, 500, size=n_hid), threshold_out=rng.integers(50, 500, size=n_out),
                bias=rng.integers(-5, 5, size=n_hid), bias_out=rng.integers(-5, 5, size=n_out),
                weight_shift_in=2, weight_shift_rec=1, weight_shift_out=1,
                dash_mem=rng.integers(1, 6, size=n_hid), dash_mem_out=rng.integers(1, 6, size=n_out),
                dash_syn=rng.integers(1, 6, size=(n_hid, n_syn)), dash_syn_out=rng.integers(1, 6, size=(n_out, 1)))


def test_multi_spike_hidden_and_single_spike_readout_by_hand():
    # t0: i = 3 * (100 << 2) = 1200, decays to 600; v = 600 -> 2 spikes (th 250), v = 100.
    # t1: i = 300; v = 100 - 1 + 300 = 399 -> 1 spike, v = 149.
    # Readout gets t0's 2 hidden spikes at t1: i = 100 -> 99; v = 99 >= 40 but
    # a readout neuron spikes at most once, so v = 59.
    out = run_xylosim(one_neuron(100, 2, dash_syn=1, threshold=250), np.array([[3], [0]], np.uint8))
    np.testing.assert_array_equal(out["hidden"]["i_syn"][:, 0, 0], [600, 300])
    np.testing.assert_array_equal(out["hidden"]["v"][:, 0], [100, 149])
    np.testing.assert_array_equal(out["hidden"]["spikes"][:, 0], [2, 1])
    np.testing.assert_array_equal(out["readout"]["i_syn"][:, 0, 0], [0, 99])
    np.testing.assert_array_equal(out["readout"]["v"][:, 0], [0, 59])
    np.testing.assert_array_equal(out["readout"]["spikes"][:, 0], [0, 1])


def test_saturation_and_spike_caps_by_hand():
    # 20 input spikes are cut to 15; 15 * (127 << 7) saturates i at 32767, which
    # decays by 1 to 32766; v = 32766 -> 31 spikes (the cap), v = 32766 - 31000.
    out = run_xylosim(one_neuron(127, 7, dash_syn=15, threshold=1000), np.array([[20]], np.uint8))
    assert out["hidden"]["i_syn"][0, 0, 0] == 32766
    assert out["hidden"]["spikes"][0, 0] == 31
    assert out["hidden"]["v"][0, 0] == 1766


@pytest.mark.parametrize("n_syn", [1, 2])
def test_shapes_dtypes_and_batch(n_syn):
    rng = np.random.default_rng(n_syn)
    params = random_params(rng, n_in=3, n_hid=5, n_out=2, n_syn=n_syn)
    spikes = rng.integers(0, 3, size=(2, 7, 3)).astype(np.uint8)
    single = run_xylosim(params, spikes[1])
    shapes = {"hidden": {"spikes": (7, 5), "v": (7, 5), "i_syn": (7, 5, n_syn)},
              "readout": {"spikes": (7, 2), "v": (7, 2), "i_syn": (7, 2, 1)}}
    assert {pop: {k: v.shape for k, v in d.items()} for pop, d in single.items()} == shapes
    assert all(v.dtype == np.int64 for d in single.values() for v in d.values())
    batch = run_xylosim(params, spikes)
    for pop, traces in batch.items():
        for key, trace in traces.items():
            assert trace.shape == (2, *shapes[pop][key])
            # each sample starts from reset_all(), so sample 1 equals a lone run
            np.testing.assert_array_equal(trace[1], single[pop][key])
    assert single["hidden"]["spikes"].any()


def test_repeated_runs_agree():
    # XyloLayer holds raw pointers to its synapses; were they freed, reruns
    # would read garbage.
    rng = np.random.default_rng(7)
    params = random_params(rng, n_in=4, n_hid=20, n_out=3, n_syn=2)
    spikes = rng.integers(0, 4, size=(30, 4)).astype(np.uint8)
    first = run_xylosim(params, spikes)
    [run_xylosim(random_params(rng, 4, 20, 3, 2), spikes) for _ in range(3)]
    again = run_xylosim(params, spikes)
    for pop in first:
        for key in first[pop]:
            np.testing.assert_array_equal(first[pop][key], again[pop][key])


def test_bad_inputs_are_one_line_input_errors():
    params = one_neuron(1, 0, dash_syn=1, threshold=10)
    for bad in ({**params, "w_in": np.array([[[200]]])}, {**params, "weight_shift_in": -1},
                {**params, "threshold": np.array([1, 2])}):
        with pytest.raises(InputError):
            run_xylosim(bad, np.zeros((2, 1), np.uint8))
    with pytest.raises(InputError, match="spikes"):
        run_xylosim(params, np.full((2, 1), 300))


# --- run_xylosim_graph: any .snnc graph of graph_from_xylo's shape -----------------

def random_xylo_graph(rng):
    """A Xylo graph built with the IR directly: own node names, 1 or 2 ports,
    input on either port, recurrent synapses present or not, edges in random order."""
    from snnc.compiler.ir import Graph, Input, Output, Synapse, XyloIAF
    n_in, n_hid, n_out, n_syn = (int(v) for v in (rng.integers(1, 17), rng.integers(1, 40),
                                                  rng.integers(1, 9), rng.integers(1, 3)))
    density = rng.choice([0.1, 0.5, 1.0])
    w = lambda *shape: rng.integers(-128, 128, shape) * (rng.random(shape) < density)  # noqa: E731
    g = Graph(target="xylo", metadata={"built": "ir"})
    g.add("spk", Input(n_in))
    g.add("pop", XyloIAF(n_hid, threshold=rng.integers(1, 3000, n_hid), bias=rng.integers(-100, 100, n_hid),
                         dash_mem=rng.integers(0, 16, n_hid), dash_syn=rng.integers(0, 16, (n_hid, n_syn))))
    g.add("cls", XyloIAF(n_out, threshold=rng.integers(1, 3000, n_out), bias=rng.integers(-100, 100, n_out),
                         dash_mem=rng.integers(0, 16, n_out), dash_syn=rng.integers(0, 16, (n_out, 1)), max_spikes=1))
    shifts = rng.integers(0, 8, 3)
    in_ports = [[0], [1], [0, 1]][int(rng.integers(3))] if n_syn == 2 else [0]
    synapses = [(f"in{k}", "spk", "pop", Synapse(w(n_hid, n_in), int(shifts[0]), 0, k)) for k in in_ports]
    synapses += [(f"rec{k}", "pop", "pop", Synapse(w(n_hid, n_hid) * (rng.random((n_hid, n_hid)) < 0.5),
                                                   int(shifts[1]), 1, k))
                 for k in range(n_syn) if rng.random() < 0.7]
    synapses.append(("ro", "pop", "cls", Synapse(w(n_out, n_hid), int(shifts[2]), 1, 0)))
    for i in rng.permutation(len(synapses)):
        name, src, dst, syn = synapses[i]
        g.add(name, syn, [src])
        g.connect(name, dst)
    g.add("logits", Output(n_out), ["cls"])
    return g


@pytest.mark.parametrize("seed", list(range(12)) + [None])
def test_run_xylosim_graph_equals_simulate_on_ir_built_graphs(seed):
    seed = int(np.random.SeedSequence().entropy % 2**32) if seed is None else seed  # None: a fresh one
    print(f"seed {seed}")  # shown by pytest if anything below fails
    rng = np.random.default_rng(seed)
    graph = random_xylo_graph(rng)
    x = rng.integers(0, int(rng.choice([2, 5, 40])), (int(rng.integers(4, 7)), int(rng.integers(1, 40)),
                                                      graph.nodes["spk"].size))
    ref = run_xylosim_graph(graph, x)
    ours = snnc.runtime.simulate(graph, x, record=("v", "i_syn"))
    assert set(ref) == {"pop", "cls"}
    for node in ref:
        for var, mine in (("spikes", ours.spikes[node]), ("v", ours.state[node]["v"]),
                          ("i_syn", ours.state[node]["i_syn"])):
            assert ref[node][var].dtype == np.int64 and ref[node][var].shape == mine.shape
            where = np.argwhere(mine != ref[node][var])
            assert where.size == 0, (f"seed {seed}: {node}.{var} differs first at {tuple(where[0])}: "
                                     f"snnc {mine[tuple(where[0])]}, xylosim {ref[node][var][tuple(where[0])]}")


def test_run_xylosim_graph_refuses_another_shape():
    from snnc.compiler.ir import Graph, Input, LoihiLIF, Output, Synapse
    g = Graph(target="loihi")
    g.add("i", Input(2))
    g.add("d", Synapse(np.ones((3, 2), int)), ["i"])
    g.add("lif", LoihiLIF(3), ["d"])
    g.add("o", Output(3), ["lif"])
    with pytest.raises(GraphError, match="targets 'loihi'"):
        run_xylosim_graph(g, np.zeros((2, 2), int))
