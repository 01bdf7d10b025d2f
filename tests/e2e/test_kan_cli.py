"""KAN regression from the command line: train -> compile (edge-int8) -> verify (sim, onnx), and its errors.

A tiny problem (400 training points, [2, 3, 1], 4 then 8 intervals, 5 epochs) so
that the whole chain runs in seconds; the real config is measured in the report.
"""
import json

import pytest
import torch

from snnc.cli import main
from snnc.train.kan.checkpoint import load_kan, save_kan
from snnc.train.kan.config import from_dict

TINY = """
[kan]
widths = [2, 3, 1]
intervals = 4
order = {order}

[data]
n_train = 400
n_val = 100
n_test = 200

[train]
schedule = [3, 2]
max_iter = 10
seed = 0
"""


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _config(tmp_path, order=2, text=TINY):
    path = tmp_path / f"kan{order}.toml"
    path.write_text(text.format(order=order))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One CLI training run shared by the tests below: (run folder, printed summary line)."""
    tmp = tmp_path_factory.mktemp("kan")
    code = main(["train", "--config", str(_config(tmp)), "--out", str(tmp / "run"), "--quiet"])
    assert code == 0
    return tmp / "run"


def test_train_writes_checkpoint_metrics_and_summary(trained):
    summary = json.loads((trained / "summary.json").read_text())
    assert {"train_mse", "val_mse", "test_mse", "epoch", "intervals"} <= set(summary)
    assert 0 < summary["test_mse"] < 0.1 and summary["n_test"] == 200 and summary["epochs"] == 5
    rows = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4, 5] and [r["intervals"] for r in rows] == [4] * 3 + [8] * 2
    best = min(rows, key=lambda r: r["val_mse"])
    assert summary["epoch"] == best["epoch"] and summary["val_mse"] == best["val_mse"]   # chosen on validation
    ckpt = torch.load(trained / "checkpoint.pt", weights_only=True)   # tensors and plain data only
    assert ckpt["format"] == "snnc.kan/1" and ckpt["kind"] == "kan"
    model, cfg, _ = load_kan(trained / "checkpoint.pt")               # rebuilt from the file alone
    assert model.widths == [2, 3, 1] and cfg.kan.widths == [2, 3, 1]


def test_compile_and_verify_edge_int8(trained, tmp_path, capsys):
    ckpt, graph = trained / "checkpoint.pt", tmp_path / "kan.snnc"
    code, out, _ = run(["compile", ckpt, "--target", "edge-int8", "--out", graph], capsys)
    assert code == 0 and "exact (order 2)" in out and "deployed" in out
    report = json.loads(graph.with_suffix(".report.json").read_text())
    mse = report["mse"]
    assert report["exact"] and report["activation_bits"] == 16
    assert mse["float_graph_max_abs_error"] < 1e-5                     # float graph = PyTorch model
    assert mse["deployed"] <= 2 * mse["float_torch"] + 1e-5              # the bar
    code, out, _ = run(["verify", graph, "--checkpoint", ckpt, "--backends", "sim,onnx",
                        "--json", tmp_path / "v.json", "--plot", tmp_path / "v.png"], capsys)
    assert code == 0, out
    v = json.loads((tmp_path / "v.json").read_text())
    assert v["agreement"] == {"onnx": 1.0} and v["divergence"] == {}
    assert set(v["deployed_mse"]) == {"sim", "onnx"} and v["deployed_mse"]["sim"] == v["deployed_mse"]["onnx"]
    assert v["float_mse"] == pytest.approx(mse["float_torch"]) and v["deployed_mse"]["sim"] == pytest.approx(mse["deployed"])
    assert 0 < v["max_abs_error"] == pytest.approx(mse["max_abs_error"])
    assert (tmp_path / "v.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    _one_line_error(*run(["verify", graph, "--backends", "sim,lava"], capsys)[::2],
                    "names no independent executor of a 'edge-int8' graph (add one of: onnx, tflite, tflite-opt)")
    _one_line_error(*run(["verify", graph, "--plot", tmp_path / "v.gif"], capsys)[::2], "plot suffix '.gif'")


def test_compile_for_ideal_is_the_float_graph(trained, tmp_path, capsys):
    code, _, _ = run(["compile", trained / "checkpoint.pt", "--target", "ideal", "--out", tmp_path / "f.snnc"], capsys)
    mse = json.loads((tmp_path / "f.report.json").read_text())["mse"]
    assert code == 0 and mse["deployed"] == mse["float_graph"]


def _one_line_error(code, err, *needles):
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: "), err
    for needle in needles:
        assert needle in err, err


def test_bad_config_key_and_resume_are_one_line(tmp_path, capsys):
    bad = _config(tmp_path, text=TINY.replace("intervals = 4", "intervls = 4"))
    _one_line_error(*run(["train", "--config", bad, "--out", tmp_path / "r"], capsys)[::2], "kan.intervls: unknown key")
    good = _config(tmp_path)
    _one_line_error(*run(["train", "--config", good, "--out", tmp_path / "r", "--resume"], capsys)[::2],
                    "KAN runs do not resume")


def test_spiking_target_is_one_line(trained, tmp_path, capsys):
    ckpt = trained / "checkpoint.pt"
    _one_line_error(*run(["compile", ckpt, "--target", "loihi", "--out", tmp_path / "x.snnc"], capsys)[::2],
                    "a KAN compiles to edge-int8 or ideal")
    assert not (tmp_path / "x.snnc").exists()


def _checkpoint(tmp_path, widths, intervals, order=2):
    from snnc.train.kan import build_kan
    cfg = from_dict({"kan": {"widths": widths, "intervals": intervals, "order": order},
                     "data": {"n_train": 400, "n_val": 100, "n_test": 200}})
    model = build_kan(widths, intervals, order, generator=torch.Generator().manual_seed(0))
    path = tmp_path / f"ckpt_{intervals}_{order}.pt"
    save_kan(path, model, cfg, epoch=0, level=0, seconds=0.0, lo=-1.0, hi=3.0)
    return path


def test_model_too_large_for_the_mcu_is_one_line(tmp_path, capsys):
    """[2, 5, 1] at 256 intervals: the second layer's banded ramp and hat matrices alone need ~1.6 MB
    of int8 flash, beyond the STM32F746's 1 MB."""
    ckpt = _checkpoint(tmp_path, [2, 5, 1], 256)
    code, _, err = run(["compile", ckpt, "--target", "edge-int8", "--kan-lowering", "gemm",
                        "--out", tmp_path / "big.snnc"], capsys)
    _one_line_error(code, err, "design rule 'flash-budget'", "1048576")
    assert not (tmp_path / "big.snnc").exists()


def test_order_3_needs_the_flag_then_warns(tmp_path, capsys):
    ckpt = _checkpoint(tmp_path, [2, 3, 1], 4, order=3)
    code, _, err = run(["compile", ckpt, "--target", "edge-int8", "--out", tmp_path / "c.snnc"], capsys)
    _one_line_error(code, err, "order-3 splines", "--pwl-segments")
    code, out, err = run(["compile", ckpt, "--target", "edge-int8", "--pwl-segments", "32",
                          "--out", tmp_path / "c.snnc"], capsys)
    assert code == 0 and "warning: order-3 splines approximated by 32 linear pieces" in err
    report = json.loads((tmp_path / "c.report.json").read_text())
    assert not report["exact"] and report["pwl"][0]["segments"] == 32 and report["mse"]["pwl_max_abs_error"] > 0


def test_pwl_lowering_compiles_verifies_and_stores_less(trained, tmp_path, capsys):
    """--kan-lowering pwl (the default): one PWL node per layer; the issue's bars as for the Gemm form,
    onnxruntime bit for bit, and fewer flash bytes than the Gemm form of the same net."""
    ckpt = trained / "checkpoint.pt"
    code, out, _ = run(["compile", ckpt, "--target", "edge-int8", "--out", tmp_path / "p.snnc"], capsys)
    assert code == 0 and "PWL" in out                                    # the default lowering
    report = json.loads((tmp_path / "p.report.json").read_text())
    assert [r["type"] for r in report["layers"]] == ["PWL", "PWL"] and report["lowering"] == "pwl"
    assert report["mse"]["deployed"] <= 2 * report["mse"]["float_torch"] + 1e-5
    code, _, _ = run(["compile", ckpt, "--target", "edge-int8", "--kan-lowering", "gemm",
                      "--out", tmp_path / "g.snnc"], capsys)
    gemm = json.loads((tmp_path / "g.report.json").read_text())
    assert report["usage"]["flash_bytes"] < gemm["usage"]["flash_bytes"]
    code, out, _ = run(["verify", tmp_path / "p.snnc", "--checkpoint", ckpt, "--backends", "sim,onnx",
                        "--json", tmp_path / "v.json"], capsys)
    v = json.loads((tmp_path / "v.json").read_text())
    assert code == 0 and v["agreement"] == {"onnx": 1.0} and v["divergence"] == {}


def test_pwl_lowering_fits_the_kan_the_gemm_form_cannot(tmp_path, capsys):
    """[2, 5, 1] at 256 intervals: over the STM32F746's flash as Gemms (~1.6 MB), 38 KB as PWL nodes
    (int32 knots, values and slopes: 4 x (2 x 257 + 10 x 257 + 10 x 256 + 5 x 257 + 5 x 257 + 5 x 256) + ...)."""
    ckpt = _checkpoint(tmp_path, [2, 5, 1], 256)
    code, _, err = run(["compile", ckpt, "--target", "edge-int8", "--kan-lowering", "pwl",
                        "--out", tmp_path / "big.snnc"], capsys)
    assert code == 0, err
    flash = json.loads((tmp_path / "big.report.json").read_text())["usage"]["flash_bytes"]
    assert flash < 40 * 1024


def test_kan_lowering_flag_on_another_checkpoint_is_one_line(tmp_path, capsys):
    nir = tmp_path / "net.nir"
    nir.write_bytes(b"not read")
    _one_line_error(*run(["compile", nir, "--target", "loihi", "--kan-lowering", "pwl",
                          "--out", tmp_path / "x.snnc"], capsys)[::2], "--kan-lowering is for KAN checkpoints")


def test_simulate_data_runs_the_kan_on_its_own_problem(trained, tmp_path, capsys):
    """`snnc simulate FILE --data`: the deployed MSE on the problem the KAN was compiled from
    (the same figure verify reports), JSON with it; a named data set or --plot: one line."""
    ckpt, graph = trained / "checkpoint.pt", tmp_path / "k.snnc"
    assert run(["compile", ckpt, "--target", "edge-int8", "--out", graph], capsys)[0] == 0
    code, out, _ = run(["simulate", graph, "--data", "--report", tmp_path / "s.json"], capsys)
    summary = json.loads((tmp_path / "s.json").read_text())
    compiled = json.loads(graph.with_suffix(".report.json").read_text())["mse"]
    assert code == 0 and "deployed MSE" in out and summary["samples"] == 200
    assert summary["mse"] == pytest.approx(compiled["deployed"]) and summary["energy_per_inference_j"]["mean"] > 0
    _one_line_error(*run(["simulate", graph, "--data", "digits"], capsys)[::2], "give --data without a name")
    _one_line_error(*run(["simulate", graph, "--data", "--plot", tmp_path / "p.png"], capsys)[::2],
                    "snnc verify FILE --plot")


def test_the_kan_gate_measures_the_mse_rise(trained, tmp_path, capsys):
    """A KAN's gate: deployed test MSE at most (1 + --max-drop) x the PyTorch model's (default
    1.0); beyond it, exit 3 naming the rise and the step that grew the MSE most, no graph."""
    ckpt, out = str(trained / "checkpoint.pt"), tmp_path / "k.snnc"
    assert main(["compile", ckpt, "--target", "edge-int8", "--out", str(out)]) == 0
    mse = json.loads(out.with_suffix(".report.json").read_text())["mse"]
    rise = mse["deployed"] / mse["float_torch"] - 1
    assert 0 < rise <= 1.0
    capsys.readouterr()
    strict = tmp_path / "strict.snnc"
    code = main(["compile", ckpt, "--target", "edge-int8", "--max-drop", f"{rise / 2}", "--out", str(strict)])
    err = capsys.readouterr().err.strip()
    assert code == 3 and "\n" not in err and not strict.exists()
    assert f"{100 * rise:.1f}% above the PyTorch model's" in err and "largest step: quantisation" in err
    gate = json.loads(strict.with_suffix(".report.json").read_text())["gate"]
    assert gate["metric"] == "mse" and gate["drop"] == pytest.approx(rise)
