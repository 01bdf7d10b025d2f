"""run_lava_graph on graphs beyond a chain == snnc.runtime.simulate bit for bit: several Dense
into one population (input skips, bias-like constant channels, recurrence, feedback-free DAGs
in any node order), SplitDense synapses (two Lava Dense each), extreme values (u wraps, v
saturates, negative exponents, one-step sums of +-32767 at the edge of the fused loop's int16
lanes and one past it); and a SplitDense's two Dense sum, in Lava, to exactly the
integer product of its wide weights. All graphs run in one worker (Lava starts once)."""
import numpy as np
import pytest

import snnc
from snnc.compiler.ir import Graph, Input, LoihiLIF, Output, Synapse
from snnc.targets import loihi
from snnc.targets.loihi import lava_exec
from snnc.targets.loihi.lava_layers import SplitDense, split_parts
from tests.backends import fresh_seed, require
from tests.runtime.test_fused import edge_graph
from tests.runtime.test_lava_graph import assert_same, lif_params, weights

FRESH_SEED = fresh_seed()  # a new seed each run; SNNC_TEST_SEED=N replays one
pytestmark = pytest.mark.lava


def synapse(rng, shape, exp_lo=-8):
    """An 8-bit Dense, or (one in three) a SplitDense of random shift with wide weights."""
    if rng.random() < 0.33:
        shift = int(rng.integers(1, 8))
        exp = int(rng.integers(max(-shift, exp_lo), 8 - shift))
        hi = 2 ** (shift + 8)
        w = rng.integers(-hi, hi, shape) if rng.random() < 0.7 else rng.integers(-3, 4, shape)
        return SplitDense(w, weight_exp=exp, delay=1, shift=shift)
    return Synapse(weights(rng, shape), int(rng.integers(exp_lo, 8)), 1)


def random_graph(rng) -> Graph:
    """Input -> 2..4 populations, each fed by 1..3 synapses from the input or any earlier
    population, maybe a recurrent one; nodes added in a shuffled order, random names."""
    g = Graph(target="loihi")
    n_in = int(rng.integers(2, 10))
    sizes = [int(rng.integers(1, 9)) for _ in range(int(rng.integers(2, 5)))]
    pops = [f"p{k}_{rng.integers(10**6)}" for k in range(len(sizes))]
    order = rng.permutation(len(sizes))
    g.add("x", Input(n_in))
    for k in order:
        g.add(pops[k], LoihiLIF(sizes[k], **lif_params(rng, sizes[k])))
    edges = []
    for k, n in enumerate(sizes):
        sources = {"x" if k == 0 else None} | {(["x"] + pops[:k])[int(i)] for i in rng.integers(0, k + 1, 2)}
        edges += [(src, pops[k]) for src in sorted(s for s in sources if s)]
        if rng.random() < 0.5:
            edges.append((pops[k], pops[k]))
    for j in rng.permutation(len(edges)):
        src, dst = edges[j]
        n_src = n_in if src == "x" else sizes[pops.index(src)]
        g.add(f"s{j}", synapse(rng, (g.nodes[dst].size, n_src)), [src])
        g.connect(f"s{j}", dst)
    g.add("out", Output(sizes[-1], read="v"), [pops[-1]])
    loihi.LOIHI.check(g)
    return g


def exact_split_graph():
    """Input -> SplitDense -> LIF with du = 4095 (u decays to 0 every step, so u = a_in << 6)
    and vth at its largest: Lava's u shows each step's summed a_out of the two Dense."""
    rng = np.random.default_rng(3)
    w = rng.integers(-2**15, 2**15, (6, 9))
    g = Graph(target="loihi")
    g.add("x", Input(9))
    g.add("lif", LoihiLIF(6, du=4095, dv=4095, vth=2**17 - 1))
    g.add("split", SplitDense(w, weight_exp=-3, delay=1, shift=7), ["x"])
    g.connect("split", "lif")
    g.add("out", Output(6, read="v"), ["lif"])
    x = (rng.random((2, 12, 9)) < 0.5).astype(np.int64)
    return g, x


def test_general_graphs_and_split_weights_match_lava():
    require("Lava", lava_exec.lava_python)
    items = []
    for seed in (0, FRESH_SEED):
        rng = np.random.default_rng(seed)
        for _ in range(3):
            g = random_graph(rng)
            x = (rng.random((5, int(rng.integers(5, 20)), g.nodes["x"].size)) < rng.choice([0.2, 0.7])).astype(np.int64)
            items.append((g, x, int(rng.choice([1, 5]))))
    fixed = [g for g, _, _ in items[:3]]
    assert any(len(g.incoming(p)) >= 3 for g in fixed for p in g.neurons)          # several Dense into one LIF
    assert any(isinstance(n, SplitDense) for g in fixed for n in g.nodes.values())
    edge_x = np.ones((2, 6, 129), np.int64)
    edge_x[1, 3] = 0
    items += [(edge_graph(extra), edge_x, 2) for extra in (0, 1)]   # sums of +-32767 in int16 lanes, 32768 not
    split_graph, split_x = exact_split_graph()
    outs = lava_exec.run_lava_graphs(items + [(split_graph, split_x, 2)])
    for i, ((g, x, block), lava) in enumerate(zip(items, outs)):
        assert_same(g, x, lava, f"graph {i} (seed {0 if i < 3 else FRESH_SEED if i < 6 else 'int16 edge'}, "
                                f"block {block})")
    # the two Dense sum to floor(W s / 2^3) for the 16-bit W, delivered one step later, << 6 into u
    acc = np.einsum("on,btn->bto", split_graph.nodes["split"].weights, split_x)[:, :-1]
    np.testing.assert_array_equal(outs[-1]["lif"]["u"][:, 1:], loihi.wrap((acc >> 3) << 6, 32))
    assert np.abs(acc).max() > 2**16 and np.any(acc % 8)   # wider than 16 bits, and the floor matters


def test_split_parts_are_lava_weights_that_sum_to_the_wide_ones():
    rng = np.random.default_rng(1)
    for shift in range(1, 8):
        w = np.concatenate([rng.integers(-2**(shift + 8), 2**(shift + 8), 200),
                            [-2**(shift + 8), 2**(shift + 8) - 1, 0, -1, 1]]).reshape(1, -1)
        (hi, e_hi), (lo, e_lo) = split_parts(SplitDense(w, weight_exp=-1, delay=1, shift=shift))
        np.testing.assert_array_equal(hi * 2**shift + lo, w)
        assert e_hi - e_lo == shift and hi.min() >= -256 and hi.max() <= 254 and lo.min() >= 0 and lo.max() <= 255
        for part in (hi, lo):
            np.testing.assert_array_equal(loihi.effective_weights(part, loihi.lava_sign_mode(part)), part)


@pytest.mark.parametrize("kwargs, match", [
    (dict(weights=np.array([[2**15]]), weight_exp=0, shift=7), r"\[-32768, 32767\]"),
    (dict(weights=np.array([[1]]), weight_exp=-8, shift=7), "high Dense"),
    (dict(weights=np.array([[1]]), weight_exp=1, shift=7), "high Dense"),
    (dict(weights=np.array([[1]]), weight_exp=0, shift=8), "shift"),
])
def test_bad_split_dense_is_one_line(kwargs, match):
    from snnc.errors import GraphError

    with pytest.raises(GraphError, match=match) as info:
        SplitDense(delay=1, **kwargs)
    assert "\n" not in str(info.value)


def test_a_split_synapse_counts_the_events_of_both_dense():
    """On the chip both Dense of a SplitDense act: per spike, the nonzeros of W_hi plus those of
    W_lo, in the event engine, the dense reference and the energy counters alike."""
    from snnc.runtime.energy import counters

    g, x = exact_split_graph()
    (hi, _), (lo, _) = split_parts(g.nodes["split"])
    arriving = x[:, :-1].sum(axis=(0, 1))          # delay 1: the last step's spikes land after the run
    want = int((np.count_nonzero(hi, axis=0) + np.count_nonzero(lo, axis=0)) @ arriving)
    assert want > np.count_nonzero(g.nodes["split"].weights, axis=0) @ arriving
    for engine in ("event", "reference"):
        res = snnc.runtime.simulate(g, x, engine=engine, threads=1)
        assert res.totals["synaptic_events"] == want, engine
    spikes = {**{"x": x}, **snnc.runtime.simulate(g, x, threads=1).spikes}
    assert int(counters(g, spikes)["lif"]["synaptic_events"].sum()) == want
