"""The fidelity gate: compile measures the deployed graph against the PyTorch model on the
test split; beyond --max-drop (default: the target's) it writes the report, no graph, and
exits 3 in one line naming the drop and the step that lost most; --force writes the graph."""
from __future__ import annotations

import json

import pytest

from snnc.cli import main
from snnc.evaluation.compiled import fidelity
from snnc.train import config as config_mod
from snnc.train.trainer import run


@pytest.fixture(scope="module")
def multi_spike_ckpt(tmp_path_factory):
    """A soft-reset MLP trained with up to 4 spikes per step: Loihi's one spike and zero reset cost it."""
    out = tmp_path_factory.mktemp("gate")
    run(config_mod.from_dict({
        "data": {"name": "digits", "steps": 8, "encoding": "rate"},
        "model": {"name": "mlp", "neuron": "lif", "hidden": [48], "beta": 0.95, "theta": 0.25, "max_spikes": 4,
                  "reset": "soft", "bias": False, "readout": "mean"},
        "loss": {"kl_weight": 0.01},
        "train": {"epochs": 4, "batch_size": 64, "lr": 5e-3, "threads": 1, "eval_samples": 0}}), out, progress=False)
    return out / "checkpoint.pt"


def test_the_gate_refuses_beyond_max_drop_and_force_writes(multi_spike_ckpt, tmp_path, capsys):
    out = tmp_path / "g.snnc"
    assert main(["compile", str(multi_spike_ckpt), "--target", "loihi", "--force", "--out", str(out)]) == 0
    report = json.loads(out.with_suffix(".report.json").read_text())
    acc = report["accuracy"]
    drop = acc["float_torch"]["accuracy"] - acc["deployed"]["accuracy"]
    assert drop > 0.01 and report["gate"]["forced"] and report["gate"]["largest"] == "dynamics mapping"
    capsys.readouterr()
    out.unlink()
    assert main(["compile", str(multi_spike_ckpt), "--target", "loihi", "--out", str(out)]) == 3   # default 1 point
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{100 * drop:.2f} points below the PyTorch model's" in err
    assert "largest step: dynamics mapping" in err and not out.exists()
    assert json.loads(out.with_suffix(".report.json").read_text())["gate"]["forced"] is False
    assert main(["compile", str(multi_spike_ckpt), "--target", "loihi", "--max-drop", f"{drop + 0.001}",
                 "--out", str(out)]) == 0
    assert out.exists()


def test_the_gate_is_silent_within_max_drop():
    report = {"accuracy": {"float_torch": {"accuracy": 0.9}, "float_graph": {"accuracy": 0.9},
                           "target_dynamics": {"accuracy": 0.895}, "deployed": {"accuracy": 0.891}}}
    assert fidelity(report, 0.01) is None
    gate = fidelity(report, 0.005)
    assert gate["largest"] == "dynamics mapping" and gate["drop"] == pytest.approx(0.009)


@pytest.mark.parametrize("value", ["-0.1", "1.5"])
def test_max_drop_out_of_range_is_one_line(multi_spike_ckpt, tmp_path, capsys, value):
    assert main(["compile", str(multi_spike_ckpt), "--target", "loihi", "--max-drop", value,
                 "--out", str(tmp_path / "g.snnc")]) == 2
    assert "--max-drop must lie in [0, 1]" in capsys.readouterr().err


def test_verify_exits_1_on_the_same_gate(multi_spike_ckpt, tmp_path, capsys):
    out = tmp_path / "g.snnc"
    assert main(["compile", str(multi_spike_ckpt), "--target", "loihi", "--force", "--out", str(out)]) == 0
    capsys.readouterr()
    code = main(["verify", str(out), "--checkpoint", str(multi_spike_ckpt), "--backends", "sim,onnx",
                 "--json", str(tmp_path / "v.json")])
    assert code == 1 and "gate: deployed test accuracy" in capsys.readouterr().out
    v = json.loads((tmp_path / "v.json").read_text())
    assert v["agreement"] == {"onnx": 1.0} and v["gate"]["passed"] is False
    assert main(["verify", str(out), "--checkpoint", str(multi_spike_ckpt), "--backends", "sim,onnx",
                 "--max-drop", "0.5"]) == 0


def test_overflow_events_are_counted_and_noted():
    """Saturations of the deployed graph on the test split: counted per node in the report,
    one note; none, no note."""
    from snnc.evaluation.compiled import overflow_note

    assert overflow_note({}, 10) is None
    note = overflow_note({"lif0": 3, "input": 7}, 10)
    assert note.startswith("overflow: 10 events on the 10 test samples") and note.index("input 7") < note.index("lif0 3")
