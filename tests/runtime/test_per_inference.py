"""Per-inference counters and `snnc simulate --data`: per sample, never a batch total."""
from __future__ import annotations

import importlib
import json
import pickle

import numpy as np
import pytest

import snnc
from snnc.cli import main
from snnc.evaluation.compiled import compile_checkpoint
from snnc.compiler.ir import save
from snnc.runtime import deploy
from snnc.evaluation.datasets import load_split
from snnc.runtime.per_inference import counters, energy
from tests.strategies import binary_input, recurrent_loihi_graph


@pytest.mark.parametrize("ckpt_name,target", [("loihi_ckpt", "loihi"), ("seq_ckpt", "xylo")])
def test_per_sample_counters_add_up_to_the_engines_totals(ckpt_name, target, request):
    g = compile_checkpoint(request.getfixturevalue(ckpt_name), target, evaluate=False).graph
    x, _ = load_split(g.metadata["data"], "test", limit=40)   # a class subset keeps fewer
    _, result = deploy.run(g, x)
    B = len(x)
    per = counters(g, result.spikes)
    for name in g.neurons:
        assert per[name]["synaptic_events"].shape == (B,)
        assert per[name]["synaptic_events"].sum() == result.stats[name]["synaptic_events"]
        assert per[name]["spikes"].sum() == result.stats[name]["spikes"]
    e = energy(g, result.spikes)
    assert e["energy_per_inference_j"]["mean"] == pytest.approx(result.energy["total_j"] / B)
    assert e["energy_per_inference_j"] == pytest.approx(result.energy["energy_per_inference_j"])
    assert e["energy_per_inference_j"]["std"] > 0


def test_simulate_data_reports_accuracy_energy_and_latency(loihi_ckpt, tmp_path, capsys):
    g = compile_checkpoint(loihi_ckpt, "loihi", evaluate=False).graph
    path = save(g, tmp_path / "g.snnc")
    code = main(["simulate", str(path), "--data", "--report", str(tmp_path / "r.json"),
                 "--plot", str(tmp_path / "r.png")])
    out = capsys.readouterr().out
    assert code == 0 and "accuracy" in out and "energy per inference" in out
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["samples"] == 360 and r["latency_steps"] == 2 and r["steps"] == 8 + 2
    assert r["latency_s"] == pytest.approx(2 * r["time_step_s"]) and r["time_step_estimate"] is True
    assert set(r["per_layer"]) == {"input", "lif0", "readout"}
    assert r["per_layer"]["input"]["synaptic_events"] == 0 and r["per_layer"]["lif0"]["spikes"] > 0
    assert [row["constant"] for row in r["sensitivity"]] == ["spike_extra"]
    assert 0.5 < r["accuracy"] <= 1.0 and r["energy_per_inference_j"]["mean"] > 0
    assert (tmp_path / "r.png").stat().st_size > 10_000


def test_simulate_without_input_or_data_on_a_hand_built_graph_says_so(tmp_path, capsys):
    from snnc.targets import loihi
    g = loihi.graph_from_lava_layers([dict(weights=np.ones((2, 3), int), vth=5)], 3)
    path = save(g, tmp_path / "h.snnc")
    assert main(["simulate", str(path)]) == 2
    assert "--data" in capsys.readouterr().err


def test_loihi_energy_per_inference_equals_a_count_by_hand(loihi_ckpt):
    """An independent count: a loop over samples, steps and synapses on the simulator's spikes
    (a spike at step t reaches its synapse's targets at t + delay, inside the run), times
    Davies et al.'s figures written here (23.6 pJ a synaptic op, 52 pJ a neuron update, and
    81 - 52 + 1.7 pJ more for a neuron that spikes), not read from the target's table."""
    g = compile_checkpoint(loihi_ckpt, "loihi", evaluate=False).graph
    x, _ = load_split(g.metadata["data"], "test", limit=12)
    _, result = deploy.run(g, x)
    by_hand = []
    for b in range(len(x)):
        ops = updates = spikes = 0
        for name in g.neurons:
            s = result.spikes[name][b]
            steps = s.shape[0]
            updates += s.size
            spikes += int(s.sum())
            for _, syn, src in g.incoming(name):
                fan_out = [int(np.count_nonzero(syn.weights[:, j])) for j in range(syn.weights.shape[1])]
                pre = result.spikes[src][b]
                for t in range(steps - syn.delay):
                    ops += sum(int(pre[t, j]) * fan_out[j] for j in np.flatnonzero(pre[t]))
        by_hand.append(ops * 23.6e-12 + updates * 52e-12 + spikes * (29e-12 + 1.7e-12))
    e = energy(g, result.spikes)
    assert e["energy_per_inference_j"]["mean"] == pytest.approx(float(np.mean(by_hand)), rel=1e-12)
    assert e["energy_per_inference_j"]["std"] == pytest.approx(float(np.std(by_hand)), rel=1e-9)


def test_counters_and_energy_are_computed_on_first_read_and_pickle(monkeypatch):
    """A run's counters and energy are computed when first read, once (a loop that never reads them
    does not pay for them), from the run itself whenever read; a pickled result carries them."""
    sim = importlib.import_module("snnc.runtime.simulate")   # the module (snnc.runtime.simulate is also the function)
    calls = []
    real = sim._stats
    monkeypatch.setattr(sim, "_stats", lambda *a: calls.append(1) or real(*a))
    graph = recurrent_loihi_graph(seed=5)
    x = binary_input(seed=6, B=3, T=12, n=6, density=0.4)
    res = snnc.runtime.simulate(graph, x)
    assert calls == [] and callable(res.counters) and callable(res.energy_report)
    totals = res.totals
    assert calls == [1] and res.stats is res.stats and calls == [1]
    assert totals["spikes"] == sum(int(s.sum()) for n, s in res.spikes.items() if n in graph.neurons) > 0
    copy = pickle.loads(pickle.dumps(snnc.runtime.simulate(graph, x)))
    assert copy.stats == res.stats and copy.totals == totals
    assert copy.energy["energy_per_inference_j"] == res.energy["energy_per_inference_j"]
