"""The fused path of the event engine: a whole graph in one numba call (`fused_kernel.run_fused`).

Taken for the common case: every population of one kind that has fused steps (Loihi's LIF,
the float LIF), fed by dense `Synapse`s (no Conv2d), no delivery cap, at most one recurrent
synapse per population with a delay >= 1; anything else runs `runtime.event`. The tables are
built once per plan (`Plan.derived`): weights in the narrowest exact dtype (integers: int8 /
int16 / int32 / int64 holding every weight; float: float32), sums in the
narrowest integer dtype every synapse's sums provably fit (`Plan.sum_bound`: int16, 16 lanes a
vector, for int8 weights of moderate fan-in; else int32, else int64); float64 for float weights,
as the engine, unless they lie on a power-of-two lattice: then their integers and int16 or int32
sums, `runtime.lattice`). Samples run in parts side by side (the kernel releases the GIL), each part
writing its own samples of the run's arrays in place: nothing is copied afterwards.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import threading

import numpy as np

from snnc.compiler.ir import Graph, Synapse
from snnc.runtime import fused_kernel as fk, lattice
from snnc.runtime.batches import part_starts, progress_bar, shared_pool
from snnc.runtime.event import PopulationRun
from snnc.targets import ideal
from snnc.targets.loihi import lif as loihi_lif
from snnc.targets.registry import kind_of

_NO_TRACE = {c: np.zeros((0, 0, 0, 0), c) for c in "lf"}   # int64, float32: what `keep=False` passes
FUSED_PARAMS = {loihi_lif.LoihiLIF: loihi_lif.fused_params, ideal.FloatLIF: ideal.fused_params}
INT_WEIGHTS = (np.int8, np.int16, np.int32, np.int64)


@dataclass
class Layout:
    """The graph as `run_fused`'s tables, built once per plan (`layout`)."""

    nodes: np.ndarray     # [inputs + populations, 7] (fused_kernel's node columns)
    syns: np.ndarray      # [links, 9]
    links: np.ndarray     # outgoing then incoming synapse ids
    wd: np.ndarray        # dense rows, flat (n_pre x n_post per synapse)
    ptr: np.ndarray       # CSR row pointers, flat (into post, wc)
    post: np.ndarray
    wc: np.ndarray
    nnz: np.ndarray       # synaptic events per spike of each presynaptic neuron, flat
    scale: np.ndarray     # 2^weight_exp per synapse (float kinds; on a lattice 2^(e + weight_exp))
    input_limit: int | None  # on a lattice: the largest input count its integer sums cover (None: any)
    level: int            # float weights: 0 and 1 sums on the lattice in int16 / int32, 2 float64
    acc_dtype: np.dtype
    acc_size: int
    params: np.ndarray    # [4, neurons] the kind's parameters
    flags: np.ndarray     # [populations, 2]
    state_dtype: np.dtype  # the recorded state: the kind's (int64, float32)
    state_names: tuple    # the kind's state variables (trace columns)
    populations: dict     # name -> (node index, first neuron, size)
    inputs: dict          # name -> node index
    kind: object          # the populations' NeuronKind
    scratch: dict = field(default_factory=dict, repr=False)   # `_scratch`: buffers per thread

    @property
    def a_dtype(self) -> np.dtype:
        """The joined input: int32 for an integer kind (Loihi's int32 port), else float64."""
        return np.dtype(np.int32 if self.params.dtype.kind == "i" else np.float64)

    @property
    def work_dtype(self) -> np.dtype:
        """The kernel's state: int32 for an integer kind, else float32."""
        return np.dtype(np.int32 if self.params.dtype.kind == "i" else np.float32)


LATTICE_SUMS = (np.int16, np.int32)   # float weights on a lattice: integer sums, narrowest first (level 0,
                                      # 1); level 2 is float64 sums (`runtime.lattice`)


def layout(graph: Graph, plan) -> Layout | None:
    """The graph's fused tables, or None when the fused path does not cover it (cached per plan).
    Float weights on a power-of-two lattice are summed as integers (`runtime.lattice`), in the
    narrowest of `LATTICE_SUMS` from the plan's level up whose proof holds; a run whose input
    counts exceed that layout's limit raises the plan's level (`run`): the part runs again with
    wider sums, and so do the plan's later runs."""
    level = plan.derived.get(("fused", "level"), 0)
    key = ("fused", level)
    if key not in plan.derived:
        plan.derived[key] = _build(graph, plan, level) if covered(graph, plan) else None
    return plan.derived[key]


def covered(graph: Graph, plan) -> bool:
    """One fused kind, dense synapses only, no delivery cap, recurrent synapses as the engine takes them."""
    neurons = graph.neurons
    kinds = {type(node) for node in neurons.values()}
    if len(kinds) != 1 or next(iter(kinds)) not in FUSED_PARAMS or plan.convs:
        return False
    if kind_of(next(iter(neurons.values()))).delivery_cap is not None:
        return False
    for name in neurons:
        incoming = graph.incoming(name)
        if any(type(syn) is not Synapse for _, syn, _ in incoming):
            return False
        own = [syn for _, syn, src in incoming if src == name]
        if len(own) > 1 or any(syn.delay < 1 for syn in own):   # the engine refuses / ignores these
            return False
    return True


def _build(graph: Graph, plan, level: int) -> Layout:
    order = [*graph.inputs, *graph.neuron_order()]
    pops = {n: i for i, n in enumerate(graph.neuron_order())}
    first = dict(zip(graph.inputs, np.cumsum([0] + [graph.nodes[n].size for n in graph.inputs])))
    first.update(zip(pops, np.cumsum([0] + [graph.nodes[n].size for n in pops])))
    entries = [(syn_name, syn, src, dst) for dst in pops for syn_name, syn, src in _engine_order(graph, dst)]
    node_of = {n: k for k, n in enumerate(order)}
    floats = any(syn.weights.dtype.kind == "f" for _, syn, _, _ in entries)
    grid, level = _lattice(graph, entries, level) if floats else (None, 0)
    weights = _weights(plan, entries, grid)
    syns, acc_size = _syn_table(plan, entries, node_of, weights)
    nodes, links = _node_table(graph, order, pops, first, entries, node_of)
    params, flags = _params(graph, pops)
    kind = kind_of(graph.nodes[next(iter(pops))])
    acc_dtype = _sum_dtype(plan, entries, weights["dtype"], grid)
    exps = [syn.weight_exp + (grid.exponents[name] if grid else 0) for name, syn, _, _ in entries]
    return Layout(nodes, syns, links, weights["wd"], weights["ptr"], weights["post"], weights["wc"], weights["nnz"],
                  np.array([2.0 ** e for e in exps] or [1.0]), None if grid is None else grid.input_limit, level,
                  acc_dtype, acc_size,
                  params, flags, np.dtype(next(iter(kind.state.values())).dtype), tuple(kind.state),
                  {n: (node_of[n], int(first[n]), graph.nodes[n].size) for n in pops},
                  {n: node_of[n] for n in graph.inputs}, kind)


def _lattice(graph: Graph, entries, level: int) -> tuple[lattice.Lattice | None, int]:
    """(the lattice of the narrowest sums from `level` on whose proof holds, its level), or (None, 2):
    float64 sums."""
    for at in range(level, len(LATTICE_SUMS)):
        grid = lattice.lattice(graph, entries, LATTICE_SUMS[at])
        if grid is not None:
            return grid, at
    return None, len(LATTICE_SUMS)


SUM_DTYPES = (np.int16, np.int32, np.int64)   # integer sums, narrowest first: 16, 8, 4 lanes a 256-bit vector


def _sum_dtype(plan, entries, weight_dtype: np.dtype, grid: lattice.Lattice | None) -> np.dtype:
    """The dtype every synapse's sums accumulate in: float64 for float weights off a lattice; the
    lattice's own on one (int16 or int32: `runtime.lattice`'s proof); for integer weights the
    narrowest of int16 / int32 / int64 that holds the largest `Plan.sum_bound` (int64 when a bound
    is unknown: an Input without a cap). A bound covers every partial sum of one step's slot, so
    the sums are exact in it."""
    if grid is not None:
        return grid.dtype
    if weight_dtype.kind != "i":
        return np.dtype(np.float64)
    bounds = [plan.sum_bound[name] for name, *_ in entries]
    if any(b is None for b in bounds):
        return np.dtype(np.int64)
    top = max(bounds, default=0)
    return next(np.dtype(t) for t in SUM_DTYPES if top <= np.iinfo(t).max)


def _engine_order(graph: Graph, name: str) -> list:
    """A population's incoming synapses as the engine joins them: external in graph order, recurrent last."""
    incoming = graph.incoming(name)
    return [e for e in incoming if e[2] != name] + [e for e in incoming if e[2] == name]


def _narrowest(values: list[np.ndarray]) -> np.dtype:
    """float32 for float weights; else the first of int8..int64 that holds every weight."""
    if any(v.dtype.kind == "f" for v in values):
        return np.dtype(np.float32)
    lo = min((int(v.min()) for v in values if v.size), default=0)
    hi = max((int(v.max()) for v in values if v.size), default=0)
    return next(np.dtype(t) for t in INT_WEIGHTS if np.iinfo(t).min <= lo and hi <= np.iinfo(t).max)


def _weights(plan, entries, grid: lattice.Lattice | None) -> dict:
    """Every entry's dense rows (where the plan keeps them) or CSR, flat, in the narrowest dtype (on
    a lattice: the integers k of w = k 2^e)."""
    on_grid = (lambda name, w: w) if grid is None else (lambda name, w: lattice.integers(w, grid.exponents[name]))
    fo_weights = {name: on_grid(name, plan.fan_outs[name].weight) for name, *_ in entries}
    dtype = _narrowest(list(fo_weights.values()))
    wd, ptr, post, wc, nnz = [], [], [], [], []
    sizes = {"wd": 0, "ptr": 0, "post": 0, "nnz": 0}
    offsets = []
    for name, _, _, _ in entries:
        rows, fo = plan.dense_rows[name], plan.fan_outs[name]
        rows, fo_weight = (None if rows is None else on_grid(name, rows)), fo_weights[name]
        if rows is not None:
            offsets.append((1, sizes["wd"]))
            wd.append(rows.reshape(-1))
            sizes["wd"] += rows.size
        else:
            offsets.append((0, sizes["ptr"]))
            ptr.append(fo.indptr + sizes["post"])
            post.append(fo.post)
            wc.append(fo_weight)
            sizes["ptr"] += fo.indptr.size
            sizes["post"] += fo.post.size
        offsets[-1] += (sizes["nnz"],)
        nnz.append(plan.events_per_spike[name])
        sizes["nnz"] += plan.events_per_spike[name].size
    flat = lambda parts, dt: np.ascontiguousarray(np.concatenate(parts) if parts else np.zeros(0), dt)  # noqa: E731
    return {"dtype": dtype, "offsets": offsets, "wd": flat(wd, dtype), "ptr": flat(ptr, np.int64),
            "post": flat(post, np.int64), "wc": flat(wc, dtype), "nnz": flat(nnz, np.int64)}


def _syn_table(plan, entries, node_of, weights) -> tuple[np.ndarray, int]:
    """syns rows (DELAY, EXP, DST, ACC, NPOST, DEPTH, DENSE, W, NNZ); a ring of delay + 1 slots each."""
    rows, acc = [], 0
    for (name, syn, src, dst), (dense, w, nnz) in zip(entries, weights["offsets"]):
        rows.append((syn.delay, syn.weight_exp, node_of[dst], acc, syn.out_size, syn.delay + 1, dense, w, nnz))
        acc += (syn.delay + 1) * syn.out_size
    return np.array(rows or np.zeros((0, 9)), np.int64).reshape(-1, 9), acc


def _node_table(graph, order, pops, first, entries, node_of) -> tuple[np.ndarray, np.ndarray]:
    """nodes rows (LO, N, OUT0, OUT1, IN0, IN1, POP) and the links they point into."""
    links, rows = [], []
    for name in order:
        out = [s for s, (_, _, src, _) in enumerate(entries) if src == name]
        inc = [s for s, (_, _, _, dst) in enumerate(entries) if dst == name]
        start = len(links)
        links += out + inc
        rows.append((first[name], graph.nodes[name].size, start, start + len(out), start + len(out), len(links),
                     pops.get(name, -1)))
    return np.array(rows, np.int64), np.array(links or [0], np.int64)


def _params(graph, pops) -> tuple[np.ndarray, np.ndarray]:
    parts = [FUSED_PARAMS[type(graph.nodes[n])](graph.nodes[n]) for n in pops]
    return np.ascontiguousarray(np.concatenate([p for p, _ in parts], axis=1)), np.stack([f for _, f in parts])


def run(lay: Layout, graph: Graph, plan, x: np.ndarray, inputs: dict, record: set, progress: bool, chunk: int,
        threads: int, check_bits=None) -> dict[str, PopulationRun]:
    """The engine's result ({node: PopulationRun}) for x [B, T, channels] int64, from the fused loop:
    one part runs here, several on the shared pool (`threads` > 1) or one after another.
    check_bits: called with each part's samples and the OR of their input counts as the part ends,
    in sample order (it raises on a count the graph does not take: the run stops at that part).
    A part whose input counts exceed a lattice layout's `input_limit` runs again with the next
    wider sums (int16, int32 on the lattice, then float64) until they cover it, and the plan's
    later runs take those from the start (its data has such counts)."""
    B, T = x.shape[:2]
    recorded = lay.kind.recorded(record) if record else set()
    width = int(lay.params.shape[1])
    trace = np.empty((B, T, 2, width), lay.state_dtype) if recorded else None
    out = np.empty((B, T, width), np.int64)
    starts, size = part_starts(B, chunk, threads)

    def part(s: int) -> tuple:
        """(the layout it ran with, counters, OR of its counts): parts on the pool keep the layout
        the run started with; one after another, each takes the plan's current one."""
        used = lay if threads > 1 else layout(graph, plan)
        return (used, *_part(used, x, out, trace, size, s))

    def finish(s: int, used: Layout, counts: np.ndarray, bits: int) -> np.ndarray:
        if check_bits is not None:
            check_bits(x[s:s + size], bits)
        while not _within(used.input_limit, x[s:s + size], bits):   # wider sums, until float64's (no limit)
            plan.derived[("fused", "level")] = max(plan.derived.get(("fused", "level"), 0), used.level + 1)
            used = layout(graph, plan)
            counts, _ = _part(used, x, out, trace, size, s)
        return counts

    if len(starts) == 1:
        return _runs(lay, inputs, out, trace, recorded, finish(0, *part(0)))
    counts = np.zeros((3, lay.nodes.shape[0]), np.int64)
    parts = shared_pool(threads).map(part, starts) if threads > 1 else map(part, starts)
    for s, (used, c, bits) in zip(starts, progress_bar(parts, len(starts), graph, progress)):
        counts += finish(s, used, c, bits)
    return _runs(lay, inputs, out, trace, recorded, counts)


def _within(limit: int | None, x: np.ndarray, bits: int) -> bool:
    """Whether input counts x (their OR: bits) are all within a lattice layout's limit (None: any)."""
    return limit is None or 0 <= bits <= limit or int(x.max()) <= limit


def _part(lay: Layout, x, out, trace, size: int, s: int) -> tuple[np.ndarray, int]:
    """Samples s:s+size through `run_fused` with this part's own buffers; its counters [3, nodes]
    and the OR of its input counts."""
    counts = np.zeros((3, lay.nodes.shape[0]), np.int64)   # fused_kernel's SPIKES, EVENTS, OVERFLOW per node
    bits = np.zeros(1, np.int64)
    acc, a, state, idx, fired, over = _scratch(lay, x.shape[2])
    keep = trace is not None
    fk.run_fused(x, out, trace if keep else _NO_TRACE[lay.state_dtype.char], keep, s, min(s + size, x.shape[0]),
                 lay.nodes, lay.syns, lay.links, lay.wd, lay.ptr, lay.post, lay.wc, lay.nnz, lay.scale,
                 acc, a, state, lay.params, lay.flags, counts, idx, fired, over, bits)
    return counts, int(bits[0])


def _scratch(lay: Layout, channels: int) -> tuple:
    """This thread's working buffers for the layout (acc, a, state, idx, fired, over), kept between
    calls: the kernel zeroes acc and state for each sample and writes the others before it reads
    them; one thread runs one part at a time, so no two parts share them."""
    key = (threading.get_ident(), channels)
    if key not in lay.scratch:
        width = int(lay.params.shape[1])
        lay.scratch[key] = (np.zeros(lay.acc_size, lay.acc_dtype), np.zeros(width, lay.a_dtype),
                            np.zeros((2, width), lay.work_dtype), np.zeros(max(channels, width), np.int64),
                            np.zeros(width, np.int32), np.zeros(width, np.int32))
    return lay.scratch[key]


def _runs(lay: Layout, inputs: dict, out, trace, recorded, counts) -> dict[str, PopulationRun]:
    """The engine's PopulationRuns: views of the run's arrays, the kernel's counters."""
    spikes, events, overflow = counts.tolist()   # rows SPIKES, EVENTS, OVERFLOW: Python ints, read once
    runs = {name: PopulationRun(inputs[name], {}, 0, {}, spikes[k]) for name, k in lay.inputs.items()}
    for name, (k, lo, n) in lay.populations.items():
        state = {var: trace[:, :, c, lo:lo + n] for c, var in enumerate(lay.state_names) if var in recorded} \
            if recorded else {}
        runs[name] = PopulationRun(out[:, :, lo:lo + n], state, overflow[k], {"(fused)": events[k]}, spikes[k])
    return runs
