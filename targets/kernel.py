"""`@kernel`: marks a target's arithmetic as the one shared definition.

The function is compiled with numba so that the event-driven core can call
it inside its loops; plain Python callers (the dense reference, tests) get
the same compiled code, so both simulators run literally the same arithmetic.
Below the decorator: the few loops that several neuron kinds' population
kernels share (they live here so that a target file imports nothing from
the runtime, which imports the targets).

numba's on-disk cache is keyed on each function's own file, so a loop in
runtime/kernels.py would keep running a stale copy of an edited target
function. Our kernels therefore cache under a folder named by a hash of every
file that defines or inlines them: any edit compiles afresh.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

import numba

_ROOT = Path(__file__).resolve().parent.parent
_SOURCES = sorted(Path(__file__).resolve().parent.rglob("*.py")) + [   # every chip folder's kernels
    _ROOT / "runtime" / "kernels.py", _ROOT / "runtime" / "csr.py", _ROOT / "runtime" / "fused_kernel.py"]


def _cache_dir() -> str:
    digest = hashlib.sha256()
    for path in _SOURCES:
        digest.update(path.read_bytes() if path.exists() else b"")
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "snnc" / "numba"
    return str(base / digest.hexdigest()[:16])


CACHE_DIR = _cache_dir()


@contextlib.contextmanager
def _our_cache_dir():
    previous = numba.config.CACHE_DIR
    numba.config.CACHE_DIR = CACHE_DIR
    try:
        yield
    finally:
        numba.config.CACHE_DIR = previous


def kernel(fn=None, *, inline: bool = False, refcounts: bool = True, error_model: str = "python"):
    """numba.njit(cache=True) with the cache in our source-hashed folder. inline=True: numba
    inlines the function into its numba callers (a per-neuron or per-synapse step in a hot loop;
    Python callers still get the compiled function). refcounts=False: compiled without numba's
    runtime (its `_nrt` option), so no array is reference-counted: every view taken in a loop
    costs two atomic operations otherwise, contended when threads share the array. Such a
    function may not allocate arrays (its callers pass its buffers). error_model="numpy": a float
    division by zero gives inf or nan as numpy (and ONNX, torch) do instead of raising Python's
    ZeroDivisionError, and a loop holding the division can vectorise."""
    if fn is None:
        return lambda f: kernel(f, inline=inline, refcounts=refcounts, error_model=error_model)
    options = {"inline": "always"} if inline else {}
    options["error_model"] = error_model
    if not refcounts:
        options["_nrt"] = False
    with _our_cache_dir():
        return numba.njit(cache=True, nogil=True, **options)(fn)


@kernel
def recurrent_sum(acc, spikes_prev, indptr, post, weight):
    """acc[post] += count * w over a population's own earlier spikes (CSR by source); returns events."""
    n_events = 0
    for j in range(spikes_prev.shape[0]):
        c = spikes_prev[j]
        if c != 0:
            for k in range(indptr[j], indptr[j + 1]):
                acc[post[k]] += c * weight[k]
            n_events += c * (indptr[j + 1] - indptr[j])
    return n_events


@kernel
def keep_step(trace, b, t, x):
    """trace[b, t] = x for a kept trace [B, T, ...]; a trace allocated empty (not recorded) keeps nothing."""
    if trace.shape[0] != 0:
        trace[b, t] = x
