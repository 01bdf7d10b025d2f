"""The dense int8 baseline: the width rule on hand-set validation scores, selection that never
reads the test split, the deployed edge-int8 graph against a numpy walk of its integers and
against its integer ONNX model, and one-line errors."""
import numpy as np
import pytest

from snnc.compiler.ir import load
from snnc.compiler.ir.dense import Gemm, Relu
from snnc.errors import InputError
from snnc.evaluation import datasets
from snnc.evaluation import dense_baseline as db
from snnc.targets.edge_int8 import quantise_input, requantise

DIGITS = {"name": "digits", "encoding": "rate", "steps": 8}


def hand_grid(scores: dict[int, float]) -> db.WidthGrid:
    """A grid whose widths carry these validation accuracies (nothing trained)."""
    grid = db.WidthGrid(db.analog_data(DIGITS), widths=tuple(scores))
    grid.trained = {w: db.Candidate(w, acc, []) for w, acc in scores.items()}
    return grid


def test_rule_takes_the_smallest_width_that_reaches_the_request():
    grid = hand_grid({4: 0.80, 8: 0.93, 16: 0.96, 32: 0.97})
    assert grid.pick(0.96)[0].width == 16
    assert grid.pick(0.934)[0].width == 8          # 0.93 >= 0.934 - 0.005
    assert grid.pick(0.936)[0].width == 16         # 0.93 <  0.936 - 0.005
    assert grid.pick(0.5) == (grid.trained[4], True)


def test_rule_falls_back_to_the_best_width_and_says_so():
    cand, reached = hand_grid({4: 0.80, 8: 0.95, 16: 0.95, 32: 0.90}).pick(0.99)
    assert (cand.width, reached) == (8, False)      # the best, smallest on ties


def test_analog_form_keeps_classes_and_validation_share():
    seq = {"name": "digits-seq", "max_count": 15, "classes": [0, 1, 2], "val_fraction": 0.2}
    assert db.analog_data(seq) == {"name": "digits", "encoding": "direct", "steps": 1,
                                   "classes": [0, 1, 2], "val_fraction": 0.2}
    with pytest.raises(InputError, match="data set 'shd' has no analog form"):
        db.analog_data({"name": "shd"})


def test_selection_reads_train_and_val_only(monkeypatch):
    calls, real = [], datasets.load_split
    monkeypatch.setattr(datasets, "load_split", lambda d, s="test", limit=None: calls.append(s) or real(d, s, limit))
    grid = db.WidthGrid(db.analog_data(DIGITS), widths=(4, 8, 16), seed=0, max_iter=40)
    cand, reached = grid.pick(0.7)
    assert sorted(set(calls)) == ["train", "val"] and reached
    below = [c for w, c in grid.trained.items() if w < cand.width]
    assert cand.val_accuracy >= 0.7 - db.MATCH_MARGIN and all(c.val_accuracy < 0.695 for c in below)
    assert list(grid.trained) == [w for w in (4, 8, 16) if w <= cand.width]   # none above the choice


def test_dead_rows_are_flushed_and_then_compile():
    w = np.float32([[1.0, -2.0], [1e-9, -1e-9], [0.5, 0.0]])
    assert np.array_equal(db.flush_dead_rows(w), np.float32([[1.0, -2.0], [0.0, 0.0], [0.5, 0.0]]))
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(4, 64)).astype(np.float32)
    w0[2] = 1e-15                                   # what weight decay leaves of a dead unit (seen at seed 2)
    layers = [(db.flush_dead_rows(w0), np.float32([0.1, 0.2, -0.145, 0.0])),
              (rng.normal(size=(10, 4)).astype(np.float32), np.zeros(10, np.float32))]
    graph = db.compile_edge(db.Candidate(4, 0.0, layers), db.analog_data(DIGITS), calibrate=32).graph
    assert graph.target == "edge-int8" and not graph.nodes["gemm0"].weights[2].any()


def test_training_is_deterministic():
    x, y = db._split(db.analog_data(DIGITS), "train", limit=200)
    a, b = db.fit_mlp(x, y, 8, seed=3, max_iter=20), db.fit_mlp(x, y, 8, seed=3, max_iter=20)
    assert all(np.array_equal(wa, wb) and np.array_equal(ba, bb) for (wa, ba), (wb, bb) in zip(a, b))


def integer_logits(graph, x: np.ndarray) -> np.ndarray:
    """The edge-int8 graph's integers walked in numpy, input to Output (no executor)."""
    q = graph.metadata["input_quant"]
    h = quantise_input(x, float(q["scale"]), int(q["zero_point"]))
    for name in ("gemm0", "relu0", "gemm1"):
        node = graph.nodes[name]
        if isinstance(node, Relu):
            h = np.maximum(h, node.zero_point)
            continue
        acc = (h - node.input_zero_point) @ node.weights.T.astype(np.int64) + node.bias
        h = np.clip(requantise(acc, node.multiplier, node.shift) + node.output_zero_point,
                    node.act_min, node.act_max) if node.requantise else acc
    return h


@pytest.fixture(scope="module")
def small_grid():
    return db.WidthGrid(db.analog_data(DIGITS), widths=(8, 16), seed=0, max_iter=60)


@pytest.fixture(scope="module")
def small_baseline(tmp_path_factory, small_grid):
    path = tmp_path_factory.mktemp("dense") / "dense.snnc"
    return db.dense_baseline(DIGITS, 0.9, grid=small_grid, calibrate=64, save_to=path), load(path)


def test_baseline_deploys_what_numpy_computes(small_baseline):
    row, graph = small_baseline
    x, y = datasets.load_split(row["data"], "test")
    logits = integer_logits(graph, x[:, 0])
    assert graph.target == "edge-int8" and isinstance(graph.nodes["gemm0"], Gemm)
    assert row["deployed_accuracy"] == pytest.approx(float(np.mean(logits.argmax(axis=1) == y)), abs=0)
    assert row["deployed_accuracy"] > 0.8 and abs(row["deployed_accuracy"] - row["float_accuracy"]) < 0.03
    w = row["width"]
    assert row["macs_per_inference"] == 64 * w + w * 10 and row["energy_per_inference_j"] > 0


def test_baseline_agrees_with_its_integer_onnx_model(small_baseline):
    from tests.backends import require

    from snnc.evaluation.verify import verify

    row, graph = small_baseline
    report = require("onnxruntime", lambda: verify(graph, row["data"], None, ("sim", "onnx"),
                                                   samples=10_000, progress=False))
    assert report["agreement_samples"]["onnx"] == row["test_samples"] == 360
    assert report["agreement"]["onnx"] == 1.0 and report["deployed"]["onnx"] == row["deployed_accuracy"]


def test_baseline_is_checked_in_tflite_reference_kernels(small_baseline):
    """The row's tflite_agreement: every layer of all 360 test samples equal in LiteRT's
    reference kernels; a wrong integer in the simulator's result is seen."""
    from types import SimpleNamespace

    from tests.backends import require
    from snnc.runtime import deploy
    from snnc.targets.edge_int8 import tflite_exec

    row, graph = small_baseline
    require("LiteRT (ai-edge-litert)", tflite_exec.interpreter_module)
    assert row["tflite_agreement"] == 1.0 and row["test_samples"] == 360
    x, _ = datasets.load_split(row["data"], "test")
    _, result = deploy.run(graph, x[:20])
    state = {n: {"v": np.array(s["v"])} for n, s in result.state.items()}
    state["gemm0"]["v"][3, 0, 1] += 1
    assert db.tflite_agreement(graph, x[:20], SimpleNamespace(state=state))["tflite_agreement"] == 19 / 20


def test_verdict_names_the_side_that_wins():
    row = {"energy_per_inference_j": 1e-8, "deployed_accuracy": 0.96, "width": 16, "reached": True,
           "macs_per_inference": 1000}
    assert "dense int8 net on edge-int8 wins on energy (100x less)" in db.verdict(row, 1e-6, 0.97, "loihi")
    assert "xylo wins on energy (10x less" in db.verdict(row, 1e-9, 0.97, "xylo")
    # the caveat: the break-even energy per MAC of a whole MCU (1e-6 J / 1000 MACs)
    assert "more than 1e-09 J per MAC" in db.verdict(row, 1e-6, 0.97, "loihi")


FRONT_KEYS = {"method", "target", "penalty", "float_accuracy", "hidden_spike_rate", "deployed_accuracy",
              "energy_per_inference_j", "energy_per_inference_std_j", "synaptic_events_per_inference",
              "spikes_per_inference", "test_samples", "seconds"}   # benchmarks/energy_front.py's rows


def test_front_row_has_the_front_keys_and_says_who_wins(small_grid):
    spiking = {"method": "sbnn", "target": "loihi", "penalty": 3.0, "float_accuracy": 0.9,
               "deployed_accuracy": 0.9, "energy_per_inference_j": 2e-6}
    row = db.front_row(spiking, DIGITS, small_grid)
    assert FRONT_KEYS <= set(row) and row["method"] == "dense-int8" and row["target"] == "edge-int8"
    assert row["synaptic_events_per_inference"] == row["macs_per_inference"]
    assert row["energy_ratio_to_spiking"] == pytest.approx(row["energy_per_inference_j"] / 2e-6)
    line = db.summary_line({**row, "reached": True}, "loihi")
    assert f"(hidden {row['width']})" in line and "wins on energy" in line


def test_energy_front_puts_a_dense_row_beside_each_point(tmp_path):
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "energy_front.py"
    spec = importlib.util.spec_from_file_location("energy_front", script)
    front = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(front)
    spiking = [{"method": "sbnn", "target": "loihi", "penalty": p, "float_accuracy": acc, "hidden_spike_rate": 0.1,
                "deployed_accuracy": acc, "energy_per_inference_j": 2e-6, "energy_per_inference_std_j": 1e-7,
                "synaptic_events_per_inference": 8e4, "spikes_per_inference": 400.0, "test_samples": 360,
                "seconds": 1.0} for p, acc in ((0.0, 0.9), (30.0, 0.5))]
    dense = front.dense_rows(spiking, "loihi")
    assert [r["beside"]["penalty"] for r in dense] == [0.0, 30.0] and all(set(spiking[0]) <= set(r) for r in dense)
    assert dense[0]["width"] >= dense[1]["width"]   # a lower accuracy never needs a wider net
    front.plot(spiking + dense, tmp_path / "front.png", "loihi")
    assert (tmp_path / "front.png").stat().st_size > 10_000
