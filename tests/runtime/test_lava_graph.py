"""run_lava_graph == snnc.runtime.simulate bit for bit: spikes, u and v of
every LIF at every step of every sample, on random chain graphs (free node
names, recurrence, per-neuron du/dv/vth groups, extreme values), with the
batch run in one Lava runtime (blocks of samples side by side, all state
reset between blocks). A fresh seed each run (printed on failure)."""
import numpy as np
import pytest

import snnc
from snnc.compiler.ir import Graph, Input, LoihiLIF, Output, Synapse
from snnc.targets.loihi import lava_exec
from snnc.targets import loihi
from tests.backends import fresh_seed, require

FRESH_SEED = fresh_seed()  # a new seed each run; SNNC_TEST_SEED=N replays one

pytestmark = pytest.mark.lava
DECAYS = [0, 1, 4094, 4095]
VTHS = [0, 1, 100, 2**17 - 1]


@pytest.fixture(scope="module", autouse=True)
def lava_available():
    require("Lava", lava_exec.lava_python)


def pick(rng, edge, lo, hi):
    return int(rng.choice(edge)) if rng.random() < 0.6 else int(rng.integers(lo, hi + 1))


def lif_params(rng, n):
    """One (du, dv, vth) for all, or 2-3 groups of them; bias per neuron or none."""
    groups = 1 if rng.random() < 0.4 else int(rng.integers(2, 4))
    table = np.array([[pick(rng, DECAYS, 0, 4095), pick(rng, DECAYS, 0, 4095), pick(rng, VTHS, 0, 2**17 - 1)]
                      for _ in range(groups)])
    du, dv, vth = table[rng.integers(0, groups, n)].T
    bias = rng.integers(-4096, 4096, n) * int(rng.random() < 0.5)
    return dict(du=du, dv=dv, vth=vth, bias_mant=bias, bias_exp=rng.integers(0, 8, n))


def weights(rng, shape):
    """Lava-effective weights from raw ones up to 2**20, any sign mode, sometimes -256."""
    hi = int(rng.choice([3, 255, 600, 2**20]))
    w = rng.integers(-hi, hi + 1, shape)
    w = {0: w, 1: np.abs(w), 2: -np.abs(w)}[int(rng.integers(0, 3))]
    if rng.random() < 0.3:
        w.flat[0] = -256
    return loihi.effective_weights(w)


def random_chain(rng) -> Graph:
    """Input -> (Synapse -> LoihiLIF [+ recurrent Synapse]) x 1..3 -> Output, random names."""
    def tag(base):
        return f"{base}_{rng.integers(10**6)}"

    g = Graph(target="loihi")
    n_prev = int(rng.integers(1, 12))
    prev = g.add(tag("in"), Input(n_prev))
    for _ in range(int(rng.integers(1, 4))):
        n = int(rng.integers(1, 12))
        syn = g.add(tag("syn"), Synapse(weights(rng, (n, n_prev)), int(rng.integers(-8, 8)), 1), [prev])
        lif = g.add(tag("lif"), LoihiLIF(n, **lif_params(rng, n)), [syn])
        if rng.random() < 0.5:
            rec = g.add(tag("rec"), Synapse(weights(rng, (n, n)), int(rng.integers(-8, 8)), 1), [lif])
            g.connect(rec, lif)
        prev, n_prev = lif, n
    g.add(tag("out"), Output(n_prev, read="v"), [prev])
    return g


def random_items(rng, count):
    """(graph, spikes [8, T, n_in], samples side by side) with dense inputs too."""
    items = []
    for _ in range(count):
        g = random_chain(rng)
        n_in = next(iter(g.inputs.values())).size
        density = float(rng.choice([0.1, 0.5, 1.0]))
        x = (rng.random((8, int(rng.integers(5, 26)), n_in)) < density).astype(np.int64)
        items.append((g, x, int(rng.choice([1, 3, 8]))))
    return items


def assert_same(graph, x, lava, where):
    """Lava's spikes, u and v equal ours at every (sample, step, neuron)."""
    ours = snnc.runtime.simulate(graph, x, record=("u", "v"))
    for node in graph.neurons:
        for var, mine in (("spikes", ours.spikes[node]), ("u", ours.state[node]["u"]),
                          ("v", ours.state[node]["v"])):
            theirs = lava[node][var]
            assert theirs.shape == mine.shape, f"{where} {node}.{var}: shape {theirs.shape} != {mine.shape}"
            bad = np.argwhere(mine != theirs)
            assert bad.size == 0, (f"{where} {node}.{var} differs first at (b, t, n) {tuple(bad[0])}: "
                                   f"ours {mine[tuple(bad[0])]}, Lava {theirs[tuple(bad[0])]}")


@pytest.mark.parametrize("seed", [0, pytest.param(FRESH_SEED, id="fresh")])
def test_random_chain_graphs_match_lava(seed):
    rng = np.random.default_rng(seed)
    items = random_items(rng, 4)
    if seed == 0:  # the fixed seed covers split populations and recurrence
        pops = [n for g, _, _ in items for n in g.neurons.values()]
        assert any(len(set(zip(n.du, n.dv, n.vth))) > 1 for n in pops)
        assert any(len(g.predecessors(p)) == 2 for g, _, _ in items for p in g.neurons)
    outs = lava_exec.run_lava_graphs(items)
    for i, ((g, x, block), lava) in enumerate(zip(items, outs)):
        assert_same(g, x, lava, f"seed {seed} graph {i} (block {block})")


def test_state_resets_between_samples():
    """Each sample, run after others in the same runtime, equals it run alone:
    slow decays, recurrence and input up to the last step leave u, v and the
    Dense buffers full when the next sample starts."""
    rng = np.random.default_rng(21)
    layers = [dict(weights=rng.integers(-60, 255, (6, 5)), weight_exp=2, du=0, dv=0, vth=2**17 - 1,
                   bias_mant=rng.integers(-100, 100, 6), bias_exp=3,
                   rec_weights=rng.integers(-100, 100, (6, 6)), rec_weight_exp=0),
              dict(weights=rng.integers(0, 255, (3, 6)), weight_exp=0, du=[0, 1, 0], dv=0, vth=2**17 - 1,
                   bias_mant=0, bias_exp=0)]
    g = loihi.graph_from_lava_layers(layers, 5)
    x = (rng.random((4, 12, 5)) < 0.6).astype(np.int64)
    x[:, -1] = 1
    together, alone0, alone3, sides = lava_exec.run_lava_graphs(
        [(g, x, 1), (g, x[0], 1), (g, x[3], 1), (g, x, 2)])
    assert np.abs(together["lif0"]["u"][:, -1]).min() > 0  # state to carry over, were it not reset
    for node in ("lif0", "lif1"):
        for var in ("spikes", "u", "v"):
            np.testing.assert_array_equal(together[node][var][0], alone0[node][var])
            np.testing.assert_array_equal(together[node][var][3], alone3[node][var])
            np.testing.assert_array_equal(sides[node][var], together[node][var])
    assert_same(g, x, together, "reset")


def test_minus_256_weights_run_in_lava_as_compiled():
    """A compiled all-non-positive matrix holding -256 (from a mixed one):
    Lava alone would clip it to -255; run_lava_graph states the sign mode, so
    Lava uses the graph's weights and matches simulate."""
    layers = [dict(weights=[[-256, 1, -7], [-256, 1, -300]], weight_exp=0, du=4095, dv=4095, vth=0,
                   bias_mant=[4095, 100], bias_exp=7, rec_weights=[[-256, 1], [1, -256]], rec_weight_exp=-1),
              dict(weights=[[-256, -256]], weight_exp=7, du=0, dv=0, vth=0)]
    g = loihi.graph_from_lava_layers(layers, 3)
    for syn in ("dense0", "rec0"):
        w = g.nodes[syn].weights
        assert w.max() <= 0 and w.min() == -256
        assert loihi.effective_weights(w).min() == -255  # what Lava's own guess would make of it
    x = np.ones((2, 6, 3), np.int64)
    out = lava_exec.run_lava_graph(g, x, record=("v", "u", "weights"))
    for syn in ("dense0", "rec0", "dense1"):
        np.testing.assert_array_equal(out[syn]["weights"], g.nodes[syn].weights)
    assert_same(g, x, out, "-256")
