"""Lava itself as snnc's independent Loihi reference executor.

Lava (lava-nc 0.10.0) imports only on Python 3.10, so the chains run in the
side environment `.venv-lava` through `lava_worker.py`, fed and read back by
`.npz` files (never pickles). Layers use Lava's own names: `weights`
(out x in), `weight_exp`, `du`, `dv`, `vth`, `bias_mant`, `bias_exp`; they
reach `Dense` and `LIF` unchanged, so Lava applies its own weight clipping,
truncation and dtype wraps.

`run_lava_graph` runs any compiled Loihi graph (any node names, per-neuron
du/dv/vth, several Dense into one population, input channels into any
population, split weights) on a whole batch in one Lava runtime
(`lava_graph.py` describes it in arrays, `lava_network.py` builds it in Lava); conv layers run
as Lava's Conv process (PyConvModelFixed), one sample at a time.
"""
from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from snnc.compiler.ir import Conv2d, Graph
from snnc.errors import BackendUnavailable, GraphError, InputError, SnncError
from snnc.runtime.simulate import default_threads
from snnc.targets import loihi
from snnc.targets.loihi.lava_graph import LavaNet, lava_net

LAYER_KEYS = ("weights", "weight_exp", "du", "dv", "vth", "bias_mant", "bias_exp")
OPTIONAL_KEYS = ("num_weight_bits", "sign_mode", "rec_weights", "rec_weight_exp", "rec_sign_mode")
RECORDABLE = ("v", "u", "weights")
DEFAULT_TIMEOUT_S = 600.0
WORKER = Path(__file__).resolve().with_name("lava_worker.py")


def lava_python() -> Path:
    """Python of the Lava side environment: $SNNC_LAVA_PYTHON or .venv-lava."""
    env = os.environ.get("SNNC_LAVA_PYTHON")
    path = Path(env) if env else WORKER.parents[2] / ".venv-lava" / "bin" / "python"  # the repository root
    if not path.exists():
        raise BackendUnavailable(
            f"Lava backend unavailable: no Python 3.10 with lava-nc at {path} "
            "(run `make install`, or set SNNC_LAVA_PYTHON)")
    return path


def check_spikes(spikes, case: int) -> np.ndarray:
    """Input spikes must be a binary [T, n_in] array."""
    spikes = np.asarray(spikes)
    if spikes.ndim != 2 or spikes.shape[0] < 1:
        raise InputError(f"case {case}: spikes must have shape [T, n_in], got {spikes.shape}")
    if not _binary(spikes):
        raise InputError(f"case {case}: Lava's RingBuffer -> Dense input spikes must be 0/1")
    return spikes.astype(np.int64)


def _binary(spikes: np.ndarray) -> bool:
    """Integer counts within the Loihi target's input range (0/1)."""
    lo, hi = loihi.RANGES["input"].bounds
    return bool(np.isin(spikes, np.arange(lo, hi + 1)).all())


# The Loihi target's parameter ranges (PyLifModelBitAcc's precisions, the weight
# exponent, SignMode); Lava itself checks none of them.
PARAM_RANGES = {**{key: loihi.RANGES[key] for key in (*loihi.LIF_PARAMS, "weight_exp", "sign_mode")},
                "rec_weight_exp": loihi.RANGES["weight_exp"], "rec_sign_mode": loihi.RANGES["sign_mode"]}
PER_NEURON = ("bias_mant", "bias_exp")


def check_layer(layer: dict, n_in: int, where: str) -> dict:
    """Layer has Lava's keys, integer weights [out, n_in] and in-range LIF
    parameters; returns int64 arrays. Checked here because Lava checks none
    of it: it accepts arrays for its single-valued du/dv/vth Vars and hangs
    (a worker process dies) on a bias of the wrong length."""
    missing = [k for k in LAYER_KEYS if k not in layer]
    if missing:
        raise InputError(f"{where}: missing Lava parameter(s) {', '.join(missing)}")
    weights = np.asarray(layer["weights"])
    if weights.ndim != 2 or weights.shape[1] != n_in or weights.shape[0] < 1:
        raise InputError(f"{where}: weights must be [out >= 1, {n_in}], got {weights.shape}")
    if not np.issubdtype(weights.dtype, np.integer):
        raise InputError(f"{where}: weights must be integers, got {weights.dtype}")
    keys = LAYER_KEYS + tuple(k for k in OPTIONAL_KEYS if k in layer)
    params = {k: np.asarray(layer[k]) for k in keys}
    for key, val in params.items():
        check_param(key, val, weights.shape[0], where)
    return {k: v.astype(np.int64) for k, v in params.items()}


def check_param(key: str, val: np.ndarray, n_out: int, where: str) -> None:
    """One scalar (or per-neuron bias) integer parameter within its range."""
    if key == "weights":
        return
    if key == "rec_weights":
        if val.shape != (n_out, n_out) or not np.issubdtype(val.dtype, np.integer):
            raise InputError(f"{where}: rec_weights must be integer [{n_out}, {n_out}], got {val.dtype} {val.shape}")
        return
    shapes = [(), (n_out,)] if key in PER_NEURON else [()]
    if val.shape not in shapes:
        raise InputError(f"{where}: {key} must have shape {' or '.join(map(str, shapes))}, "
                         f"got {val.shape}")
    if not (np.issubdtype(val.dtype, np.integer) or np.all(np.mod(val, 1) == 0)):
        raise InputError(f"{where}: {key} must be an integer, got {val}")
    bounds = PARAM_RANGES.get(key)
    if bounds is not None and not bounds.holds(val):
        raise InputError(f"{where}: {key} must lie in {bounds}, got {val}")


def pack_cases(cases, record) -> dict:
    """Flatten validated cases into the worker's `case{i}__...` npz keys."""
    check_record(record)
    packed = {"n_cases": np.int64(len(cases)),
              "record": np.array(list(record), dtype="U8")}
    for i, (layers, spikes) in enumerate(cases):
        spikes = check_spikes(spikes, i)
        packed[f"case{i}__spikes"] = spikes
        packed[f"case{i}__n_layers"] = np.int64(len(layers))
        n_in = spikes.shape[1]
        for k, layer in enumerate(layers):
            for key, val in check_layer(layer, n_in, f"case {i} layer {k}").items():
                packed[f"case{i}__layer{k}__{key}"] = val
            n_in = packed[f"case{i}__layer{k}__weights"].shape[0]
    return packed


def call_worker(packed: dict, args=(), timeout: float = DEFAULT_TIMEOUT_S) -> dict:
    """Run lava_worker.py on `packed`; return its output arrays."""
    python = lava_python()
    with tempfile.TemporaryDirectory(prefix="snnc-lava-") as tmp:
        src, dst = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        np.savez(src, **packed)
        run_subprocess([str(python), str(WORKER), str(src), str(dst), *args], timeout)
        with np.load(dst, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}


def run_subprocess(cmd: list[str], timeout: float) -> None:
    """Run cmd in its own session so a timeout also ends Lava's child processes."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise SnncError(f"Lava worker timed out after {timeout:g} s") from None
    if proc.returncode != 0:
        lines = [ln for ln in err.splitlines() if ln.strip()]
        last = lines[-1].strip() if lines else f"exit status {proc.returncode}"
        raise SnncError(f"Lava worker failed: {last}")


def unpack_case(out: dict, i: int, n_layers: int) -> dict:
    """Per-layer dicts `lif{k}` (spikes, v, u) and `dense{k}` (weights) of case i."""
    result = {}
    for key, val in out.items():
        prefix, _, rest = key.partition("__")
        if prefix == f"case{i}" and "__" in rest:
            block, _, name = rest.partition("__")
            result.setdefault(block, {})[name] = val.astype(np.int64)
    missing = [f"lif{k}" for k in range(n_layers) if f"lif{k}" not in result]
    if missing:
        raise SnncError(f"Lava worker returned no {', '.join(missing)} for case {i}")
    return result


def run_lava_chains(cases: list[tuple[list[dict], np.ndarray]], record=("v", "u"),
                    timeout: float = DEFAULT_TIMEOUT_S) -> list[dict]:
    """Run each (layers, spikes [T, n_in]) chain in Lava, all in one worker.

    Returns per case `{"lif0": {"spikes", "v", "u"}, ...}`: int64 [T, n], the
    values after each step as Lava's Monitor reports them (`record` may drop
    "v"/"u"; "weights" adds `{"dense{k}": {"weights"}}`, what Lava used).
    """
    out = call_worker(pack_cases(cases, record), timeout=timeout)
    return [unpack_case(out, i, len(layers)) for i, (layers, _) in enumerate(cases)]


def run_lava_chain(layers: list[dict], spikes: np.ndarray, record=("v", "u"),
                   timeout: float = DEFAULT_TIMEOUT_S) -> dict:
    """One chain through `run_lava_chains`."""
    return run_lava_chains([(layers, spikes)], record=record, timeout=timeout)[0]


MAX_GROUPS = 16  # LIF processes per population: each costs Lava an OS process and Monitors
# Weights of one block-diagonal Dense (samples side by side): bounds Lava's
# memory and per-step work; about 16 samples of a 64 -> 128 layer.
BLOCK_WEIGHTS = 2**21


def run_lava_graph(graph: Graph, spikes, record=("v", "u"), block: int | None = None,
                   timeout: float = DEFAULT_TIMEOUT_S, workers: int | None = None) -> dict:
    """Run a compiled Loihi graph in Lava on a batch of binary input spikes.

    Any graph the loihi target compiles (`lava_graph.lava_net`): populations in any order,
    several Dense into one population (forward, recurrent, input channels such as bias
    channels, the two halves of a SplitDense), Lava adding them at the LIF's a_in.
    spikes: [B, T, n_in] (or [T, n_in]). All samples run in ONE Lava runtime,
    compiled and started once (that costs seconds): `block` samples
    (default `samples_per_block`) side by side as independent copies of the
    network (block-diagonal Dense weights), for T steps; then every state
    is reset with Var.set and the next block runs. Returns {LIF node:
    {"spikes", "v", "u"}}, int64 [B, T, n] (or [T, n] for [T, n_in] input):
    the values after each step as Lava's Monitors report them (`record` may
    drop "v"/"u"; "weights" adds {synapse node: {"weights"}}, what Lava's
    Dense used (a SplitDense's as W_hi 2^shift + W_lo, beside "weights_hi" and
    "weights_lo"), and runs one sample at a time). Neurons differing in du, dv
    or vth run as one Lava LIF per distinct triple (see lava_network.py), at
    most MAX_GROUPS per population.

    workers: a graph with a Conv2d (Lava runs it one sample at a time) splits its batch over
    this many Lava workers side by side, each its own runtime on its own samples (default:
    the cores this process may use); the result is the same. Not with "weights" recorded
    (each worker would read the same weights back).
    """
    parts = _worker_parts(graph, spikes, record, block, workers)
    if len(parts) == 1:
        return run_lava_graphs([(graph, spikes)], record=record, block=block, timeout=timeout)[0]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(parts)) as pool:   # threads wait on their worker processes
        outs = list(pool.map(lambda part: run_lava_graphs([(graph, part)], record=record, block=block,
                                                          timeout=timeout)[0], parts))
    return {node: {var: np.concatenate([o[node][var] for o in outs]) for var in outs[0][node]} for node in outs[0]}


def _worker_parts(graph: Graph, spikes, record, block, workers) -> list:
    """The batch split into contiguous parts, one a worker, for a conv graph (one sample at a
    time in Lava) of more than one sample; else [spikes]."""
    x = np.asarray(spikes)
    one_at_a_time = "weights" not in record and any(isinstance(n, Conv2d) for n in graph.nodes.values())
    n = default_threads() if workers is None else workers
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InputError(f"workers must be a positive integer, got {workers!r}")
    if x.ndim != 3 or not one_at_a_time or min(int(n), x.shape[0]) < 2:
        return [spikes]
    return np.array_split(x, min(int(n), x.shape[0]))


def run_lava_graphs(items, record=("v", "u"), block: int | None = None,
                    timeout: float = DEFAULT_TIMEOUT_S) -> list[dict]:
    """`run_lava_graph` for each (graph, spikes) or (graph, spikes, block),
    all in one worker (Lava is imported once)."""
    check_record(record)
    packed = {"n_graphs": np.int64(len(items)), "record": np.array(list(record), dtype="U8")}
    unpack = []
    for i, (graph, spikes, *own_block) in enumerate(items):
        net = lava_net(graph)
        x, batched = check_batch(spikes, net.n_in)
        for key, val in pack_graph(net, x, record, *(own_block or [block])).items():
            packed[f"g{i}__{key}"] = val
        unpack.append((net, batched, x.shape[0]))
    out = call_worker(packed, args=("--graph",), timeout=timeout)
    return [unpack_graph({k[len(f"g{i}__"):]: v for k, v in out.items() if k.startswith(f"g{i}__")}, *u)
            for i, u in enumerate(unpack)]


def check_batch(spikes, n_in: int) -> tuple[np.ndarray, bool]:
    """Binary spikes as int64 [B, T, n_in], and whether they came batched."""
    x = np.asarray(spikes)
    if x.ndim not in (2, 3) or 0 in x.shape or x.shape[-1] != n_in:
        raise InputError(f"spikes must have shape [T, {n_in}] or [B, T, {n_in}], got {x.shape}")
    if not _binary(x):
        raise InputError("Lava's RingBuffer -> Dense input spikes must be 0/1")
    return (x if x.ndim == 3 else x[None]).astype(np.int64), x.ndim == 3


def samples_per_block(dense: list[dict], batch: int) -> int:
    """Samples run side by side: as many as BLOCK_WEIGHTS allows for the largest Dense
    (`dense`: dicts with "weights"), spread evenly over the blocks so that the last one is
    nearly full."""
    largest = max((np.size(d["weights"]) for d in dense), default=1)
    widest = max(1, min(batch, int(np.sqrt(BLOCK_WEIGHTS / max(largest, 1)))))
    blocks = -(-batch // widest)
    return -(-batch // blocks)


def pack_graph(net: LavaNet, x: np.ndarray, record, block: int | None = None) -> dict:
    """One graph's worker keys: the network's arrays, the spikes and the block."""
    if block is None:  # reading weights back costs a Var.get message per value, block^2 more side by side
        dense = [{"weights": net.arrays[f"dense{j}__weights"]} for j in range(len(net.dense))]
        block = 1 if "weights" in record or net.convs else samples_per_block(dense, x.shape[0])
    if not 1 <= int(block) <= x.shape[0]:
        raise InputError(f"block must lie in [1, {x.shape[0]}] (the batch), got {block}")
    if net.convs and int(block) != 1:
        raise InputError(f"block {block}: a graph with a Conv2d ('{net.convs[0]}') runs in Lava one sample at a time")
    for k, pop in enumerate(net.pops):
        triples = np.stack([net.arrays[f"pop{k}__{p}"] for p in ("du", "dv", "vth")], axis=1)
        groups = len(np.unique(triples, axis=0))
        if groups > MAX_GROUPS:
            raise GraphError(f"node '{pop}': {groups} distinct (du, dv, vth); Lava's LIF holds one each "
                             f"and run_lava_graph splits a population into at most {MAX_GROUPS} processes")
    pad = -x.shape[0] % block  # silent samples fill the last block; dropped after
    return {**net.arrays, "block": np.int64(block),
            "spikes": np.concatenate([x, np.zeros((pad,) + x.shape[1:], x.dtype)])}


def check_record(record) -> None:
    bad = [r for r in record if r not in RECORDABLE]
    if bad:
        raise InputError(f"record: unknown Lava state(s) {bad}; choose from {RECORDABLE}")


def unpack_graph(out: dict, net: LavaNet, batched: bool, batch: int) -> dict:
    """Worker keys lif{k}__var / dense{j}__weights -> graph node names."""
    squeeze = (lambda a: a[:batch]) if batched else (lambda a: a[0])
    result = {}
    for k, pop in enumerate(net.pops):
        traces = {var: squeeze(out[f"lif{k}__{var}"]) for var in ("spikes", "v", "u") if f"lif{k}__{var}" in out}
        if "spikes" not in traces:
            raise SnncError(f"Lava worker returned no spikes for '{pop}'")
        result[pop] = traces
    for j, (syn, part) in enumerate(net.dense):
        if f"dense{j}__weights" in out:
            used = out[f"dense{j}__weights"].astype(np.int64)
            result.setdefault(syn, {})[f"weights_{part}" if part else "weights"] = used
    for syn, used in result.items():
        if "weights_hi" in used:
            used["weights"] = used["weights_hi"] * 2**net.shifts[syn] + used["weights_lo"]
    return result


def time_lava_run(layers: list[dict], spikes: np.ndarray,
                  timeout: float = DEFAULT_TIMEOUT_S) -> float:
    """Seconds of Lava's `run()` of T steps alone (no Monitors, compile and start-up excluded): the
    best of the worker's TIMED_RUNS calls in one runtime, its steady state."""
    packed = pack_cases([(layers, spikes)], record=())
    out = call_worker(packed, args=("--time-only",), timeout=timeout)
    return float(out["case0__run_seconds"])


def benchmark_case(sizes=(700, 256, 256, 20), steps: int = 100, rate: float = 0.05,
                   seed: int = 0) -> tuple[list[dict], np.ndarray]:
    """A Poisson-driven chain with about 2-15 % hidden spikes per step, for timing.

    Weights are uniform in [-64, 72) for the input layer and [-64, 76) after
    it (a slight excitatory bias that keeps deeper layers from going silent at
    lower input rates); du=1024, dv=512 (time constants of ~4 and ~8 steps);
    vth=3000, i.e. 192000 after Lava's << 6. Tuned for the default sizes.
    """
    rng = np.random.default_rng(seed)
    spikes = (rng.random((steps, sizes[0])) < rate).astype(np.int64)
    layers = []
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        high = 72 if k == 0 else 76
        layers.append(dict(weights=rng.integers(-64, high, size=(n_out, n_in)),
                           weight_exp=0, du=1024, dv=512, vth=3000,
                           bias_mant=0, bias_exp=0))
    return layers, spikes


def execute(graph, padded) -> dict:
    """`verify`'s lava backend (`Target.executors`): every population's spikes and v."""
    return run_lava_graph(graph, padded, record=("v",))
