"""Samples are independent: a batch runs in parts (at most `chunk` samples each, `threads` parts
side by side; the numba kernels release the GIL), each part's arrays copied into the whole
run's by the thread that made them, in sample order. The result does not depend on the split."""
from __future__ import annotations

import os
import threading

import numpy as np

from snnc.runtime.event import PopulationRun


def run_batch(engine, graph, plan, inputs: dict, record: set, progress: bool, chunk: int,
              threads: int) -> dict[str, PopulationRun]:
    """engine(graph, plan, inputs, record) over the batch in parts; {node: PopulationRun}."""
    B = next(iter(inputs.values())).shape[0]
    starts, size = part_starts(B, chunk, threads)
    part = lambda s: engine(graph, plan, {k: v[s:s + size] for k, v in inputs.items()}, record)  # noqa: E731
    if len(starts) == 1:
        return part(0)
    whole = _Whole(B, inputs)
    run = lambda s: whole.add(s, part(s))  # noqa: E731
    if threads > 1:
        list(progress_bar(shared_pool(threads).map(run, starts), len(starts), graph, progress))
    else:
        for s in progress_bar(starts, len(starts), graph, progress):
            run(s)
    return whole.runs()


_POOLS: dict = {}   # threads -> ThreadPoolExecutor, kept: starting threads costs ~0.3 ms a call (measured)
_POOLS_LOCK = threading.Lock()


def _forget_pools() -> None:
    """In a forked child: none of the parent's worker threads exist there (its pools would never run)."""
    global _POOLS_LOCK
    _POOLS.clear()
    _POOLS_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools)


def shared_pool(threads: int):
    """The process's pool of `threads` worker threads, made on first use and kept: at most
    `threads` parts run at once, as `simulate(threads=...)` asks. Parts never submit work
    to a pool, so sharing one between concurrent calls cannot deadlock."""
    with _POOLS_LOCK:
        if threads not in _POOLS:
            from concurrent.futures import ThreadPoolExecutor
            _POOLS[threads] = ThreadPoolExecutor(threads, thread_name_prefix=f"snnc-{threads}")
        return _POOLS[threads]


def part_starts(batch: int, chunk: int, threads: int) -> tuple[range, int]:
    """(first sample of each part, part size): at most `chunk` samples a part, and at least
    `threads` parts where the batch has that many samples."""
    size = min(chunk, -(-batch // threads))
    return range(0, batch, size), size


class _Whole:
    """The whole batch's arrays, allocated by the first part to finish; every part copies its
    own samples in (outside the lock) and adds its counters (inside it)."""

    def __init__(self, batch: int, inputs: dict):
        self.batch, self.inputs, self.lock = batch, inputs, threading.Lock()
        self.out: dict[str, PopulationRun] = {}

    def add(self, start: int, runs: dict[str, PopulationRun]) -> None:
        with self.lock:
            for name, r in runs.items():
                if name in self.inputs:
                    continue
                whole = self.out.get(name)
                if whole is None:
                    whole = self.out[name] = PopulationRun(_like(r.spikes, self.batch),
                                                           {k: _like(v, self.batch) for k, v in r.state.items()})
                whole.overflow_events += r.overflow_events
                for k, v in r.synaptic_events.items():
                    whole.synaptic_events[k] = whole.synaptic_events.get(k, 0) + v
        for name, r in runs.items():
            if name in self.inputs:
                continue
            n = r.spikes.shape[0]
            self.out[name].spikes[start:start + n] = r.spikes
            for k, v in r.state.items():
                self.out[name].state[k][start:start + n] = v

    def runs(self) -> dict[str, PopulationRun]:
        return {**{name: PopulationRun(x) for name, x in self.inputs.items()}, **self.out}   # inputs: no copy


def _like(part: np.ndarray, batch: int) -> np.ndarray:
    return np.empty((batch,) + part.shape[1:], part.dtype)


def progress_bar(items, total: int, graph, progress: bool):
    if not progress or total < 2:
        return items
    from tqdm import tqdm
    return tqdm(items, total=total, desc=f"simulate ({graph.target})", unit="chunk")
