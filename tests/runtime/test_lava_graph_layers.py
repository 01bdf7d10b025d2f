"""Graph <-> Lava layers, the weights Lava keeps, and run_lava_graph's checks
made before Lava starts (no Lava needed here; tests/runtime/test_lava_graph.py
runs the graphs in Lava)."""
import numpy as np
import pytest

from snnc.compiler.ir import Graph, Input, LoihiLIF, Output, Synapse
from snnc.errors import DesignRuleError, GraphError, InputError
from snnc.targets.loihi import lava_exec, lava_network
from snnc.targets import loihi


def chain(names=("in", "a", "b", "c", "d", "out"), rec=True):
    """input -> Synapse -> LIF (+ self-recurrent) -> Synapse -> LIF -> Output, names free."""
    i, s0, p0, r0, s1, o = names
    g = Graph(target="loihi")
    g.add(i, Input(3))
    g.add(s0, Synapse(np.array([[2, -4, 6], [0, 8, -256]]), weight_exp=-2, delay=1), [i])
    g.add(p0, LoihiLIF(2, du=[0, 4095], dv=7, vth=[5, 5], bias_mant=[1, -3], bias_exp=2), [s0])
    if rec:
        g.add(r0, Synapse(np.array([[-256, 0], [-2, -4]]), weight_exp=3, delay=1), [p0])
        g.connect(r0, p0)
    g.add(s1, Synapse(np.array([[255, 3]]), delay=1), [p0])
    g.add("lif_out", LoihiLIF(1, du=10, dv=20, vth=131071), [s1])
    g.add(o, Output(1, read="v"), ["lif_out"])
    return g


def test_layers_from_graph_reads_any_names_and_round_trips():
    g = chain()
    layers, n_in, names = loihi.layers_from_graph(g)
    assert n_in == 3 and names == [("a", "b", "c"), ("d", "lif_out", None)]
    first, last = layers
    assert first["du"].tolist() == [0, 4095] and first["dv"] == 7 and first["vth"] == 5
    assert first["bias_mant"].tolist() == [1, -3] and first["bias_exp"] == 2
    assert first["weight_exp"] == -2 and first["rec_weight_exp"] == 3
    # All <= 0 with -256: only Lava's mixed mode keeps it (its guess, inhibitory, would clip to -255).
    assert first["rec_sign_mode"] == loihi.SIGN_MIXED and last["sign_mode"] == loihi.SIGN_EXCITATORY
    again = loihi.graph_from_lava_layers(layers, n_in)
    for ours, theirs in (("a", "dense0"), ("c", "rec0"), ("d", "dense1")):
        np.testing.assert_array_equal(again.nodes[theirs].weights, g.nodes[ours].weights)
        assert again.nodes[theirs].weight_exp == g.nodes[ours].weight_exp
    for ours, theirs in (("b", "lif0"), ("lif_out", "lif1")):
        for key in loihi.LIF_PARAMS:
            np.testing.assert_array_equal(getattr(again.nodes[theirs], key), getattr(g.nodes[ours], key))


def test_layers_from_graph_recurrent_edge_first():
    """Edge order is free: the recurrent Dense may be connected before the forward one."""
    g = Graph(target="loihi")
    g.add("x", Input(2))
    g.add("lif", LoihiLIF(2, vth=3))
    g.add("rec", Synapse(np.eye(2, dtype=int), delay=1), ["lif"])
    g.connect("rec", "lif")
    g.add("ff", Synapse(np.ones((2, 2), int), delay=1), ["x"])
    g.connect("ff", "lif")
    assert loihi.layers_from_graph(g)[2] == [("ff", "lif", "rec")]


def non_chains():
    """(graph, node the error must name) for graphs Lava's chain cannot run."""
    branch = chain(rec=False)
    branch.add("side", Synapse(np.ones((1, 2), int), delay=1), ["b"])
    branch.add("lif_side", LoihiLIF(1), ["side"])
    two_inputs = chain(rec=False)
    two_inputs.add("in2", Input(2))
    two_inputs.add("syn2", Synapse(np.ones((1, 2), int), delay=1), ["in2"])
    two_inputs.connect("syn2", "lif_out")
    slow = chain(rec=False)
    slow.nodes["d"].delay = 2
    skip = chain(rec=False)
    skip.add("skip", Synapse(np.ones((1, 3), int), delay=1), ["in"])
    skip.connect("skip", "lif_out")
    stray = chain(rec=False)
    stray.add("lonely", LoihiLIF(4))
    bad_w = chain(rec=False)
    bad_w.nodes["a"].weights = np.array([[-256, -3], [0, 0], [0, 0]]).T.copy()
    return [(branch, "b"), (two_inputs, "in"), (slow, "d"), (skip, "in"), (stray, "lonely"), (bad_w, "a")]


@pytest.mark.parametrize("case", range(6))
def test_non_chain_graph_names_the_node(case):
    graph, node = non_chains()[case]
    with pytest.raises(GraphError, match=f"'{node}'") as info:
        loihi.layers_from_graph(graph)
    assert "\n" not in str(info.value)


def test_other_target_is_rejected():
    with pytest.raises(GraphError, match="'xylo', not 'loihi'"):
        loihi.layers_from_graph(Graph(target="xylo"))


# --- the weights Lava keeps ------------------------------------------------------

def test_lava_is_not_idempotent_and_the_graph_stores_what_it_uses():
    """[[-256, 1]] is mixed: Lava uses [[-256, 0]]; fed [[-256, 0]] again, Lava
    guesses inhibitory and clips to -255. The stored weights stay a fixed point
    under the sign mode layers_from_graph hands to Lava's Dense."""
    used = loihi.effective_weights([[-256, 1]])
    assert used.tolist() == [[-256, 0]]
    assert loihi.effective_weights(used).tolist() == [[-255, 0]]            # Lava's own guess
    mode = loihi.lava_sign_mode(used)
    assert mode == loihi.SIGN_MIXED
    assert loihi.effective_weights(used, mode).tolist() == [[-256, 0]]
    graph = loihi.graph_from_lava_layers([dict(weights=[[-256, 1]])], 2)
    np.testing.assert_array_equal(graph.nodes["dense0"].weights, used)
    assert loihi.layers_from_graph(graph)[0][0]["sign_mode"] == loihi.SIGN_MIXED


def test_effective_weights_are_a_fixed_point_under_lava_sign_mode():
    rng = np.random.default_rng(5)
    for _ in range(500):
        shape = tuple(rng.integers(1, 5, 2))
        hi = int(rng.choice([2, 256, 600, 2**31]))
        w = rng.integers(-hi, hi + 1, shape)
        w = np.abs(w) if rng.random() < 0.2 else -np.abs(w) if rng.random() < 0.3 else w
        if rng.random() < 0.3:
            w.flat[0] = -256
        used = loihi.effective_weights(w)
        np.testing.assert_array_equal(loihi.effective_weights(used, loihi.lava_sign_mode(used)), used,
                                      err_msg=str(w.tolist()))


def test_inhibitory_negation_wraps_in_int32_like_lava():
    # Lava negates int32 weights: -2**31 stays -2**31, clips to 0 (not to -255).
    assert loihi.effective_weights([[-2**31, -7]]).tolist() == [[0, -7]]


def test_weight_format_rule_rejects_weights_lava_would_change():
    """All <= 0 with -256 and an odd value: inhibitory clips -256, mixed drops
    the odd LSB; no sign mode runs it as written."""
    ok, bad = chain(rec=False), chain(rec=False)
    ok.nodes["a"].weights = np.array([[-256, 0, -2], [0, 0, 0]])
    bad.nodes["a"].weights = np.array([[-256, 0, -3], [0, 0, 0]])
    loihi.LOIHI.check(ok)
    with pytest.raises(DesignRuleError, match="weight-format.*'a'"):
        loihi.LOIHI.check(bad)


# --- run_lava_graph's own checks (before Lava starts) ------------------------------

def test_bad_spikes_are_one_line_input_errors():
    g = chain()
    for spikes, match in ((np.full((4, 3), 2), "0/1"), (np.zeros((4, 2)), r"\[T, 3\]"),
                          (np.zeros((1, 2, 4, 3)), "shape")):
        with pytest.raises(InputError, match=match) as info:
            lava_exec.run_lava_graph(g, spikes)
        assert "\n" not in str(info.value)
    with pytest.raises(InputError, match="block"):
        lava_exec.run_lava_graph(g, np.zeros((2, 4, 3)), block=3)
    with pytest.raises(InputError, match="record"):
        lava_exec.run_lava_graph(g, np.zeros((4, 3)), record=("w",))


def test_too_many_lif_groups_names_the_node():
    n = lava_exec.MAX_GROUPS + 1
    g = loihi.graph_from_lava_layers([dict(weights=np.ones((n, 2), int), vth=np.arange(n))], 2)
    with pytest.raises(GraphError, match=f"'lif0': {n} distinct"):
        lava_exec.run_lava_graph(g, np.zeros((3, 2)))


def test_samples_per_block_fills_blocks_evenly():
    layers = [dict(weights=np.zeros((128, 64))), dict(weights=np.zeros((10, 128)))]
    widest = int(np.sqrt(lava_exec.BLOCK_WEIGHTS / (128 * 64)))
    assert lava_exec.samples_per_block(layers, 100) <= widest
    assert lava_exec.samples_per_block(layers, 3) == 3
    big = [dict(weights=np.zeros((4096, 4096)))]
    assert lava_exec.samples_per_block(big, 100) == 1


def test_worker_block_layout_round_trips():
    """Samples side by side in the RingBuffer and back out of the Monitors."""
    rng = np.random.default_rng(3)
    x = rng.integers(0, 2, (6, 4, 5))
    cols = lava_network.block_columns(x, 3)
    assert cols.shape == (15, 8)
    np.testing.assert_array_equal(cols[5:10, 0], x[1, 0])      # block 0, sample 1, step 0
    np.testing.assert_array_equal(cols[:5, 4 + 2], x[3, 2])    # block 1, sample 3, step 2
    np.testing.assert_array_equal(lava_network.unblock(cols.T, 3, 4), x)
    pops, dense = lava_network.side_by_side([dict(du=np.array([1, 2]))], [dict(weights=np.arange(6).reshape(2, 3))], 2)
    assert dense[0]["weights"].shape == (4, 6) and pops[0]["du"].tolist() == [1, 2, 1, 2]
    assert not dense[0]["weights"][:2, 3:].any()
