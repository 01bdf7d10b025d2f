"""Public entry point: `snnc.runtime.simulate(graph, spikes, record=())`."""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np

from snnc.compiler.ir import Graph
from snnc.compiler.ir.metadata import MAX_STEPS
from snnc.errors import InputError
from snnc.runtime import dense, event, fused, kernels, reference
from snnc.runtime.batches import run_batch, shared_pool
from snnc.runtime.per_inference import energy_report, latency
from snnc.runtime.plan import prepare
from snnc.runtime.result import DesignRuleWarning, SimResult  # noqa: F401  (re-exported: the public API)
from snnc.targets import get as get_target
from snnc.targets.base import CHECK_MODES
from snnc.targets.registry import kind_of, state_names

ENGINES = {"event": event.run, "reference": reference.run}
COUNTERS = ("spikes", "synaptic_events", "neuron_updates", "overflow_events")


def default_threads() -> int:
    """The cores this process may run on (its CPU affinity), the default of `threads`."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def simulate(graph: Graph, spikes, record=(), engine: str = "event", progress: bool = False,
             chunk: int = 256, check: str = "error", threads: int | None = None) -> SimResult:
    """Run `graph` on input spike counts `[T, N]` or `[B, T, N]`.

    record: state variables to keep per step ("v", "u"/"i_syn": each neuron kind
    lists its own and the aliases it answers to, e.g. Loihi's u is its i_syn).
    engine: "event" (event-driven, default) or "reference" (dense stepper).
    progress: show a progress bar over batch chunks of `chunk` samples.
    check: "error" refuses a graph that breaks a design rule; "warn" runs one that
    breaks only capacity rules (sizes, fan-out, cores), warns and lists them in
    `violations`. Other rules (weight format, delays, ports, neuron kind) always raise.
    threads: samples are independent, so the batch is split into parts run side by side
    (the kernels release the GIL); default: every core this process may use. The result
    is the same whatever the count (the parts are joined in sample order).
    """
    if engine not in ENGINES:
        raise InputError(f"engine '{engine}' unknown (choose from {', '.join(ENGINES)})")
    if check not in CHECK_MODES:
        raise InputError(f"check '{check}' unknown (choose from {', '.join(CHECK_MODES)})")
    for name, value in (("chunk", chunk), ("threads", 1 if threads is None else threads)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise InputError(f"{name} must be a positive integer, got {value!r}")
    if dense.is_dense(graph):  # one-step Gemm/PWL/Relu/Step pipelines: no events, no time (runtime/dense.py)
        return dense.simulate(graph, spikes, check)
    plan = prepare(graph, check)
    for v in plan.violations:
        warnings.warn(str(v), DesignRuleWarning, stacklevel=2)
    threads = default_threads() if threads is None else int(threads)
    facts = _facts(graph, plan)
    lay = fused.layout(graph, plan) if engine == "event" else None
    x, batched, span = _checked_batch(spikes, facts.width, threads, defer_range=lay is not None, target=facts.target)
    inputs, input_overflow = _split_inputs(facts, x)
    if lay is not None:   # one numba call for the whole graph (runtime/fused.py), the event engine's result
        runs = fused.run(lay, graph, plan, x, inputs, _record_set(record), progress, chunk, threads,
                         None if span is not None else facts.check_bits)
    else:
        runs = run_batch(ENGINES[engine], graph, plan, inputs, _record_set(record), progress, chunk, threads)
    return _result(graph, facts, runs, batched, x.shape[1], input_overflow, record, plan.violations)


@dataclass(frozen=True)
class _Facts:
    """What every call reads of a graph besides its plan's tables, taken once per plan (`_facts`)."""

    neurons: dict     # name -> neuron population, in graph order
    width: int        # neurons in all
    inputs: dict      # Input name -> size, in graph order
    target: object    # the graph's Target
    check_bits: Callable   # `_check_bits` for the target
    latency: dict     # (steps, pad_steps) -> `per_inference.latency` (copied out: a result's dict is its own)


def _facts(graph: Graph, plan) -> _Facts:
    """The graph's `_Facts`, cached per plan (a plan is rebuilt when any node or edge changes)."""
    key = ("simulate",)
    if key not in plan.derived:
        neurons = graph.neurons
        target = get_target(graph.target)
        plan.derived[key] = _Facts(neurons, sum(node.size for node in neurons.values()),
                                   {n: node.size for n, node in graph.inputs.items()}, target,
                                   partial(_check_bits, target), {})
    return plan.derived[key]


MAX_COUNT = 2**31 - 1  # largest spike count per channel and step any engine takes (int64 sums stay exact)
# Size of a run, checked from the input's shape before anything is allocated. The engines
# keep int64 spike counts [B, T, n] of every Input and population for the result (plus a
# few such arrays of one population at a time: delayed input sums, recorded states).
# MAX_STEPS (T, 2^20): the bound of a graph's metadata 'steps' (compiler/ir/metadata.py)
MAX_SPIKE_VALUES = 1 << 27       # B * T * (input channels + neurons): the run's int64 spike record,
                                 # 1 GiB; the digits test split on the largest shipped digits graph
                                 # (360 x 16 x (64 + 2048 + 10), --k 8) needs 12M


def _check_size(shape: tuple, neurons: int) -> None:
    """Refuse a run whose spike record (input channels + `neurons` per sample and step) would exceed
    MAX_SPIKE_VALUES, or more than MAX_STEPS steps, from the input's shape alone."""
    B, T = (1, *shape[:1]) if len(shape) == 2 else shape[:2]
    if T > MAX_STEPS:
        raise InputError(f"input spikes have {T} steps, more than the limit of {MAX_STEPS} steps per run")
    width = shape[-1] + neurons
    if B * T * width > MAX_SPIKE_VALUES:
        raise InputError(f"a run of {B} x {T} steps x {width} inputs and neurons records {B * T * width} spike "
                         f"counts, more than the limit of {MAX_SPIKE_VALUES} (split the batch)")


def _as_batch(spikes, graph: Graph | None = None) -> tuple[np.ndarray, bool]:
    """Input spikes checked (`_checked_batch`) as the engines read them: ([B, T, N] int64, batched)."""
    neurons = None if graph is None else sum(node.size for node in graph.neurons.values())
    return _checked_batch(spikes, neurons)[:2]


def _checked_batch(spikes, neurons: int | None = None, threads: int = 1, defer_range: bool = False,
                   target=None) -> tuple[np.ndarray, bool, tuple | None]:
    """(x [B, T, N] int64, batched, (least, largest count)) after the checks on counts (against the
    engines' limits and, given a target, its input port's) and on the size of a run of a graph of
    `neurons` neurons (None: no size check); a large int64 input's range read by `threads` threads.
    defer_range: an int64 C-ordered input's range is left to the fused loop, which reads every
    count anyway (span None: checked after the run, `_check_bits`)."""
    if spikes is None:
        raise InputError("input spikes are missing (got None)")
    try:
        x = np.asarray(spikes)
    except (ValueError, TypeError) as exc:  # ragged nested lists and the like
        raise InputError(f"input spikes must be a rectangular array of counts "
                         f"({str(exc).splitlines()[0][:100]})") from None
    if x.dtype.kind == "b":
        x = x.astype(np.int64)
    if x.dtype.kind not in "iuf":
        raise InputError(f"input spikes must be integer counts, got dtype {x.dtype}")
    if x.ndim not in (2, 3) or 0 in x.shape:
        raise InputError(f"input spikes must have shape [T, N] or [B, T, N], got {x.shape}")
    if neurons is not None:
        _check_size(x.shape, neurons)
    if x.dtype.kind == "f":
        if not np.all(np.isfinite(x)):
            raise InputError("input spikes must be finite integer counts, got NaN or infinity")
        if not np.all(x == np.round(x)):
            raise InputError(f"input spikes must be integer counts, got fractional values (dtype {x.dtype})")
    span = None
    if not (defer_range and x.dtype == np.int64 and x.flags.c_contiguous):
        span = _value_range(x, threads)
        _check_span(target, span)
    batched = x.ndim == 3
    return _engine_input(x if batched else x[None]), batched, span


def _check_span(target, span) -> None:
    """The input's least and largest count (span) against the engines' limits and, given a
    target, the largest count its input port accepts."""
    lo, hi = span
    if lo < 0:
        raise InputError(f"input spikes must be >= 0, got minimum {_count(lo)}")
    if hi > MAX_COUNT:
        raise InputError(f"input spikes must be at most {MAX_COUNT} per channel and step, got {_count(hi)}")
    if target is not None and target.input_max is not None and hi > target.input_max:
        raise InputError(f"{target.name} input spikes are {target.input_format}; got counts up to {_count(hi)}")


def _check_bits(target, x: np.ndarray, bits: int) -> None:
    """The fused loop's OR of every input count: within every limit when it is (no count is negative
    or above it: each count's bits are among the OR's); else the exact range is read and checked."""
    limit = MAX_COUNT if target.input_max is None else min(MAX_COUNT, target.input_max)
    if not 0 <= bits <= limit:
        _check_span(target, _value_range(x))


PARALLEL_RANGE_MIN = 1 << 20   # values: below this one thread reads the range (a tuning choice: a
                               # hand-off to the pool costs ~0.05 ms, 1M values ~0.3 ms to read)


def _value_range(x: np.ndarray, threads: int = 1):
    """(min, max) of x: numba passes for a C-ordered int64 array (the common input), one per
    thread over equal slices when it is large, else numpy's."""
    if x.dtype != np.int64 or not x.flags.c_contiguous:
        return x.min(), x.max()
    flat = x.reshape(-1)
    if threads < 2 or flat.size < PARALLEL_RANGE_MIN:
        return kernels.value_range(flat)
    bounds = np.linspace(0, flat.size, threads + 1).astype(np.int64)
    parts = list(shared_pool(threads).map(kernels.value_range, [flat[a:b] for a, b in zip(bounds, bounds[1:])]))
    return min(lo for lo, _ in parts), max(hi for _, hi in parts)


def _engine_input(x: np.ndarray) -> np.ndarray:
    """x as the engines read it, int64 and C-ordered: copied only when it is not already so, and
    then as a read-only view (nothing here writes to it; the result's input spikes are that view)."""
    out = np.ascontiguousarray(x, dtype=np.int64)
    if out is x or out.base is x:
        out = out.view()
        out.flags.writeable = False
    return out


def _count(v) -> str:
    return f"{int(v)}" if float(v).is_integer() and abs(float(v)) < 1e18 else f"{float(v):.3g}"


def _split_inputs(facts: _Facts, x: np.ndarray):
    """Columns of x go to the Input nodes in graph order (a single one takes x whole); counts above
    the target's input cap are counted per Input (its overflow events)."""
    sizes, target = facts.inputs, facts.target
    if x.shape[2] != sum(sizes.values()):
        names = ", ".join(f"'{n}' ({s})" for n, s in sizes.items())
        raise InputError(f"input has {x.shape[2]} channels but the graph's input {names} expects "
                         f"{sum(sizes.values())}")
    inputs, start, overflow = {}, 0, {}
    for name, size in sizes.items():
        inputs[name] = x if size == x.shape[2] else x[:, :, start:start + size]
        overflow[name] = int(np.sum(inputs[name] > target.input_cap)) if target.input_cap is not None else 0
        start += size
    return inputs, overflow


def _record_set(record) -> set[str]:
    record = {record} if isinstance(record, str) else set(record)
    if not record:
        return record
    known = state_names()
    unknown = record - set(known)
    if unknown:
        raise InputError(f"record: unknown state variable(s) {sorted(unknown)} (known: {', '.join(known)})")
    return record


LATENCIES_KEPT = 64   # latency reports cached per plan (one per run length and padding; a tuning choice)


def _result(graph, facts: _Facts, runs, batched, steps, input_overflow, record, violations) -> SimResult:
    """The SimResult of the engine's runs (batch axis dropped for a [T, N] input); its counters and
    energy are computed when first read."""
    spikes = {n: r.spikes for n, r in runs.items()} if batched else {n: r.spikes[0] for n, r in runs.items()}
    state = {n: {} for n in facts.neurons}
    if record:
        squeeze = (lambda a: a) if batched else (lambda a: a[0])
        requested = {record} if isinstance(record, str) else set(record)
        for n, node in facts.neurons.items():
            state[n] = {v: squeeze(runs[n].state[own]) for v, own in _own_names(node, requested)
                        if own in runs[n].state}
    key = (steps, graph.metadata.get("pad_steps", 0))   # metadata is not in the plan's signature
    if key not in facts.latency:
        if len(facts.latency) >= LATENCIES_KEPT:
            facts.latency.clear()
        facts.latency[key] = latency(graph, steps)
    return SimResult(graph.target, steps, runs[next(iter(input_overflow))].spikes.shape[0] if batched else None,
                     spikes, state, lambda: _stats(facts.neurons, runs, input_overflow),
                     lambda: energy_report(graph, {n: r.spikes for n, r in runs.items()}), dict(facts.latency[key]),
                     [{"rule": v.rule, "node": v.node, "detail": v.detail} for v in violations])


def _own_names(node, requested) -> list[tuple[str, str | None]]:
    """(requested name, the node's own name for it or None), e.g. ("i_syn", "u") on Loihi."""
    kind = kind_of(node)
    return [(var, kind.own_name(var)) for var in requested]


def _stats(neurons, runs, input_overflow) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """Per node counters (Python ints): spikes, synaptic events, neuron updates, overflow events;
    and their totals (spikes: the populations' only)."""
    stats = {n: {"spikes": _spike_total(runs[n]), "synaptic_events": 0, "neuron_updates": 0,
                 "overflow_events": input_overflow[n]} for n in input_overflow}
    spikes, events, updates, overflow = 0, 0, 0, sum(input_overflow.values())
    for name, node in neurons.items():
        r = runs[name]
        B, T = r.spikes.shape[:2]
        s, e, u, o = _spike_total(r), int(sum(r.synaptic_events.values())), B * T * node.size, int(r.overflow_events)
        stats[name] = {"spikes": s, "synaptic_events": e, "neuron_updates": u, "overflow_events": o}
        spikes, events, updates, overflow = spikes + s, events + e, updates + u, overflow + o
    return stats, dict(zip(COUNTERS, (spikes, events, updates, overflow)))


def _spike_total(run) -> int:
    """A node's spikes over the batch: counted by the fused loop, else summed here."""
    return int(run.spikes.sum()) if run.spike_total is None else run.spike_total
