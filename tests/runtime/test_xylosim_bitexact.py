"""`xylo` target == SynSense's xylosim v2 bit for bit: hidden and readout spikes,
v and i_syn at every step, on random populations that saturate the 16-bit
states, cap input counts at 15, fire up to 31 spikes per step and use both
synaptic states. Hypothesis draws fresh networks on every run."""
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import snnc
from snnc.targets.xylo import xylosim_exec
from snnc.targets import xylo
from tests.backends import require
from tests.strategies import xylo_params

pytestmark = pytest.mark.xylosim


@pytest.fixture(scope="module", autouse=True)
def xylosim_available():
    require("xylosim", xylosim_exec.xylosim_v2)


def recurrent_fan_out_ok(p):
    """Xylo's fan-out rule: a hidden neuron's recurrent targets, both synaptic states
    counted, at most 64; input channels and readout weights are not limited."""
    return np.count_nonzero(p["w_rec"], axis=(1, 2)).max(initial=0) <= xylo.LIMITS["fan_out"]


def assert_matches_xylosim(params, x):
    ref = xylosim_exec.run_xylosim(params, x)
    ours = snnc.runtime.simulate(xylo.graph_from_xylo(**params), x, record=("v", "i_syn"))
    for node in ("hidden", "readout"):
        for var, mine in (("spikes", ours.spikes[node]), ("v", ours.state[node]["v"]),
                          ("i_syn", ours.state[node]["i_syn"])):
            where = np.argwhere(mine != ref[node][var])
            assert where.size == 0, (f"{node}.{var} differs first at {tuple(where[0])}: "
                                     f"ours {mine[tuple(where[0])]}, xylosim {ref[node][var][tuple(where[0])]}")
    return ours


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True)
@given(xylo_params(max_hidden=40), st.integers(1, 3), st.integers(1, 30), st.sampled_from([1, 4, 40]))
def test_random_populations_match_xylosim(params, B, T, max_count):
    assume(recurrent_fan_out_ok(params))
    x = np.random.default_rng(T * 7 + B).integers(0, max_count + 1, (B, T, params["w_in"].shape[0]))
    assert_matches_xylosim(params, x)


def test_saturation_and_multi_spike_are_exercised():
    """A hand-made stress case: full-scale weights, max shifts, tiny thresholds, dense input."""
    rng = np.random.default_rng(3)
    n_in, n_hid, n_out = 16, 30, 8
    params = dict(w_in=rng.integers(-128, 128, (n_in, n_hid, 2)) * (rng.random((n_in, n_hid, 2)) < 0.5),
                  w_rec=rng.integers(-128, 128, (n_hid, n_hid, 2)) * (rng.random((n_hid, n_hid, 2)) < 0.3),
                  w_out=rng.integers(-128, 128, (n_hid, n_out)),
                  threshold=rng.integers(1, 40, n_hid), threshold_out=rng.integers(1, 40, n_out),
                  bias=rng.integers(-32768, 32768, n_hid), bias_out=rng.integers(-100, 100, n_out),
                  weight_shift_in=7, weight_shift_rec=7, weight_shift_out=7,
                  dash_mem=rng.integers(0, 16, n_hid), dash_mem_out=0,
                  dash_syn=rng.integers(0, 16, (n_hid, 2)), dash_syn_out=rng.integers(0, 16, (n_out, 1)))
    x = rng.integers(0, 30, (2, 40, n_in))
    ours = assert_matches_xylosim(params, x)
    assert ours.stats["hidden"]["overflow_events"] > 0 and ours.stats["input"]["overflow_events"] > 0
    assert ours.spikes["hidden"].max() == xylo.MAX_HIDDEN_SPIKES
    assert ours.spikes["readout"].max() == 1
