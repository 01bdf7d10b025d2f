"""The NIR paper's braille RNN (snnTorch's export, tests/data/nir/), both variants, with spike
inputs made here (no braille data ships with the paper): the float graph is NIR's semantics,
the bias_zero variant's Affine biases into CubaLIF included; loihi and xylo graphs run on
any T, Lava and xylosim agree with the simulator bit for bit, and the fidelity bars are
measured (met, or the gate refuses in one line)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from snnc.cli import main
from snnc.compiler.compile import compile_net
from snnc.compiler.frontend.nir import nir_float_net, read_nir
from snnc.compiler.ir import load
from snnc.evaluation.agreement import output_agreement
from snnc.evaluation.verify import executor
from snnc.runtime import deploy
from snnc.compiler.ir import Synapse
from snnc.targets.loihi.lava_exec import run_lava_graphs
from snnc.targets.loihi.lava_layers import SplitDense
from tests.backends import require

DT = 1e-4   # paper/03_rnn/README.md of neuromorphs/NIR: "the graphs use dt=1e-4"
FILES = {"subtract": "tests/data/nir/braille_noDelay_noBias_subtract.nir",
         "bias_zero": "tests/data/nir/braille_noDelay_bias_zero.nir"}


def bursty(n: int, seed: int, steps: int = 256, channels: int = 12) -> np.ndarray:
    """Taxel-like events: 1-4 bursts (3-11 steps, p = 0.6) per channel on a 1% background."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, steps, channels)) < 0.01
    for b in range(n):
        for ch in range(channels):
            for _ in range(rng.integers(1, 5)):
                t0, width = rng.integers(0, steps - 12), rng.integers(3, 12)
                x[b, t0:t0 + width, ch] |= rng.random(width) < 0.6
    return x.astype(np.int64)


@pytest.fixture(scope="module")
def x_test():
    return bursty(200, 2)


# the bar (>= 0.95 argmax and output spike agreement at T = 256) is met on loihi with these
# options: every synapse as two Dense (16-bit weights) and v allowed to saturate at half its peak
LOIHI_BAR = {"weight_split": "all", "v_margin": 0.5}


def _compiled(variant: str, target: str, options: dict | None = None):
    x_cal = bursty(128, 1)
    front = nir_float_net(FILES[variant], target, dt=DT, steps=256, calibrate_random=True)
    front.calibration = lambda n: x_cal
    return front, compile_net(front, target, options=options)


def nir_reference(path: str, x: np.ndarray) -> dict[str, np.ndarray]:
    """NIR's CubaLIF written out in float64 from the file's own fields (forward Euler, dt):
    I <- I + dt/tau_syn (-I + w_in (W s + b)); v <- v + dt/tau_mem (v_leak - v + r I);
    spike where v > v_threshold, then v <- v_reset. Recurrent input is last step's spikes."""
    ng = read_nir(path)
    n = ng.nodes
    pops = {"lif1.lif": [("fc1", "input"), ("lif1.w_rec", "lif1.lif")], "lif2": [("fc2", "lif1.lif")]}
    state = {p: (np.zeros((len(x), n[p].tau_mem.size)),) * 2 for p in pops}
    spikes = {p: np.zeros((len(x), n[p].tau_mem.size)) for p in pops}
    out = {p: [] for p in pops}
    for t in range(x.shape[1]):
        prev = dict(spikes)
        for p, edges in pops.items():
            c = n[p]
            drive = sum((x[:, t] if src == "input" else (prev[src] if src == p else spikes[src])) @ n[syn].weight.T
                        + getattr(n[syn], "bias", 0.0) for syn, src in edges)
            i, v = state[p]
            i = i + DT / c.tau_syn * (-i + c.w_in * drive)
            v = v + DT / c.tau_mem * (c.v_leak - v + c.r * i)
            s = v > c.v_threshold
            state[p] = (i, np.where(s, c.v_reset, v))
            spikes[p] = s.astype(np.float64)
            out[p].append(spikes[p])
    return {p: np.stack(v, axis=1) for p, v in out.items()}


@pytest.mark.parametrize("variant", ["bias_zero", "subtract"])
def test_float_graph_is_nirs_cubalif_biases_included(variant, x_test):
    """The bias channels are exact: the float graph spikes as a float64 NIR reference."""
    front = nir_float_net(FILES[variant], "ideal", dt=DT, steps=256)
    assert ("lif2_bias" in front.graph.nodes) == (variant == "bias_zero")
    ours = deploy.run(front.graph, x_test[:50])[1].spikes
    theirs = nir_reference(FILES[variant], x_test[:50])
    for pop in ("lif1.lif", "lif2"):
        assert ours[pop].sum() > 1000
        # float32 against float64: a spike may move where v passes within rounding of threshold
        assert np.mean(ours[pop] == theirs[pop]) > 0.999, pop


def test_loihi_graphs_run_on_any_length_with_bias_channels_from_their_first_step():
    front, c = _compiled("bias_zero", "loihi")
    assert c.graph.metadata["any_steps"] and c.graph.metadata["pad_steps"] == 2
    assert [b["start"] for b in c.graph.metadata["bias_inputs"]] == [0, 1]   # lif2 reads input one step later
    padded = deploy.pad_input(c.graph, np.zeros((1, 5, 12), np.int64))
    np.testing.assert_array_equal(padded[0, :, 12:].T, [[1, 1, 1, 1, 1, 0, 0], [0, 1, 1, 1, 1, 1, 0]])
    for steps in (40, 300):   # not the calibration's 256
        x = bursty(4, steps, steps)
        assert deploy.run(c.graph, x)[0].shape == (4, 7)


def test_lava_agrees_bit_for_bit_on_the_braille_rnn(x_test):
    """Both variants, 8-bit and split weights, in one Lava worker: bias_zero's bias channels
    feed lif1 and lif2 from the Input beside the forward Dense, a split synapse is two Dense."""
    compiled = [_compiled(v, "loihi", opts)[1] for v in ("bias_zero", "subtract") for opts in (None, LOIHI_BAR)]
    lava = require("Lava", lambda: executor("lava"))
    assert lava and any(isinstance(n, SplitDense) for n in compiled[1].graph.nodes.values())
    x = x_test[:3]
    outs = run_lava_graphs([(c.graph, deploy.pad_input(c.graph, x)) for c in compiled], record=("v",))
    for c, theirs in zip(compiled, outs):
        ours = deploy.run(c.graph, x)[1]
        for pop in c.graph.neurons:
            assert ours.spikes[pop].sum() > 100
            np.testing.assert_array_equal(theirs[pop]["spikes"], ours.spikes[pop])
            np.testing.assert_array_equal(theirs[pop]["v"], ours.state[pop]["v"])


@pytest.mark.parametrize("variant", ["bias_zero", "subtract"])
def test_loihi_agreement_with_ideal_is_measured(variant, x_test):
    """8-bit weights: quantisation costs the agreement (these figures are what the compile
    report's fidelity gate acts on); Loihi's dynamics alone are near exact."""
    front, c = _compiled(variant, "loihi")
    a = output_agreement(front.graph, c.graph, x_test)
    mapped = output_agreement(front.graph, c.mapped, x_test)
    assert mapped["argmax"] >= 0.98 and mapped["spikes"]["lif2"] >= 0.99   # Loihi's dynamics: near exact
    assert a["samples"] == 200 and a["spikes"]["lif2"] >= 0.9 and a["argmax"] >= 0.75


@pytest.mark.parametrize("variant", ["bias_zero", "subtract"])
def test_loihi_meets_the_bar_with_split_weights_and_v_headroom(variant, x_test):
    """The issue's bar: >= 0.95 argmax and output spike agreement with the float graph at T = 256."""
    front, c = _compiled(variant, "loihi", LOIHI_BAR)
    a = output_agreement(front.graph, c.graph, x_test)
    assert a["samples"] == 200 and a["argmax"] >= 0.95 and a["spikes"]["lif2"] >= 0.95
    split = [r for r in c.report["layers"] if r.get("split") is True]
    assert len(split) == len(c.graph.of_type(Synapse)) and all(r["weight_rel_error"] < 1e-3 for r in split)
    assert c.report["usage"]["dense_processes"] == 2 * len(split)


def test_xylo_spiking_readout_spikes_and_xylosim_agrees(x_test):
    front, c = _compiled("subtract", "xylo")
    readout = c.graph.nodes["readout"]
    assert readout.max_spikes == 1 and readout.threshold.max() < 32767
    logits, res = deploy.run(c.graph, x_test[:20])
    assert res.spikes["readout"].sum() > 0 and c.graph.nodes["output"].gain == 1.0
    np.testing.assert_array_equal(logits, res.spikes["readout"].sum(axis=1))   # counts are counts
    xylosim = require("xylosim", lambda: executor("xylosim"))
    theirs = xylosim(c.graph, deploy.pad_input(c.graph, x_test[:20]))
    for pop in c.graph.neurons:
        np.testing.assert_array_equal(theirs[pop]["spikes"], res.spikes[pop])


def test_compile_cli_on_braille_data_gates_in_one_line(tmp_path, capsys):
    """--data with inputs only: calibrated on x_train, measured on x_test; on xylo the
    dynamics mapping loses most and the gate refuses in one line, naming it; no graph."""
    data = tmp_path / "braille.npz"
    np.savez(data, x_train=bursty(64, 1), x_test=bursty(64, 2))
    out = tmp_path / "x.snnc"
    code = main(["compile", FILES["subtract"], "--target", "xylo", "--dt", str(DT), "--data", str(data),
                 "--out", str(out)])
    err = capsys.readouterr().err
    report = json.loads((tmp_path / "x.report.json").read_text())
    assert code == 3 and err.count("\n") == 1 and "largest step: dynamics mapping" in err and not out.exists()
    assert report["fidelity"]["metric"] == "agreement" and report["calibration_input"]["kind"] == "data"
    assert main(["compile", FILES["subtract"], "--target", "xylo", "--dt", str(DT), "--data", str(data),
                 "--force", "--out", str(out)]) == 0
    assert load(out).metadata["steps"] == 256 and load(out).nodes["readout"].threshold.max() < 32767


def test_no_data_is_refused_for_a_chip_unless_random_calibration_is_asked_for(tmp_path, capsys):
    out = tmp_path / "b.snnc"
    assert main(["compile", FILES["bias_zero"], "--target", "loihi", "--dt", str(DT), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--calibrate-random" in err and not out.exists()
    assert main(["compile", FILES["bias_zero"], "--target", "loihi", "--dt", str(DT), "--calibrate-random",
                 "--steps", "32", "--calibrate", "16", "--force", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "calibrated on 16 random spike trains" in printed and "training samples" not in printed
    report = json.loads((tmp_path / "b.report.json").read_text())
    assert report["calibration_input"] == {"kind": "random", "samples": 16, "steps": 32, "rate": 0.2, "seed": 0}
    assert report["fidelity"]["data"].startswith("16 random spike trains")
    assert main(["compile", FILES["bias_zero"], "--target", "loihi", "--dt", str(DT), "--steps", "8",
                 "--data", str(tmp_path / "none.npz"), "--out", str(out)]) == 2


def test_help_names_both_inputs(capsys):
    with pytest.raises(SystemExit):
        main(["compile", "--help"])
    text = capsys.readouterr().out
    assert "CHECKPOINT|MODEL.nir" in text and "NIR graph" in text and "--calibrate-random" in text


def test_xylo_takes_the_bias_zero_readout_bias_as_its_steady_state_and_says_so(x_test):
    front, c = _compiled("bias_zero", "xylo")
    assert any("steady state b / (1 - alpha)" in note for note in c.report["notes"])
    assert deploy.run(c.graph, x_test[:20])[1].spikes["readout"].sum() > 0


def test_simulate_input_writes_every_output_population_padded_for_latency(tmp_path, capsys):
    graph, x = tmp_path / "b.snnc", tmp_path / "x.npy"
    assert main(["compile", FILES["bias_zero"], "--target", "loihi", "--dt", str(DT), "--calibrate-random",
                 "--calibrate", "16", "--force", "--out", str(graph)]) == 0
    np.save(x, bursty(3, 7, steps=50))
    assert main(["simulate", str(graph), "--input", str(x), "--out", str(tmp_path / "y.npz")]) == 0
    with np.load(tmp_path / "y.npz", allow_pickle=False) as out:
        assert out["spikes__lif2"].shape == (3, 52, 7)   # 50 steps + Loihi's 2 of latency
        np.testing.assert_array_equal(out["values__output"], out["spikes__lif2"].sum(axis=1))
    assert main(["simulate", str(graph), "--data", "--out", str(tmp_path / "z.npz")]) == 2
