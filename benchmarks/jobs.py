"""Independent jobs (training runs) serially, in a local process pool, or on Ray.

`run_jobs(func, jobs, workers=N, ray=ADDRESS)` calls `func(**job)` for every
job and returns the results in the order the jobs were given, whichever ran
first. `func` must be a module-level function of a file (a benchmark script):
a worker imports that file by its path and calls the function by name, so
nothing but the path, the name and the job's keyword arguments (plain data)
crosses to a worker.

* `workers <= 1` and no `ray`: this process, one job after another (the serial run).
* `workers > 1`: a local pool of that many processes (`spawn`: a fresh
  interpreter each, nothing inherited from this process's torch or numba).
* `ray`: `"local"` starts Ray on this machine with `workers` CPUs; `"auto"` or
  an address (`ray://host:10001`, `host:6379`) joins a running cluster. Each
  job is one Ray task of one CPU. Every node must hold this checkout at the
  same path and the same environment (the job names its script by path). If
  ray is not installed (`pip install 'snnc[sweeps]'`), the script says so in one
  line and runs the local pool instead.

Every worker starts with OMP/MKL/OpenBLAS at one thread, and the training
configs set `train.threads = 1`: one thread per job, so a job computes the same
numbers wherever it runs (seeds are part of each job's config).
"""
from __future__ import annotations

import importlib.util
import inspect
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

ONE_THREAD = {v: "1" for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
HERE = Path(__file__).resolve().parent


def run_jobs(func, jobs: list[dict], *, workers: int = 1, ray: str | None = None, done=None) -> list:
    """`[func(**job) for job in jobs]`, run as asked; `done(index, result)` as each finishes."""
    done = done or (lambda i, r: None)
    if ray and not _ray_installed():
        print(f"ray is not installed: running on a local pool of {max(workers, 1)} processes instead", flush=True)
        ray = None
    if ray:
        return _on_ray(func, jobs, ray, workers, done)
    if workers <= 1 or len(jobs) <= 1:
        return [_report(done, i, func(**job)) for i, job in enumerate(jobs)]
    return _on_pool(func, jobs, min(workers, len(jobs)), done)


def call(path: str, name: str, job: dict):
    """A worker's entry point: import the script at `path` once, call its `name`."""
    module = sys.modules.get(f"_job_{Path(path).stem}")
    if module is None:
        spec = importlib.util.spec_from_file_location(f"_job_{Path(path).stem}", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return getattr(module, name)(**job)


def _address(func) -> tuple[str, str]:
    path = inspect.getsourcefile(func)
    if func.__qualname__ != func.__name__ or path is None:
        raise ValueError(f"{func.__qualname__}: a job must be a module-level function of a file")
    return str(Path(path).resolve()), func.__name__


def _one_thread():
    os.environ.update(ONE_THREAD)


def _on_pool(func, jobs, workers, done):
    path, name = _address(func)
    if str(HERE) not in sys.path:   # spawn passes sys.path on: workers then import this module
        sys.path.insert(0, str(HERE))
    results = [None] * len(jobs)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_one_thread) as pool:
        futures = {pool.submit(call, path, name, job): i for i, job in enumerate(jobs)}
        for future in as_completed(futures):
            i = futures[future]
            results[i] = _report(done, i, future.result())
    return results


def _on_ray(func, jobs, address, workers, done):
    import ray

    path, name = _address(func)
    env = {"env_vars": {**ONE_THREAD, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}}
    started = not ray.is_initialized()
    if started:
        _start_ray(ray, address, workers, env)
    try:
        task = ray.remote(num_cpus=1)(call)
        pending = {task.remote(path, name, job): i for i, job in enumerate(jobs)}
        results = [None] * len(jobs)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            i = pending.pop(ready[0])
            results[i] = _report(done, i, ray.get(ready[0]))
        return results
    finally:
        if started:
            ray.shutdown()


def _start_ray(ray, address, workers, env) -> None:
    local = address == "local"
    try:
        ray.init(address=None if local else address, num_cpus=max(workers, 1) if local else None,
                 runtime_env=env, include_dashboard=False, log_to_driver=False)
    except ConnectionError as exc:
        raise SystemExit(f"--ray {address}: {str(exc).splitlines()[0]} (start one with `ray start --head`, "
                         "or use --ray local)") from None


def _report(done, i, result):
    done(i, result)
    return result


def _ray_installed() -> bool:
    return importlib.util.find_spec("ray") is not None


def add_arguments(parser) -> None:
    """`--jobs` and `--ray` for a sweep script."""
    parser.add_argument("--jobs", type=int, default=1,
                        help="worker processes (default 1: one run after another in this process)")
    parser.add_argument("--ray", metavar="ADDRESS", default=None,
                        help="run on Ray: 'local' (this machine, --jobs CPUs), 'auto' or a cluster address")
