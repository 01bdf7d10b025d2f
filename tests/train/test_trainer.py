"""Trainer and CLI: tiny runs (seconds each), resume equality, config errors, 2-process DDP."""
import json
import os
import subprocess
import sys

import pytest
import torch

from snnc.cli import main
from snnc.errors import ConfigError
from snnc.train import config as config_mod
from snnc.train.trainer import fit, load_model

TINY = """
[data]
name = "digits"
steps = 4
limit = 120

[model]
name = "mlp"
hidden = [16]

[loss]
kl_weight = 0.01
rate_weight = 1.0
rate_target = 0.1

[train]
epochs = 3
batch_size = 32
threads = 1
eval_samples = 2
"""


def _write(tmp_path, text=TINY, name="tiny.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_cli_train_writes_metrics_checkpoint_and_summary(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--config", str(_write(tmp_path)), "--out", str(out), "--quiet"]) == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert all("val_accuracy" in r and "test_accuracy" not in r for r in rows)   # test is read once, at the end
    summary = json.loads((out / "summary.json").read_text())
    for key in ("val_accuracy", "test_accuracy", "test_accuracy_stochastic", "test_accuracy_sampled",
                "hidden_spike_rate", "epochs", "seconds", "device"):
        assert summary[key] is not None, key
    assert summary["device"] == "cpu" and summary["epochs"] == 3
    assert summary["samples"] == {"train": 120, "val": 120, "test": 120}   # limit caps every split
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)
    assert ckpt["epoch"] == 3 and ckpt["config"]["model"]["hidden"] == [16]
    model, cfg = load_model(out / "checkpoint.pt")
    assert cfg.data.limit == 120 and hasattr(model.fcs[0], "posterior_mean")
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temporaries


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path):
    cfg = config_mod.from_dict({"data": {"name": "digits", "steps": 4, "limit": 100},
                                "model": {"hidden": [12]}, "method": {"estimator": "iw", "k": 2},
                                "train": {"epochs": 4, "batch_size": 25, "threads": 1, "eval_samples": 0}})
    fit(cfg, tmp_path / "a", progress=False)
    assert fit(cfg, tmp_path / "b", stop_after=1, progress=False) == {"stopped_at_epoch": 1}
    assert fit(cfg, tmp_path / "b", resume=True, stop_after=2, progress=False) == {"stopped_at_epoch": 3}
    fit(cfg, tmp_path / "b", resume=True, progress=False)
    a = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)
    assert a["model"].keys() == b["model"].keys()
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    rows_b = (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["epoch"] for r in rows_b] == [1, 2, 3, 4]


def test_val_accuracy_is_the_posterior_mean_on_the_validation_split(tmp_path):
    from snnc.train import data as data_mod
    from snnc.train.trainer import predict

    cfg = config_mod.from_dict(config_mod.tomllib.loads(TINY))
    summary = fit(cfg, tmp_path / "run", progress=False)
    model, stored = load_model(tmp_path / "run" / "checkpoint.pt")
    val = data_mod.load("digits", "val", steps=4, limit=120)
    probs, labels, _ = predict(model, val, 64, torch.device("cpu"))
    assert float((probs.argmax(1) == labels).float().mean()) == summary["val_accuracy"]
    again = fit(cfg, tmp_path / "again", progress=False)
    assert again["test_accuracy_stochastic"] == summary["test_accuracy_stochastic"]     # seeded noisy pass


def test_cosine_schedule_ends_at_the_lr_floor():
    from snnc.train.build import make_optimizer

    tcfg = config_mod.from_dict({"train": {"epochs": 4, "lr": 1e-2, "sigma_lr": 0.1, "lr_floor": 0.1}}).train
    opt, sched = make_optimizer(torch.nn.Linear(2, 2), tcfg)
    lrs = []
    for _ in range(4):
        lrs.append(opt.param_groups[0]["lr"])
        sched.step()
    # the authors' adjust_learning_rate: lr(e) = min + (lr - min)(1 + cos(pi e / E)) / 2, min = lr / 10
    expected = [1e-3 + (1e-2 - 1e-3) * (1 + torch.cos(torch.tensor(torch.pi * e / 4)).item()) / 2 for e in range(4)]
    assert lrs == pytest.approx(expected)


def test_optimizer_groups_follow_the_authors_lrs():
    """rho and bias_rho at sigma_lr; the affine at affine_lr when set (train_shd.py's lr2)."""
    from snnc.train.build import make_model, make_optimizer

    raw = {"model": {"name": "srnn", "hidden": [8], "affine": "step", "bias_noise": 0.1},
           "train": {"lr": 1e-3, "sigma_lr": 0.05, "affine_lr": 0.02}}
    cfg = config_mod.from_dict(raw)
    model = make_model(cfg, (5, 3), 2)
    opt, _ = make_optimizer(model, cfg.train)
    names = {id(p): n for n, p in model.named_parameters()}
    by_lr = {g["lr"]: sorted(names[id(p)] for p in g["params"]) for g in opt.param_groups}
    assert all(n.endswith("rho") for n in by_lr[0.05]) and any(n.endswith("bias_rho") for n in by_lr[0.05])
    assert by_lr[0.02] and all(".affine." in n for n in by_lr[0.02])
    assert not any(".affine." in n or n.endswith("rho") for n in by_lr[1e-3])
    raw["train"]["affine_lr"] = 0.0   # 0: the affine trains at lr
    opt, _ = make_optimizer(model, config_mod.from_dict(raw).train)
    assert [g["lr"] for g in opt.param_groups] == [1e-3, 0.05]


def test_cli_resume_flag(tmp_path):
    cfg_path = _write(tmp_path)
    out = tmp_path / "run"
    cfg = config_mod.load(cfg_path)
    fit(cfg, out, stop_after=2, progress=False)
    assert main(["train", "--config", str(cfg_path), "--out", str(out), "--resume", "--quiet"]) == 0
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 3


@pytest.mark.parametrize("text,needle", [
    ("[model]\nhiden = [3]\n", "model.hiden: unknown key"),
    ("[modle]\n", "modle: unknown section"),
    ("[train]\nepochs = 'ten'\n", "train.epochs: expected int"),
    ("[train]\nlr = -1.0\n", "train.lr: must be > 0"),
    ("[method]\nestimator = 'magic'\n", "method.estimator: 'magic' is not one of"),
    ("[model]\nhidden = []\n", "model.hidden"),
])
def test_bad_config_gives_one_line_naming_the_key(tmp_path, capsys, text, needle):
    path = _write(tmp_path, text, "bad.toml")
    with pytest.raises(ConfigError) as err:
        config_mod.load(path)
    assert needle in str(err.value) and "\n" not in str(err.value)
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "o")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and str(path) in lines[0]


def test_sg_method_trains_and_reports_no_sampled_accuracy(tmp_path):
    cfg = config_mod.from_dict(config_mod.tomllib.loads(TINY))
    cfg.method.name = "sg"
    summary = fit(cfg, tmp_path / "sg", progress=False)
    assert summary["test_accuracy_sampled"] is None and summary["method"] == "sg"


def test_sg_baseline_reported_side_by_side(tmp_path):
    from snnc.train.trainer import run

    cfg = config_mod.from_dict({
        "data": {"name": "digits", "steps": 1, "encoding": "direct", "limit": 80},
        "model": {"name": "resnet", "neuron": "binary", "theta": 0.0, "widths": [4, 8],
                  "blocks": [1, 1], "image_shape": [1, 8, 8]},
        "train": {"epochs": 1, "threads": 1, "eval_samples": 1},
        "baseline": {"sg": True, "lr": 2e-3},
    })
    summary = run(cfg, tmp_path / "res", progress=False)
    stored = json.loads((tmp_path / "res" / "summary.json").read_text())
    assert stored["sg_baseline_lr"] == 2e-3 and "sg_baseline_test_accuracy" in stored
    assert stored["lr"] == cfg.train.lr and summary["conv_layers"] == 5


def test_two_process_ddp_run_with_gloo(tmp_path):
    cfg_path = _write(tmp_path)
    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node=2", "-m", "snnc.cli", "train", "--config", str(cfg_path),
                           "--out", str(out), "--quiet"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs"] == 3 and 0.0 <= summary["test_accuracy"] <= 1.0
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 3


def test_sigint_then_cli_resume_matches_uninterrupted_run(tmp_path):
    """A real CLI run gets SIGINT in epoch 3 of 4 and `--resume` then ends bit-identical
    to an uninterrupted run. The child sends the signal to itself at a fixed point (the
    trainer's SNNC_TEST_SIGINT_EPOCH hook: after the epoch's metrics row, before its
    checkpoint), so the outcome does not depend on how fast the run or the machine is."""
    import signal

    cfg_path = _write(tmp_path, TINY.replace("epochs = 3", "epochs = 4"), "four.toml")
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "snnc.cli", "train", "--config", str(cfg_path), "--out", str(out), "--quiet"]
    env = {k: v for k, v in os.environ.items() if k != "SNNC_TEST_SIGINT_EPOCH"}
    # Start the child as an interactive shell would. An *ignored* SIGINT is inherited (pytest run
    # as a background job or by some CI launchers) and then the child's Python installs no
    # KeyboardInterrupt handler and runs to the end; a handler installed here resets at exec.
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        killed = subprocess.run(cmd, capture_output=True, text=True, env=dict(env, SNNC_TEST_SIGINT_EPOCH="3"))
    finally:
        if old is not None:
            signal.signal(signal.SIGINT, old)
    assert killed.returncode == -signal.SIGINT, (killed.returncode, killed.stderr[-2000:])
    assert "interrupted after epoch 2; continue with --resume" in killed.stderr
    assert "Traceback" not in killed.stderr and "KeyboardInterrupt" not in killed.stderr
    assert torch.load(out / "checkpoint.pt", weights_only=True)["epoch"] == 2
    metrics = lambda: [json.loads(r)["epoch"] for r in (out / "metrics.jsonl").read_text().splitlines()]  # noqa: E731
    assert metrics() == [1, 2, 3]  # epoch 3's row was written, its checkpoint was not
    assert not (out / "summary.json").exists() and not list(out.glob(".*.tmp"))
    resumed = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, env=env)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert metrics() == [1, 2, 3, 4] and (out / "summary.json").exists()
    fit(config_mod.load(cfg_path), tmp_path / "straight", progress=False)
    a = torch.load(out / "checkpoint.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)["model"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_batches_of_a_lazy_dataset_match_the_tensor_path():
    from torch.utils.data import Dataset, TensorDataset

    from snnc.train.trainer import batches

    x, y = torch.rand(10, 3, 4), torch.arange(10)

    class Lazy(Dataset):
        def __len__(self):
            return 10

        def __getitem__(self, i):
            return x[i], int(y[i])

    order = torch.tensor([3, 1, 4, 0, 9, 2, 6])
    eager = list(batches(TensorDataset(x, y), order, 3, torch.device("cpu")))
    lazy = list(batches(Lazy(), order, 3, torch.device("cpu")))
    assert len(eager) == len(lazy) == 3
    for (xa, ya), (xb, yb) in zip(eager, lazy):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def _write_shd(path, n, seed=0):
    """A tiny SHD-format HDF5 file (spikes/times, spikes/units, labels)."""
    import h5py
    import numpy as np

    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        times = f.create_dataset("spikes/times", (n,), dtype=h5py.vlen_dtype(np.float16))
        units = f.create_dataset("spikes/units", (n,), dtype=h5py.vlen_dtype(np.uint16))
        for i in range(n):
            k = int(rng.integers(5, 40))
            times[i] = np.sort(rng.uniform(0, 1.3, k)).astype(np.float16)
            units[i] = rng.integers(0, 700, k).astype(np.uint16)
        f["labels"] = rng.integers(0, 20, n).astype(np.uint16)
        f["extra/speaker"] = np.zeros(n, np.uint16)
        f["extra/keys"] = np.array([f"english-{i}".encode() for i in range(20)])
        for key, value in (("gender", np.array([b"female"])), ("age", np.full(1, 30, np.uint16)),
                           ("body_height", np.full(1, 170, np.uint16))):
            f[f"extra/meta_info/{key}"] = value


def test_srnn_trains_on_shd_format_files(tmp_path):
    _write_shd(tmp_path / "shd_train.h5", 12)
    _write_shd(tmp_path / "shd_test.h5", 4, seed=1)
    cfg = config_mod.from_dict({
        "data": {"name": "shd", "steps": 10, "root": str(tmp_path)},
        "model": {"name": "srnn", "hidden": [8, 8], "init": "authors", "data_init": False},
        "loss": {"margin_lambda": 0.01},
        "train": {"epochs": 1, "batch_size": 4, "threads": 1, "eval_samples": 1},
    })
    summary = fit(cfg, tmp_path / "run", progress=False)
    assert summary["epochs"] == 1 and len(summary["layer_spike_rates"]) == 2


def test_resnet_trains_on_cifar_format_batches(tmp_path):
    import pickle

    import numpy as np

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name, n in [(f"data_batch_{i}", 2) for i in range(1, 6)] + [("test_batch", 3)]:
        batch = {b"batch_label": b"b", b"labels": list(rng.integers(0, 10, n)),
                 b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 b"filenames": [b"x.png"] * n}
        (folder / name).write_bytes(pickle.dumps(batch))
    cfg = config_mod.from_dict({
        "data": {"name": "cifar10", "root": str(tmp_path), "normalize": True, "augment": True},
        "model": {"name": "resnet", "neuron": "binary", "theta": 0.0, "widths": [4, 8], "blocks": [1, 1]},
        "train": {"epochs": 1, "batch_size": 5, "threads": 1, "eval_samples": 1},
    })
    summary = fit(cfg, tmp_path / "run", progress=False)
    assert summary["conv_layers"] == 5 and summary["device"] == "cpu"


def test_checkpoint_written_before_the_new_keys_loads_and_resumes(tmp_path):
    """A stored config with `loss.bias_lambda` and without val_fraction, lr_floor, synops_* (as
    written before they existed) rebuilds the same net and resumes under today's config."""
    cfg = config_mod.from_dict(config_mod.tomllib.loads(TINY))
    fit(cfg, tmp_path / "run", stop_after=2, progress=False)
    path = tmp_path / "run" / "checkpoint.pt"
    ckpt = torch.load(path, weights_only=True)
    old = ckpt["config"]
    old["loss"]["bias_lambda"] = old["loss"].pop("margin_lambda")
    for section, key in (("data", "val_fraction"), ("data", "normalize"), ("data", "augment"),
                         ("train", "lr_floor"), ("loss", "synops_weight"), ("loss", "synops_budget")):
        old[section].pop(key)
    torch.save(ckpt, path)
    model, stored = load_model(path)
    assert stored.loss.margin_lambda == cfg.loss.margin_lambda and stored.data.val_fraction == 0.1
    for key, value in torch.load(path, weights_only=True)["model"].items():
        assert torch.equal(model.state_dict()[key], value), key
    summary = fit(cfg, tmp_path / "run", resume=True, progress=False)
    assert summary["epochs"] == 3


def test_lr_sweep_chooses_on_validation_and_runs_a_tiny_grid(tmp_path):
    """benchmarks/lr_sweep.py: the choice reads val_accuracy only, per method."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "lr_sweep", Path(__file__).resolve().parents[2] / "benchmarks" / "lr_sweep.py")
    sweep = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sweep)
    rows = [{"method": "sbnn", "lr": 1e-3, "val_accuracy": 0.8, "test_accuracy": 0.99},
            {"method": "sbnn", "lr": 2e-3, "val_accuracy": 0.9, "test_accuracy": 0.5},
            {"method": "sg", "lr": 1e-3, "val_accuracy": None, "test_accuracy": 0.7},
            {"method": "sg", "lr": 2e-3, "val_accuracy": 0.6, "test_accuracy": 0.1}]
    assert [r["chosen"] for r in sweep.mark_chosen(rows)] == [False, True, False, True]
    assert sweep.parse_grid(["model.readout=mean,leaky", "model.tau_mem=1,10"]) == [
        ("model.readout", ["mean", "leaky"]), ("model.tau_mem", [1, 10])]
    config = tmp_path / "tiny.toml"
    config.write_text(TINY.replace("epochs = 3", "epochs = 1"))
    assert sweep.main(["--config", str(config), "--lrs", "1e-3,5e-3", "--methods", "sbnn,sg",
                       "--json", str(tmp_path / "s.json")]) == 0
    stored = json.loads((tmp_path / "s.json").read_text())["rows"]
    assert [(r["method"], r["lr"]) for r in stored] == [("sbnn", 1e-3), ("sbnn", 5e-3), ("sg", 1e-3), ("sg", 5e-3)]
    assert sum(r["chosen"] for r in stored) == 2 and all(r["epochs"] == 1 for r in stored)
    # --seeds: the choice reads the mean validation accuracy over the seeds
    runs = [{"method": "sbnn", "lr": lr, "seed": s, "val_accuracy": v, "test_accuracy": 0.5}
            for lr, s, v in [(1e-3, 0, 0.95), (1e-3, 1, 0.80), (2e-3, 0, 0.90), (2e-3, 1, 0.90)]]
    points = sweep.aggregate(runs, [])
    assert [(p["lr"], p["seeds"], round(p["val_accuracy"], 3), p["chosen"]) for p in points] == [
        (1e-3, [0, 1], 0.875, False), (2e-3, [0, 1], 0.9, True)]
    assert [r["chosen"] for r in runs] == [False, False, True, True]
    assert sweep.main(["--config", str(config), "--lrs", "1e-3", "--seeds", "0,1",
                       "--json", str(tmp_path / "m.json")]) == 0
    stored = json.loads((tmp_path / "m.json").read_text())
    assert [r["seed"] for r in stored["rows"]] == [0, 1] and stored["points"][0]["seeds"] == [0, 1]
