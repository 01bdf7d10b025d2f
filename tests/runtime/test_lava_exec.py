"""Lava (lava-nc 0.10.0) really runs in the side environment and returns the
documented traces; hand-computed values follow PyLifModelBitAcc's equations:

    u <- trunc0(u * (4096 - (du + 1)) / 4096) + (a_in << 6)
    v <- trunc0(v * (4096 - dv) / 4096) + u + (bias_mant << bias_exp)
    spike if v > vth << 6, then v <- 0;  a_in is Dense's output one step late.
"""
import numpy as np
import pytest

from snnc.errors import BackendUnavailable, InputError, SnncError
from snnc.targets.loihi import lava_exec
from snnc.targets import loihi
from tests.backends import require

pytestmark = pytest.mark.lava


@pytest.fixture(scope="module", autouse=True)
def lava_env():
    """Lava must run here; skip only elsewhere, where it is truly absent."""
    return require("Lava", lava_exec.lava_python)


def one_neuron(weight, **overrides):
    """A 1-input, 1-neuron Dense->LIF layer with Lava's parameter names."""
    layer = dict(weights=np.array([[weight]]), weight_exp=0, du=1024, dv=512,
                 vth=100, bias_mant=3, bias_exp=2)
    return {**layer, **overrides}


# 2x2 weight matrices at the edges of Lava's sign modes (raw, sign_mode or None).
EDGE_WEIGHTS = [([[-256, 1], [0, 0]], None),          # mixed: Lava uses [[-256, 0], ...]
                ([[-256, 0], [0, 0]], None),          # ...which Lava alone reads as inhibitory: -255
                ([[-256, 0], [0, 0]], 1),             # ...unless told it is mixed
                ([[-2**31, 0], [0, -7]], None),       # inhibitory negation wraps in int32
                ([[2**32 + 5, -3], [1, 2]], None),    # int32 cast first
                ([[300, 7], [0, 1]], 2), ([[-300, -7], [0, -1]], 3), ([[255, -255], [3, -3]], None)]


@pytest.fixture(scope="module")
def hand_cases():
    """Hand-computed chains and the weight edge cases in one worker call (one Lava import)."""
    spikes = np.array([[1], [0], [0], [0], [0]])
    edges = [dict(one_neuron(0), weights=np.array(w, np.int64), **({} if m is None else {"sign_mode": m}))
             for w, m in EDGE_WEIGHTS]
    return lava_exec.run_lava_chains([([one_neuron(100)], spikes), ([one_neuron(-100)], spikes),
                                      (edges, np.ones((2, 2), np.int64))], record=("v", "u", "weights"))


def test_effective_weights_are_what_lava_uses(hand_cases):
    for k, (w, mode) in enumerate(EDGE_WEIGHTS):
        np.testing.assert_array_equal(loihi.effective_weights(w, mode), hand_cases[2][f"dense{k}"]["weights"],
                                      err_msg=f"weights {w}, sign_mode {mode}")
    assert hand_cases[2]["dense1"]["weights"][0, 0] == -255   # Lava is not idempotent


def test_excitatory_neuron_by_hand(hand_cases):
    # bias = 3 << 2 = 12; threshold = 100 << 6 = 6400; u decays by 3071/4096,
    # v by 3584/4096. The input spike at step 1 arrives at step 2 (Dense buffer).
    lif = hand_cases[0]["lif0"]
    np.testing.assert_array_equal(lif["u"][:, 0], [0, 6400, 4798, 3597, 2696])
    np.testing.assert_array_equal(lif["v"][:, 0], [12, 0, 4810, 0, 2708])
    np.testing.assert_array_equal(lif["spikes"][:, 0], [0, 1, 0, 1, 0])


def test_inhibitory_neuron_truncates_toward_zero(hand_cases):
    # -6400 * 3071 / 4096 = -4798.4 -> -4798 (a floor would give -4799);
    # v: trunc0(-6378 * 3584 / 4096) = -5580, -5580 - 4798 + 12 = -10366.
    lif = hand_cases[1]["lif0"]
    np.testing.assert_array_equal(lif["u"][:3, 0], [0, -6400, -4798])
    np.testing.assert_array_equal(lif["v"][:3, 0], [12, -6378, -10366])
    assert not lif["spikes"].any()


def test_two_layer_chain_shapes_and_effective_weights():
    rng = np.random.default_rng(0)
    spikes = (rng.random((6, 4)) < 0.5).astype(np.int64)
    layers = [dict(weights=np.array([[300, -1000, 5, -7]] * 3), weight_exp=-3,
                   du=4095, dv=4095, vth=10, bias_mant=np.array([0, 1, -1]), bias_exp=0),
              dict(weights=rng.integers(0, 300, size=(2, 3)), weight_exp=1,
                   du=0, dv=0, vth=50, bias_mant=0, bias_exp=np.array([0, 7]))]
    out = lava_exec.run_lava_chain(layers, spikes, record=("v", "u", "weights"))
    for k, n in enumerate((3, 2)):
        assert set(out[f"lif{k}"]) == {"spikes", "v", "u"}
        for trace in out[f"lif{k}"].values():
            assert trace.shape == (6, n) and trace.dtype == np.int64
    # Mixed signs: clipped to [-256, 255] then the LSB dropped (Lava does it).
    np.testing.assert_array_equal(out["dense0"]["weights"][0], [254, -256, 4, -8])
    # du = 4095 empties u every step, so u = (W s >> 3) << 6 of the step before.
    w = out["dense0"]["weights"][0]
    expected = np.concatenate([[0], (spikes[:-1] @ w) >> 3]) << 6
    np.testing.assert_array_equal(out["lif0"]["u"][:, 0], expected)


def test_time_lava_run_measures_run_phase():
    layers, spikes = lava_exec.benchmark_case(sizes=(8, 4, 2), steps=5)
    seconds = lava_exec.time_lava_run(layers, spikes)
    assert seconds > 0.0  # a hang is the worker timeout's job, not a wall-clock bound


def test_worker_failure_is_one_line_snnc_error():
    with pytest.raises(SnncError, match=r"^Lava worker failed: .*KeyError") as info:
        lava_exec.call_worker({"n_cases": np.int64(1)})
    assert "\n" not in str(info.value)


def test_bad_layers_rejected_before_lava():
    spikes = np.zeros((3, 1), dtype=np.int64)
    bad = [one_neuron(1, bias_mant=np.array([1, 2])),  # Lava hangs on this
           one_neuron(1, du=np.array([1, 2])),         # Lava's du is one value
           one_neuron(1, vth=200000), {"weights": np.array([[1]])}]
    for layer in bad:
        with pytest.raises(InputError):
            lava_exec.run_lava_chain([layer], spikes)
    with pytest.raises(InputError, match="0/1"):
        lava_exec.run_lava_chain([one_neuron(1)], spikes + 2)


def test_missing_side_environment_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setenv("SNNC_LAVA_PYTHON", str(tmp_path / "no-python"))
    with pytest.raises(BackendUnavailable, match="make install"):
        lava_exec.lava_python()
