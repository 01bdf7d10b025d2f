"""benchmarks/jobs.py: training runs spread over a local process pool or Ray give the serial run's rows."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
TINY = """
[data]
name = "digits"
steps = 2
limit = 60

[model]
name = "mlp"
hidden = [8]

[train]
epochs = 1
batch_size = 32
threads = 1
eval_samples = 0
"""


sys.path.insert(0, str(BENCH))
import jobs  # noqa: E402  (benchmarks/jobs.py under its own name, as the scripts import it)


def _load(name):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def square_plus(x: int, y: int = 0) -> dict:
    """A job for the runner: module-level, plain data in and out."""
    import os

    return {"value": x * x + y, "omp": os.environ.get("OMP_NUM_THREADS")}


def _rows(path):
    """The sweep's rows without their wall time (the one field allowed to differ)."""
    rows = json.loads(Path(path).read_text())["rows"]
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    """The tiny sweep (two lrs, 1 epoch), one run after another in this process."""
    return _sweep(tmp_path_factory.mktemp("serial"), "serial")


def _sweep(tmp_path, name, *extra):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    out = tmp_path / f"{name}.json"
    assert _load("lr_sweep").main(["--config", str(config), "--lrs", "1e-3,2e-2", "--json", str(out), *extra]) == 0
    return _rows(out)


def test_pool_returns_results_in_job_order_with_one_thread_per_worker():
    todo = [{"x": x, "y": 1} for x in range(5)]
    seen = []
    got = jobs.run_jobs(square_plus, todo, workers=2, done=lambda i, r: seen.append(i))
    assert [r["value"] for r in got] == [x * x + 1 for x in range(5)] and sorted(seen) == list(range(5))
    assert {r["omp"] for r in got} == {"1"}
    assert [r["value"] for r in jobs.run_jobs(square_plus, todo)] == [r["value"] for r in got]
    with pytest.raises(ValueError, match="module-level"):
        jobs.run_jobs(lambda x: x, [{"x": 1}, {"x": 2}], workers=2)


def test_without_ray_the_local_pool_runs_and_says_so(monkeypatch, capsys):
    monkeypatch.setattr(jobs, "_ray_installed", lambda: False)
    assert [r["value"] for r in jobs.run_jobs(square_plus, [{"x": 3}, {"x": 4}], workers=2, ray="auto")] == [9, 16]
    assert "ray is not installed: running on a local pool of 2 processes" in capsys.readouterr().out


def test_lr_sweep_on_a_process_pool_equals_the_serial_run(tmp_path, serial):
    assert [r["lr"] for r in serial] == [1e-3, 2e-2] and all(r["epochs"] == 1 for r in serial)
    assert _sweep(tmp_path, "pool", "--jobs", "2") == serial


needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason="ray is not installed (pip install 'snnc[sweeps]')")


@needs_ray
def test_lr_sweep_on_ray_equals_the_serial_run(tmp_path, serial):
    """Ray on this machine (`ray.init(num_cpus=2)`: ~3 s to start here, ~15 s with the two runs)."""
    assert _sweep(tmp_path, "ray", "--ray", "local", "--jobs", "2") == serial
    assert not sys.modules["ray"].is_initialized()   # the runner shut down the Ray it started


@needs_ray
def test_ray_auto_without_a_cluster_is_one_line(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    if Path("/tmp/ray/ray_current_cluster").exists():
        pytest.skip("a Ray cluster is running on this machine")
    with pytest.raises(SystemExit, match=r"^--ray auto: Could not find any running Ray instance.*--ray local\)$"):
        jobs.run_jobs(square_plus, [{"x": 1}], ray="auto")
