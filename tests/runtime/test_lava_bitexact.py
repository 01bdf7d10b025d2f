"""`loihi` target == Lava (lava-nc 0.10.0, fixed_pt) bit for bit: spikes, u and v
of every layer at every step, on random chains with extreme parameters.

Lava runs in the .venv-lava side environment (Python 3.10) as a subprocess;
all cases of one test share one worker so Lava is imported once. A fresh seed
each run (printed on failure) means the networks are ones we have not seen."""
import numpy as np
import pytest

import snnc
from snnc.targets.loihi import lava_exec
from snnc.targets import loihi
from tests.backends import fresh_seed, require
from tests.strategies import random_lava_case

FRESH_SEED = fresh_seed()  # a new seed each run; SNNC_TEST_SEED=N replays one

pytestmark = pytest.mark.lava


@pytest.fixture(scope="module", autouse=True)
def lava_available():
    require("Lava", lava_exec.lava_python)


def compare(cases, seed):
    outs = lava_exec.run_lava_chains([(layers, x) for layers, _, x in cases])
    for i, ((layers, n_in, x), lava) in enumerate(zip(cases, outs)):
        ours = snnc.runtime.simulate(loihi.graph_from_lava_layers(layers, n_in), x, record=("u", "v"))
        for k in range(len(layers)):
            node = f"lif{k}"
            for var, mine in (("spikes", ours.spikes[node]), ("u", ours.state[node]["u"]),
                              ("v", ours.state[node]["v"])):
                where = np.argwhere(mine != lava[node][var])
                assert where.size == 0, (f"seed {seed} case {i} {node}.{var} differs first at (t, n) "
                                         f"{tuple(where[0])}: ours {mine[tuple(where[0])]}, "
                                         f"Lava {lava[node][var][tuple(where[0])]}")


@pytest.mark.parametrize("seed", [0, 1, pytest.param(FRESH_SEED, id="fresh")])
def test_random_chains_match_lava(seed):
    rng = np.random.default_rng(seed)
    compare([random_lava_case(rng) for _ in range(10)], seed)


def test_extremes_match_lava():
    """Saturating inputs, decays 0 and 4095, huge vth, largest bias, both exponent signs."""
    rng = np.random.default_rng(7)
    cases = []
    for du, dv, w_exp, vth in [(0, 0, 7, 0), (4095, 4095, -8, 2**17 - 1), (0, 4095, 7, 1), (4095, 0, -3, 50)]:
        w = rng.integers(-2**20, 2**20, (16, 20))
        layer = dict(weights=w, weight_exp=w_exp, du=du, dv=dv, vth=vth, bias_mant=4095, bias_exp=7)
        cases.append(([layer, dict(layer, weights=rng.integers(-255, 256, (5, 16)), bias_mant=-4096)], 20,
                      np.ones((30, 20), np.int64)))
    compare(cases, 7)


def test_recurrent_dense_matches_lava():
    """A recurrent Dense on each LIF (Lava sums both Dense outputs at the LIF's a_in)."""
    rng = np.random.default_rng(11)
    layers = [dict(weights=rng.integers(-200, 255, (12, 8)), weight_exp=0, du=300, dv=100, vth=60,
                   bias_mant=0, bias_exp=0, rec_weights=rng.integers(-255, 255, (12, 12)), rec_weight_exp=-1),
              dict(weights=rng.integers(-100, 255, (4, 12)), weight_exp=1, du=4095, dv=2000, vth=30,
                   bias_mant=5, bias_exp=3, rec_weights=rng.integers(0, 255, (4, 4)), rec_weight_exp=2)]
    graph = loihi.graph_from_lava_layers(layers, 8)
    assert "rec0" in graph.nodes and graph.synapse_source("rec0") == "lif0"
    x = (rng.random((50, 8)) < 0.3).astype(np.int64)
    assert snnc.runtime.simulate(graph, x).stats["lif0"]["synaptic_events"] > 0
    compare([(layers, 8, x)], 11)
