"""Energy per inference: Xylo's clock-cycle model against Rockpool's formula, the
sensitivity of estimated constants, latency in seconds, and per-inference figures
that do not depend on the batch size."""
from __future__ import annotations

import json

import numpy as np
import pytest

from snnc.cli import main
from snnc.compiler.ir import Synapse, save
from snnc.runtime import simulate
from snnc.runtime.energy import joules, per_sample_total
from snnc.runtime.per_inference import energy, latency
from snnc.targets import get as get_target
from snnc.targets import loihi, xylo
from tests.backends import fresh_seed


def rockpool_cycles_per_step(n_in, n_hid, n_out, fan_out_avg, p_in, p_hid):
    """Rockpool syns61201 power_cycles_model.cycles_model, transcribed term by term (no aliases)."""
    input_spike = n_in * (p_in * n_hid * 3.5 + 1)
    hidden_isyn = (fan_out_avg * 7 * p_hid + 3) * n_hid
    output_isyn = p_hid * (1 + n_out * 8) * n_hid
    hidden_spk = (19 + (max(p_hid, 0) * 2 + max(0, 0) * 3 + p_hid * 1 + max(p_hid, 0) * 0 * 1)) * n_hid
    output_spk = (12 + 0) * n_out
    return input_spike + hidden_isyn + output_isyn + hidden_spk + output_spk


def _xylo_graph(rng, n_in=5, n_hid=12, n_out=3):
    w_in = rng.integers(-20, 21, (n_in, n_hid, 1)) * (rng.random((n_in, n_hid, 1)) < 0.7)
    w_rec = rng.integers(-20, 21, (n_hid, n_hid, 1)) * (rng.random((n_hid, n_hid, 1)) < 0.3)
    w_out = rng.integers(-20, 21, (n_hid, n_out))
    return xylo.graph_from_xylo(w_in, w_rec, w_out, threshold=30, threshold_out=50, dash_mem=2, dash_syn=1)


def test_xylo_cycles_equal_rockpools_model_summed_over_steps():
    seed = fresh_seed()
    rng = np.random.default_rng(seed)
    g = _xylo_graph(rng)
    x = rng.integers(0, 3, (4, 20, 5)) * (rng.random((4, 20, 5)) < 0.4)
    res = simulate(g, x)
    spikes = res.spikes
    cycles = per_sample_total(joules(g, spikes)) / xylo.ENERGY_PER_CYCLE_J
    w_rec = next(s.weights for n, s in g.of_type(Synapse).items()
                 if g.synapse_source(n) == "hidden" and g.successors(n)[0] == "hidden")
    fan_out = np.count_nonzero(w_rec) / 12
    for b in range(4):
        p_in = np.count_nonzero(x[b]) / x[b].size
        p_hid = np.count_nonzero(spikes["hidden"][b]) / spikes["hidden"][b].size
        want = 20 * rockpool_cycles_per_step(5, 12, 3, fan_out, p_in, p_hid)
        assert cycles[b] == pytest.approx(want, rel=1e-12), f"seed {seed}, sample {b}"


def test_xylo_constants_cite_rockpool_and_the_measurement_and_are_marked_estimates():
    t = get_target("xylo")
    assert xylo.ENERGY_PER_CYCLE_J == pytest.approx(291e-6 / 6.25e6)
    for term, c in t.energy.items():
        assert c.estimate and "power_cycles_model.py" in c.source and "2406.15112" in c.source, term
        assert c.joules == pytest.approx(xylo.CYCLES[term][0] * xylo.ENERGY_PER_CYCLE_J)
    assert t.time_step.seconds == 1e-3 and "xylo_sim.py" in t.time_step.source


def test_sensitivity_rows_move_the_total_by_each_estimated_share():
    rng = np.random.default_rng(3)
    g = _xylo_graph(rng)
    x = rng.integers(0, 2, (6, 15, 5))
    e = energy(g, simulate(g, x).spikes)
    total = e["energy_per_inference_j"]["mean"]
    rows = {r["constant"]: r for r in e["sensitivity"]}
    assert set(rows) == set(xylo.CYCLES) | {"all estimates"}
    assert rows["all estimates"]["total_j_x2"] == pytest.approx(2 * total)
    assert rows["all estimates"]["total_j_x0.5"] == pytest.approx(0.5 * total)
    for term, part in e["terms_j"].items():
        assert rows[term]["total_j_x2"] == pytest.approx(total + part)
        assert rows[term]["share"] == pytest.approx(part / total)
    # Loihi: only spike_extra is an estimate, so only it has a row
    gl = loihi.graph_from_lava_layers([dict(weights=np.full((4, 3), 50), vth=20, dv=100, du=4095)], 3)
    el = energy(gl, simulate(gl, np.ones((2, 6, 3), int)).spikes)
    assert [r["constant"] for r in el["sensitivity"]] == ["spike_extra"]


def test_latency_in_seconds_at_the_targets_time_step():
    g = loihi.graph_from_lava_layers([dict(weights=np.ones((2, 3), int), vth=5)], 3)
    g.metadata["pad_steps"] = 2
    lat = latency(g, 10)
    assert lat["latency_steps"] == 2 and lat["latency_s"] == pytest.approx(2e-5)
    assert lat["inference_s"] == pytest.approx(1e-4) and lat["time_step_estimate"] is True
    g.target = "ideal"
    assert latency(g, 10)["latency_s"] is None


def test_a_results_latency_follows_the_graphs_padding_between_calls():
    """simulate() keeps latency reports per plan; the padding is metadata, outside the plan's
    signature, so a change to it between two calls is seen (and a result's dict is its own)."""
    g = loihi.graph_from_lava_layers([dict(weights=np.ones((2, 3), int), vth=5)], 3)
    x = np.ones((10, 3), int)
    first = simulate(g, x)
    assert first.latency["latency_steps"] == 0
    first.latency["latency_steps"] = 99
    g.metadata["pad_steps"] = 2
    assert simulate(g, x).latency == latency(g, 10) and latency(g, 10)["latency_steps"] == 2
    g.metadata["pad_steps"] = 0
    assert simulate(g, x).latency["latency_steps"] == 0


def test_hand_computed_loihi_energy_of_one_sample():
    # 3 inputs all spiking for 4 steps into 2 LIF neurons (all weights non-zero): Lava delivers one
    # step later, so 3 steps x 3 inputs x fan-out 2 = 18 synaptic events; 2 x 4 neuron updates
    g = loihi.graph_from_lava_layers([dict(weights=np.full((2, 3), 1), vth=10_000)], 3)
    e = energy(g, simulate(g, np.ones((1, 4, 3), int)).spikes)
    want = 18 * 23.6e-12 + 8 * 52e-12
    assert e["energy_per_inference_j"]["mean"] == pytest.approx(want)
    assert e["per_layer"]["input"]["spikes"] == 12 and e["per_layer"]["lif0"]["synaptic_events"] == 18


@pytest.mark.parametrize("target", ["loihi", "xylo"])
def test_batch_size_does_not_change_per_inference_energy(target, tmp_path):
    """The same sample once (batch 1) and tiled (batch 5): identical per-inference figures in the
    `simulate` JSON; chunks of 1 and of the whole batch agree on mixed samples."""
    rng = np.random.default_rng(7)
    if target == "xylo":
        g = _xylo_graph(rng)
        x = rng.integers(0, 3, (5, 12, 5))
    else:
        g = loihi.graph_from_lava_layers([dict(weights=rng.integers(-60, 60, (6, 4)), vth=30, dv=300)], 4)
        x = (rng.random((5, 12, 4)) < 0.3).astype(int)
    g.metadata["pad_steps"] = 1
    path = save(g, tmp_path / "g.snnc")
    reports = []
    for name, arr in (("one", x[:1]), ("tiled", np.repeat(x[:1], 5, axis=0))):
        np.save(tmp_path / f"{name}.npy", arr)
        assert main(["simulate", str(path), "--input", str(tmp_path / f"{name}.npy"),
                     "--report", str(tmp_path / f"{name}.json")]) == 0
        reports.append(json.loads((tmp_path / f"{name}.json").read_text()))
    one, tiled = reports
    assert one["energy_per_inference_j"]["mean"] == pytest.approx(tiled["energy_per_inference_j"]["mean"])
    assert tiled["energy_per_inference_j"]["std"] == pytest.approx(0, abs=1e-30)
    assert one["latency_steps"] == tiled["latency_steps"] == 1
    assert tiled["energy"]["total_j"] == pytest.approx(5 * one["energy"]["total_j"])
    whole, chunked = simulate(g, x), simulate(g, x, chunk=1)
    assert whole.energy["energy_per_inference_j"] == pytest.approx(chunked.energy["energy_per_inference_j"])


def test_snnc_targets_states_time_steps_and_sensitivity(capsys):
    assert main(["targets"]) == 0
    out = capsys.readouterr().out
    assert "time step 0.001 s" in out and "time step 1e-05 s [estimate]" in out
    assert "sensitivity:" in out
    assert main(["targets", "--json"]) == 0
    spec = json.loads(capsys.readouterr().out)
    assert spec["xylo"]["time_step"]["seconds"] == 1e-3 and spec["ideal"]["time_step"] is None


def test_verify_energy_per_inference_is_the_mean_of_single_sample_runs(loihi_ckpt):
    """`verify` runs the whole split as one batch; one sample at a time gives the same figures."""
    from snnc.evaluation.compiled import compile_checkpoint
    from snnc.runtime import deploy
    from snnc.evaluation.datasets import load_split
    from snnc.evaluation.verify import verify

    g = compile_checkpoint(loihi_ckpt, "loihi", evaluate=False).graph
    report = verify(g, g.metadata["data"], backends=("sim",), progress=False)
    x, _ = load_split(g.metadata["data"], "test")
    singles = [energy(g, deploy.run(g, x[i:i + 1])[1].spikes) for i in range(len(x))]
    per_sample = [s["energy_per_inference_j"]["mean"] for s in singles]
    assert report["energy_per_inference_j"]["mean"] == pytest.approx(np.mean(per_sample), rel=1e-12)
    assert report["energy_per_inference_j"]["std"] == pytest.approx(np.std(per_sample), rel=1e-9)
    assert report["synaptic_events_per_inference"] == pytest.approx(
        np.mean([s["synaptic_events_per_inference"] for s in singles]))
    assert report["latency_steps"] == 2 and report["latency_s"] == pytest.approx(2e-5)
