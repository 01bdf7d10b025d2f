"""NIR file -> float front-level graph on `ideal`, and `compile_nir` to a target.

    compile_nir("model.nir", "loihi")        # snnc compile model.nir --target loihi

Reads graphs of Input, Affine/Linear, LIF, CubaLIF, IF, LI, I, CubaLI,
Delay, Flatten and Output nodes as snnTorch, sinabs, Rockpool and snnc
write them. Discretisation: forward Euler with the time step `dt` (the
graph's metadata `dt`, or the one the caller gives: `--dt`; never a guess), as
snnTorch's `import_from_nir` does:

    LIF      beta = 1 - dt/tau, input gain r dt/tau, bias = dt/tau v_leak
    CubaLIF  alpha = 1 - dt/tau_syn (current gain w_in dt/tau_syn), beta = 1 - dt/tau_mem,
             v gain r dt/tau_mem, bias = dt/tau_mem v_leak
    IF, I    beta = 1, input gain r per step (snnTorch's and sinabs' IF convention)
    LI, CubaLI  as LIF, CubaLIF without spikes (FloatLIF threshold NON_SPIKING)

Spiking neurons reset to v_reset, which must be 0 (FloatLIF's zero reset);
input gains are folded into the incoming weights (a CubaLIF's current gain
and v gain both scale its input), an Affine's bias into its neuron's bias
(neurons without a synaptic current only). A recurrent edge (a population
back to itself through a Linear/Affine) is delayed one step; Delay nodes add
round(delay / dt) steps. Flatten is the identity on snnc's flat vectors. The
Output is read as spike counts of a spiking population, or v at the last
step of a non-spiking one; an Output fed by an Affine gets a non-spiking
integrator `readout`. Nested NIRGraphs (snnTorch's recurrent LIF) are inlined.
Conv1d/Conv2d, SumPool2d/AvgPool2d and the other NIR nodes are refused by
name: the IR has no conv or pool nodes yet.

A NIR file is untrusted input: whatever has no exact IR form is refused in one
CompileError naming the node or metadata field, nothing is approximated:
dt must be a finite number > 0; parameters, weights and delays real numbers
(complex ones only with a zero imaginary part; strings, records refused);
a Delay a whole number of steps, 0..MAX_DELAY_STEPS, and refused on loihi and
xylo (their synapses deliver after a fixed step: snnc adds no relay neurons),
on a recurrent edge and straight into the Output; a cycle with no neuron in it
(a Linear feeding itself) and repeated edges are refused; a nested graph's
node renamed onto a name already taken gets a `_1`, `_2` suffix. snnc's own
metadata (`snnc`, a JSON object) is checked field by field: steps an integer
in 1..MAX_STEPS, data a data config naming a known set, the output decoding.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snnc.compiler.ir import FloatLIF, Graph, Input, Output, Synapse, check_graph
from snnc.compiler.ir.nodes import NON_SPIKING
from snnc.errors import CompileError, FormatError, GraphError

DEFAULT_STEPS = 16        # steps of the random calibration input where the graph names no data set
MAX_STEPS = 100_000       # steps of the calibration input: the training config's data.steps maximum
MAX_CALIBRATE = 65_536    # --calibrate samples: the default is 256; more only costs time (a typo guard)
MAX_CALIBRATION_VALUES = 1 << 26  # calibrate x steps x inputs of the random calibration input (~1 GiB while drawn)
MAX_DELAY_STEPS = MAX_STEPS       # a NIR Delay, in steps of dt: longer than any input snnc runs
MAX_NESTING = 16          # nested NIRGraphs (snnTorch writes one level)
MAX_PATH_STEPS = 100_000  # node visits while tracing the paths between populations (Flatten/Delay lattices)
MAX_CHAIN = 256           # Flatten/Delay/port nodes in a row between two populations
MAX_SYNAPSES = 2_048      # synapses one NIR graph becomes (one per path from a population to the next)
NEURONS = ("LIF", "CubaLIF", "IF", "LI", "I", "CubaLI")
THROUGH = ("Flatten", "Delay", "SubgraphPort")
SYNAPSES = ("Affine", "Linear")
FLOAT32_MAX = float(np.finfo(np.float32).max)


def read_nir(path):
    """nir.read, with a one-line FormatError for a missing, corrupt or foreign file."""
    import nir

    path = Path(path)
    if not path.is_file():
        raise FormatError(f"{path}: no such file")
    try:
        # type_check=False: nir 1.0.8's type inference refuses one value for a whole population
        # (shape [1]), as snnTorch writes it; graph_from_nir checks every shape it uses itself
        return nir.read(path, type_check=False)
    except Exception as exc:  # noqa: BLE001  (h5py and nir raise many kinds; all mean "not a NIR file")
        msg = " ".join(str(exc).split())[:120]
        raise FormatError(f"{path}: not a valid NIR file ({type(exc).__name__}: {msg})") from None


_KINDS = {"U": "strings", "S": "bytes", "O": "objects", "V": "records", "M": "dates", "m": "time deltas"}


def _show(value, width: int = 40) -> str:
    """A short repr for messages (numpy scalars as plain numbers)."""
    text = repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= width else text[:width - 3] + "..."


def real_array(what: str, value) -> np.ndarray:
    """`value` as a float64 array; CompileError naming `what` for strings, records, objects, and
    complex values whose imaginary part is not exactly 0 (those are read as their real part)."""
    try:
        arr = np.asarray(value)
    except Exception:  # noqa: BLE001  (ragged sequences and other objects numpy cannot hold)
        raise CompileError(f"{what}: expected real numbers, got {_show(value)}") from None
    kind = arr.dtype.kind
    if kind == "c":
        if np.any(arr.imag != 0):
            raise CompileError(f"{what}: complex values with a nonzero imaginary part; expected real numbers")
        arr = arr.real
    elif kind not in "biuf":
        raise CompileError(f"{what}: expected real numbers, got {_KINDS.get(kind, arr.dtype.name)} "
                           f"(dtype {arr.dtype.str})")
    return arr.astype(np.float64)


def check_dt(value, where: str = "NIR metadata 'dt'") -> float:
    """The time step: a finite real number of seconds > 0 (one value)."""
    if isinstance(value, (str, bytes)):
        raise CompileError(f"{where}: expected a time step in seconds (a finite number > 0), got {_show(value)}")
    arr = real_array(where, value)
    if arr.size != 1 or not math.isfinite(float(arr.reshape(-1)[0])) or float(arr.reshape(-1)[0]) <= 0:
        raise CompileError(f"{where}: expected a time step in seconds (a finite number > 0), got {_show(value)}")
    return float(arr.reshape(-1)[0])


def nir_params(node, dt: float, size: int | None = None) -> dict:
    """FloatLIF parameters (beta, alpha, vth, bias) and input gain of a NIR neuron (module docstring),
    each [size] (snnTorch writes scalars and [1] arrays for a whole population)."""
    kind = type(node).__name__
    size = _size_of(node) if size is None else size
    ones, zeros = np.ones(size), np.zeros(size)

    def arr(name, default=None):
        value = getattr(node, name, None)
        return np.broadcast_to(real_array(f"parameter '{name}'", default if value is None else value), (size,))

    p = dict(alpha=zeros, bias=zeros, vth=np.full(size, NON_SPIKING))
    if kind in ("IF", "I"):
        p.update(beta=ones, gain=arr("r"))
    elif kind in ("LIF", "LI"):
        tau = arr("tau")
        p.update(beta=1 - dt / tau, gain=arr("r") * dt / tau, bias=dt / tau * arr("v_leak"))
    else:  # CubaLIF, CubaLI
        tau_syn, tau_mem = arr("tau_syn"), arr("tau_mem")
        p.update(alpha=1 - dt / tau_syn, beta=1 - dt / tau_mem, bias=dt / tau_mem * arr("v_leak"),
                 gain=arr("w_in", 1.0) * dt / tau_syn * arr("r") * dt / tau_mem)
    if kind in ("LIF", "CubaLIF", "IF"):
        p["vth"] = arr("v_threshold")
        if np.any(arr("v_reset", 0.0) != 0):
            raise CompileError(f"{kind} with v_reset != 0 has no IR form (FloatLIF resets to 0)")
    return {k: (_snap(v) if k in ("gain",) else v) for k, v in p.items()}


def _snap(x: np.ndarray) -> np.ndarray:
    """Gains within float rounding of 1 are 1 (tau / dt round trips are not exact in float64)."""
    return np.where(np.isclose(x, 1.0, rtol=1e-6, atol=0), 1.0, x)


def _size_of(node) -> int:
    """The largest parameter size (the population's, unless all are scalars)."""
    sizes = [np.asarray(getattr(node, n)).size for n in ("v_threshold", "tau", "tau_mem", "tau_syn", "r")
             if getattr(node, n, None) is not None]
    if not sizes:
        raise CompileError(f"NIR {type(node).__name__}: cannot tell its size")
    return int(max(sizes))


def _neuron_size(ng, name: str, preds: dict) -> int:
    """A population's size: the rows of a weight layer feeding it (through Flatten/Delay), else its parameters'."""
    stack, seen = [name], {name}
    while stack:  # the first weight layer on an incoming edge, else one behind Flatten/Delay nodes
        through = []
        for src in preds.get(stack.pop(), []):
            node = ng.nodes.get(src)
            kind = type(node).__name__
            if kind in SYNAPSES:
                shape = np.shape(node.weight)
                if len(shape) != 2:
                    raise CompileError(f"NIR node '{src}': weight of shape {shape}; expected (outputs, inputs)")
                return _population(src, shape[0])
            if kind in THROUGH and src not in seen:
                seen.add(src)
                through.append(src)
        stack += through[::-1]
    return _population(name, _size_of(ng.nodes[name]))


def _population(name: str, size) -> int:
    from snnc.compiler.ir.serialize import MAX_POPULATION

    if not 1 <= size <= MAX_POPULATION:
        raise CompileError(f"NIR node '{name}': {size} neurons; snnc takes 1..{MAX_POPULATION} per node")
    return int(size)


def graph_from_nir(ng, dt: float | None = None) -> Graph:
    """The float graph on `ideal` of a nir.NIRGraph (module docstring)."""
    return _build(ng, dt)[0]


def _build(ng, dt: float | None = None) -> tuple[Graph, dict]:
    """(graph_from_nir's graph, {synapse: names of the NIR Delay nodes that delay it})."""
    meta = ng.metadata if isinstance(ng.metadata, dict) else {}
    if dt is None and "dt" not in meta:
        raise CompileError("NIR graph: no time step (its metadata has no 'dt'): pass --dt SECONDS, the step it "
                           "was trained with (Norse and Rockpool write 1e-3 s; snnTorch's import_from_nir uses "
                           "1e-4 s)")
    dt = check_dt(dt, "dt") if dt is not None else check_dt(meta["dt"])
    ng = flatten_subgraphs(ng)
    _check_nodes(ng)
    succ: dict[str, list[str]] = {}
    preds: dict[str, list[str]] = {}
    for src, dst in ng.edges:
        for end in (src, dst):
            if end not in ng.nodes:
                raise CompileError(f"NIR edge {src} -> {dst}: no node named '{end}'")
        if dst in succ.get(src, []):
            raise CompileError(f"NIR edge {src} -> {dst}: given twice (one edge per pair of nodes)")
        if src == dst and type(ng.nodes[src]).__name__ not in NEURONS:
            raise CompileError(f"NIR node '{src}': an edge to itself; a {type(ng.nodes[src]).__name__} has no "
                               "state, so its loop has no step (a recurrent weight layer goes between a population "
                               "and itself: lif -> w_rec -> lif)")
        succ.setdefault(src, []).append(dst)
        preds.setdefault(dst, []).append(src)
    graph = Graph(target="ideal", metadata={"source": "nir", "dt": dt})
    params, delayed = {}, {}
    for name, node in ng.nodes.items():
        kind = type(node).__name__
        try:
            if kind == "Input":
                graph.add(name, Input(_input_size(name, node)))
            elif kind in NEURONS:
                p = params[name] = _checked_params(name, node, dt, _neuron_size(ng, name, preds))
                graph.add(name, FloatLIF(p["beta"].size, beta=p["beta"], alpha=p["alpha"], vth=p["vth"],
                                         bias=p["bias"], reset="zero"))
        except GraphError as exc:
            raise CompileError(f"NIR node '{name}': {exc}") from None
    outputs, budget, n_fixed = [], [MAX_PATH_STEPS], len(graph.nodes)
    for src in list(graph.nodes):
        for dst, syn, delay, via in _reach(ng, succ, src, dt, budget):
            if len(graph.nodes) > MAX_SYNAPSES + n_fixed:
                raise CompileError(f"NIR graph: more than {MAX_SYNAPSES} paths from one population to the next "
                                   "(each becomes a synapse; snnc's limit)")
            if dst in params or type(ng.nodes[dst]).__name__ == "Output":
                outputs += _connect(graph, ng, params, src, dst, syn, delay, via, delayed)
    if len(outputs) != 1:
        raise CompileError(f"NIR graph: {len(outputs)} outputs reached; snnc compiles one Output")
    _finish(graph, outputs[0], snnc_metadata(ng).get("output"))
    try:
        check_graph(graph)
        graph.neuron_order()
    except GraphError as exc:
        raise CompileError(f"NIR graph: {exc}") from None
    return graph, delayed


def _input_size(name: str, node) -> int:
    types = node.input_type if isinstance(node.input_type, dict) else {}
    if len(types) != 1:
        raise CompileError(f"NIR node '{name}': an Input needs one shape, got {len(types)}")
    shape = real_array(f"NIR node '{name}': shape", next(iter(types.values()))).reshape(-1)
    if shape.size == 0 or np.any(shape != np.round(shape)) or np.any(shape < 1) or np.any(shape > 2.0**31):
        raise CompileError(f"NIR node '{name}': shape {_show(shape.tolist())}; expected positive integers")
    return _population(name, math.prod(int(v) for v in shape))


class SubgraphPort:
    """A nested graph's own Input or Output node once flattened: the identity."""


@dataclass
class FlatGraph:
    nodes: dict
    edges: list
    metadata: dict


def flatten_subgraphs(ng, depth: int = 0) -> FlatGraph:
    """Nested NIRGraphs (snnTorch writes a recurrent LIF as one: input -> lif <-> w_rec, lif -> output)
    inlined: inner nodes named `<sub>_<inner>` (a subgraph's only neuron takes the subgraph's name; a name
    already taken, by an outer node or another subgraph's, gets the first free `_1`, `_2`, ... suffix),
    its Input/Output nodes become identities, edges to `sub` or `sub.<port>` go to its ports."""
    if depth > MAX_NESTING:
        raise CompileError(f"NIR graph: subgraphs nested more than {MAX_NESTING} deep")
    nodes, edges, ports = {}, [], {}
    taken = set(ng.nodes)
    for name, node in ng.nodes.items():
        if type(node).__name__ != "NIRGraph":
            nodes[name] = node
    for name, node in ng.nodes.items():
        if type(node).__name__ != "NIRGraph":
            continue
        inner = flatten_subgraphs(node, depth + 1)
        neurons = [n for n, x in inner.nodes.items() if type(x).__name__ in NEURONS]
        rename = {}
        for n in inner.nodes:
            rename[n] = name if neurons == [n] else _free(f"{name}_{n}", taken)
            taken.add(rename[n])
        for n, x in inner.nodes.items():
            kind = type(x).__name__
            nodes[rename[n]] = SubgraphPort() if kind in ("Input", "Output") else x
            if kind in ("Input", "Output"):
                ports.setdefault(name, {})[kind] = ports.get(name, {}).get(kind, []) + [rename[n]]
                ports[name][n] = [rename[n]]
        for a, b in inner.edges:
            for end in (a, b):
                if end not in rename:
                    raise CompileError(f"NIR subgraph '{name}': edge {a} -> {b}: no node named '{end}'")
            edges.append((rename[a], rename[b]))
    for src, dst in ng.edges:
        edges.append((_port(ports, nodes, src, "Output"), _port(ports, nodes, dst, "Input")))
    return FlatGraph(nodes, edges, dict(ng.metadata) if isinstance(ng.metadata, dict) else {})


def _free(name: str, taken: set) -> str:
    """`name`, or `name_1`, `name_2`, ... : the first not in `taken`."""
    base, k = name, 1
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    return name


def _port(ports: dict, nodes: dict, end: str, kind: str) -> str:
    """`sub` -> its one Input/Output port; `sub.port` -> that port; anything else unchanged."""
    sub, _, port = end.partition(".")
    if sub not in ports:
        return end
    if port and end in nodes:
        raise CompileError(f"NIR edge end '{end}': both a node and port '{port}' of subgraph '{sub}'")
    found = ports[sub].get(port or kind, [])
    if len(found) != 1:
        raise CompileError(f"NIR edge end '{end}': subgraph '{sub}' has {len(found)} such ports")
    return found[0]


def _checked_params(name, node, dt, size) -> dict:
    """nir_params, with decays in [0, 1] (tau >= dt) and finite values, errors naming the node."""
    try:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
            p = nir_params(node, dt, size)  # inf and NaN: refused below
    except (ValueError, CompileError) as exc:  # ValueError: parameters that do not broadcast
        raise CompileError(f"NIR node '{name}': {exc}") from None
    if not all(np.all(np.isfinite(v)) for k, v in p.items() if k != "vth"):
        raise CompileError(f"NIR node '{name}': time constants must be finite and > 0")
    if not all(np.all(np.abs(v) <= FLOAT32_MAX) for v in p.values()):  # NaN fails too
        raise CompileError(f"NIR node '{name}': parameters must be finite and within float32's range "
                           f"(|x| <= {FLOAT32_MAX:.4g})")
    if np.any((p["beta"] < 0) | (p["beta"] > 1) | (p["alpha"] < 0) | (p["alpha"] >= 1)):
        raise CompileError(f"NIR node '{name}': time constants shorter than the step dt = {dt:g} s "
                           "(forward Euler needs tau >= dt)")
    return p


def _check_nodes(ng) -> None:
    supported = ("Input", "Output", *NEURONS, *THROUGH, *SYNAPSES)
    for name, node in ng.nodes.items():
        kind = type(node).__name__
        if kind in ("Conv1d", "Conv2d", "SumPool2d", "AvgPool2d"):
            raise CompileError(f"NIR node '{name}': {kind} has no snnc IR node yet (the IR has no conv or pool "
                               "nodes; dense Affine/Linear layers only)")
        if kind not in supported:
            raise CompileError(f"NIR node '{name}': {kind} is not supported (snnc reads "
                               f"{', '.join(supported)})")


def _reach(ng, succ, src, dt, budget, syn=None, delay=0, via=(), seen=()):
    """(population or Output, synapse node or None, delay steps, Delay nodes on the way) reached
    from `src` through Flatten / Delay and at most one Affine/Linear; `budget` [node visits left]."""
    for nxt in succ.get(src, []):
        node = ng.nodes[nxt]
        kind = type(node).__name__
        budget[0] -= 1
        if budget[0] < 0:
            raise CompileError(f"NIR graph: more than {MAX_PATH_STEPS} steps tracing the paths between "
                               "populations (a lattice of Flatten/Delay nodes?)")
        if len(seen) > MAX_CHAIN:
            raise CompileError(f"NIR node '{nxt}': more than {MAX_CHAIN} Flatten/Delay/weight nodes in a row "
                               "(snnc's limit)")
        if nxt in seen:
            raise CompileError(f"NIR node '{nxt}': on a cycle with no neuron in it; a cycle needs a population "
                               "on it to hold its state")
        if kind in ("Flatten", "SubgraphPort"):
            yield from _reach(ng, succ, nxt, dt, budget, syn, delay, via, seen + (nxt,))
        elif kind == "Delay":
            steps = _delay_steps(nxt, node, dt)
            yield from _reach(ng, succ, nxt, dt, budget, syn, delay + steps, via + ((nxt,) if steps else ()),
                              seen + (nxt,))
        elif kind in SYNAPSES:
            if syn is not None:
                raise CompileError(f"NIR nodes '{syn}' -> '{nxt}': two weight layers in a row (no neuron "
                                   "between) are not supported")
            yield from _reach(ng, succ, nxt, dt, budget, nxt, delay, via, seen + (nxt,))
        elif kind in NEURONS or kind == "Output":
            yield nxt, syn, delay, via
        else:
            raise CompileError(f"NIR node '{nxt}': {kind} cannot follow '{src}'")


def _delay_steps(name: str, node, dt: float) -> int:
    """A Delay's whole number of steps of dt, one for all neurons, 0..MAX_DELAY_STEPS."""
    d = real_array(f"NIR node '{name}': delay", node.delay).reshape(-1)
    if d.size == 0 or not np.all(np.isfinite(d)) or np.any(d < 0):
        raise CompileError(f"NIR node '{name}': delay must be finite seconds >= 0, got {_show(d.tolist())}")
    if np.any(d > MAX_DELAY_STEPS * dt * (1 + 1e-6)):
        raise CompileError(f"NIR node '{name}': a delay of {d.max():g} s is more than {MAX_DELAY_STEPS} steps "
                           f"of dt = {dt:g} s (snnc's limit)")
    steps = d / dt
    whole = np.round(steps)
    if not np.allclose(steps, whole, rtol=1e-6, atol=1e-6):
        bad = float(steps[np.argmax(np.abs(steps - whole))])
        raise CompileError(f"NIR node '{name}': a delay of {bad:.6g} steps of dt = {dt:g} s; the IR delays by "
                           "whole steps")
    if np.unique(whole).size != 1:
        raise CompileError(f"NIR node '{name}': per-neuron delays are not supported")
    return int(whole[0])


def _connect(graph, ng, params, src, target, syn, delay, via, delayed) -> list:
    """Add the synapse src -> target (identity when no Affine/Linear); return [Output reached]."""
    n_src = graph.nodes[src].out_size
    if type(ng.nodes[target]).__name__ == "Output":
        if syn is None:
            if delay:
                raise CompileError(f"NIR node '{via[0]}': a Delay straight into the Output '{target}' has no IR "
                                   "form (the Output reads its population's own spikes or v)")
            return [(target, src)]
        readout = _unique(graph, "readout")
        graph.add(readout, FloatLIF(_weights(ng, syn, n_src).shape[0], beta=1.0, vth=NON_SPIKING, reset="zero"))
        params[readout] = {"gain": np.ones(1), "alpha": np.zeros(1)}
        _add_synapse(graph, ng, params, src, readout, syn, delay, via, delayed)
        return [(target, readout)]
    _add_synapse(graph, ng, params, src, target, syn, delay, via, delayed)
    return []


def _weights(ng, syn, n_src: int) -> np.ndarray:
    w = real_array(f"NIR node '{syn}': weight", ng.nodes[syn].weight)
    if w.ndim != 2 or w.shape[1] != n_src:
        raise CompileError(f"NIR node '{syn}': weight shape {w.shape} does not take {n_src} inputs")
    if not np.all(np.isfinite(w)):
        raise CompileError(f"NIR node '{syn}': weights must be finite")
    return w


def _scaled(syn: str, dst: str, what: str, values: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """float32 of weights or a bias times the input gain of `dst`; CompileError where float32
    cannot hold them (overflow to inf, or a nonzero value flushed to 0)."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        product = values * gain
        out = product.astype(np.float32)
    if not np.all(np.isfinite(out)):
        raise CompileError(f"NIR node '{syn}': {what} x the input gain of '{dst}' exceed float32's range")
    if np.any((out == 0) & (values != 0)):
        raise CompileError(f"NIR node '{syn}': {what} x the input gain of '{dst}' underflow float32 to 0 "
                           "(dt / tau too small?)")
    return out


def _add_synapse(graph, ng, params, src, dst, syn, delay, via, delayed) -> None:
    n_src, n_dst = graph.nodes[src].out_size, graph.nodes[dst].in_size
    if syn is None and n_src != n_dst:
        raise CompileError(f"NIR edge into '{dst}': {n_src} values from '{src}' into {n_dst} neurons with no weight "
                           "layer between (an identity needs equal sizes)")
    w = _weights(ng, syn, n_src) if syn is not None else np.eye(n_dst, n_src)
    if w.shape[0] != n_dst:
        raise CompileError(f"NIR node '{syn or src}': {w.shape[0]} outputs into '{dst}' of {n_dst} neurons")
    gain = params[dst]["gain"]
    bias = real_array(f"NIR node '{syn}': bias", getattr(ng.nodes[syn], "bias", 0.0) if syn is not None else 0.0)
    if np.any(bias != 0):
        if bias.size not in (1, n_dst) or bias.ndim > 1:
            raise CompileError(f"NIR node '{syn}': bias of shape {bias.shape} into '{dst}' of {n_dst} neurons")
        if not np.all(np.isfinite(bias)):
            raise CompileError(f"NIR node '{syn}': bias must be finite")
        if np.any(params[dst]["alpha"] > 0):
            raise CompileError(f"NIR node '{syn}': a bias into '{dst}', which has a synaptic current, has no IR "
                               "form (the bias would pass the synaptic filter)")
        node = graph.nodes[dst]
        total = node.bias.astype(np.float64) + _scaled(syn, dst, "bias", bias, gain)
        if np.any(np.abs(total) > FLOAT32_MAX):
            raise CompileError(f"NIR node '{syn}': its bias and the bias of '{dst}' add up beyond float32's range")
        try:
            graph.nodes[dst] = FloatLIF(node.size, beta=node.beta, alpha=node.alpha, vth=node.vth,
                                        bias=total.astype(np.float32), reset="zero")
        except GraphError as exc:
            raise CompileError(f"NIR node '{dst}': {exc}") from None
    recurrent = src == dst
    if delay > MAX_DELAY_STEPS:
        raise CompileError(f"NIR node '{via[-1]}': Delays adding up to {delay} steps into '{dst}'; at most "
                           f"{MAX_DELAY_STEPS} (snnc's limit)")
    if recurrent and delay:
        raise CompileError(f"NIR node '{via[0]}': a Delay on the recurrent edge '{src}' -> '{dst}' has no IR form "
                           "(a recurrent synapse delivers after exactly one step)")
    name = _unique(graph, syn or f"{src}_to_{dst}")
    weights = _scaled(syn or src, dst, "weights", w, gain[:, None])
    graph.add(name, Synapse(weights, delay=delay + (1 if recurrent else 0)), [src])
    graph.connect(name, dst)
    if via:
        delayed[name] = via


def _unique(graph, base: str) -> str:
    name, k = base, 1
    while name in graph.nodes:
        name, k = f"{base}_{k}", k + 1
    return name


def _finish(graph, output, decoding) -> None:
    """The Output node: spike counts of a spiking population, v at the last step of a non-spiking one;
    or the decoding snnc's export recorded (read, step, gain, offset)."""
    out_name, pop = output
    node = graph.nodes[pop]
    spiking = bool(np.all(node.vth < NON_SPIKING))
    out = Output(node.size, read="spike_count" if spiking else "v", step=-1)
    if decoding is not None:
        where = "NIR metadata 'snnc' field 'output'"
        if not isinstance(decoding, dict) or not isinstance(decoding.get("offset", ()), list):
            raise CompileError(f"{where}: expected an object with read, step, gain and offset (a list), "
                               f"got {_show(decoding)}")
        if decoding and len(decoding.get("offset", ())) == node.size:
            missing = [k for k in ("read", "step", "gain") if k not in decoding]
            if missing:
                raise CompileError(f"{where}: no field '{missing[0]}'")
            fields = {k: decoding[k] for k in ("read", "step", "gain")}
            if not isinstance(fields["read"], str) or isinstance(fields["gain"], (str, bool)) \
                    or not isinstance(fields["gain"], (int, float)):
                raise CompileError(f"{where}: expected read a string and gain a number, got read "
                                   f"{_show(fields['read'])}, gain {_show(fields['gain'])}")
            with np.errstate(over="ignore"):  # beyond float32: inf, refused by Output as not finite
                offset = real_array(f"{where} 'offset'", decoding["offset"]).astype(np.float32)
            try:
                out = Output(node.size, offset=offset, **fields)
            except (GraphError, OverflowError) as exc:
                raise CompileError(f"{where}: {exc}") from None
    graph.add(_unique(graph, out_name), out, [pop])


# --- compile ---------------------------------------------------------------------

def snnc_metadata(ng) -> dict:
    """What snnc's own NIR export records (steps, pad_steps, data, output decoding), else {};
    CompileError where the graph's metadata `snnc` is there but not a JSON object."""
    meta = ng.metadata if isinstance(ng.metadata, dict) else {}
    raw = meta.get("snnc")
    if raw is None:
        return {}
    where = "NIR metadata 'snnc'"
    if not isinstance(raw, str):
        raise CompileError(f"{where}: expected a JSON object as a string (snnc's export writes one), "
                           f"got {_show(raw)}")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        msg = str(exc).splitlines()[0][:80] if str(exc) else type(exc).__name__
        raise CompileError(f"{where}: not valid JSON ({msg})") from None
    if not isinstance(value, dict):
        raise CompileError(f"{where}: expected a JSON object, got a JSON {type(value).__name__}")
    return value


def _count(what: str, value, top: int) -> int:
    """An integer in 1..top (bools and fractions refused)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or not 1 <= value <= top:
        raise CompileError(f"{what}: expected an integer in 1..{top}, got {_show(value)}")
    return int(value)


def _data_config(value, where: str) -> dict | None:
    """A data config (a mapping naming a data set snnc knows, with valid keys), or None."""
    from snnc.errors import ConfigError
    from snnc.train.config import CHOICES, from_dict

    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        raise CompileError(f"{where}: expected a data config naming a data set (an object such as "
                           f'{{"name": "digits"}}), got {_show(value)}')
    if value["name"] not in CHOICES["data.name"]:
        raise CompileError(f"{where}: unknown data set {_show(value['name'])}; choose one of "
                           f"{', '.join(CHOICES['data.name'])}")
    try:
        from_dict({"data": {k: v for k, v in value.items() if v is not None}})
    except ConfigError as exc:
        raise CompileError(f"{where}: {exc}") from None
    return value


def compile_nir(path, target: str, calibrate: int = 256, data: dict | None = None, steps: int | None = None,
                dt: float | None = None, seed: int = 0):
    """Read a NIR file and lower it for `target` through the one compile pipeline; returns
    compile.Compiled (no evaluation)."""
    from snnc.compiler.compile import compile_net

    return compile_net(nir_float_net(path, target, calibrate, data, steps, dt, seed), target)


def nir_float_net(path, target: str, calibrate: int = 256, data: dict | None = None, steps: int | None = None,
                  dt: float | None = None, seed: int = 0):
    """The float net of a NIR file, checked for `target` (its delays), with its calibration input:
    `data` (a data config, e.g. {"name": "digits", "steps": 8, "encoding": "rate"}), else the
    one snnc's export recorded, else `calibrate` random spike trains (rate 0.2, `steps` steps,
    default 16), as the report notes.
    """
    from snnc.compiler.frontend.record import FloatNet
    from snnc.compiler.pipeline import target_flow
    from snnc.train.data.arrays import load_split

    target_flow(target)  # an unknown target is one line before anything is read
    calibrate = _count("--calibrate (calibration samples)", calibrate, MAX_CALIBRATE)
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise CompileError(f"--seed: expected an integer >= 0, got {_show(seed)}")
    ng = read_nir(path)
    try:
        meta = snnc_metadata(ng)
        if not (data and "file" in data):   # a user's own arrays are read as they are (arrays.file_split)
            data = _data_config(data, "data") if data else _data_config(meta.get("data"),
                                                                        "NIR metadata 'snnc' field 'data'")
        if meta.get("steps") is not None:
            meta_steps = _count("NIR metadata 'snnc' field 'steps'", meta["steps"], MAX_STEPS)
        graph, delayed = _build(ng, dt)
    except CompileError as exc:
        raise CompileError(f"{path}: {exc}") from None
    _check_delays(graph, delayed, target, path)
    if len(graph.inputs) != 1:
        raise CompileError(f"{path}: {len(graph.inputs)} Input nodes; snnc compiles graphs with one Input")
    n_in = next(iter(graph.inputs.values())).size
    notes = []
    if data:
        x_cal, _ = load_split(data, "train", limit=calibrate)
        steps = x_cal.shape[1]
    else:
        steps = _count("steps", steps, MAX_STEPS) if steps is not None else \
            meta_steps if meta.get("steps") is not None else DEFAULT_STEPS
        if calibrate * steps * n_in > MAX_CALIBRATION_VALUES:
            raise CompileError(f"{path}: random calibration input of {calibrate} samples x {steps} steps x {n_in} "
                               f"inputs is more than {MAX_CALIBRATION_VALUES} values; lower --calibrate")
        x_cal = (np.random.default_rng(seed).random((calibrate, steps, n_in)) < 0.2).astype(np.int64)
        notes.append(f"no data set named: calibrated on {calibrate} random spike trains (rate 0.2, {steps} steps)")
    graph.metadata.update(steps=steps, nir_file=str(path))
    out_name = next(iter(graph.outputs))
    if not meta.get("output"):  # v read at the last data step; AddLatency moves it by the target's latency
        graph.nodes[out_name].step = steps - 1 if graph.nodes[out_name].read == "v" else -1
    return FloatNet(graph, steps, graph.nodes[out_name].size, dict(data or {}), "nir", 1, list(graph.neurons),
                    {"source": str(path)}, calibration=lambda n: x_cal, options={"mode": "nir", "k": 1},
                    report={"mode": "nir", "k": 1, "source": str(path)}, notes=notes)


def _check_delays(graph, delayed: dict, target: str, path) -> None:
    """A NIR Delay where `target` fixes every synaptic delay (its record's `synapse_delay`: loihi one
    step; xylo 0 from the input, 1 after) has no form there: refused, naming the Delay node."""
    from snnc.compiler.passes.latency import target_delay

    for syn, via in delayed.items():
        src, (dst,) = graph.synapse_source(syn), graph.successors(syn)
        fixed = target_delay(target, isinstance(graph.nodes[src], Input), src == dst)
        if fixed is not None:
            raise CompileError(f"{path}: NIR node '{via[0]}': a Delay of {graph.nodes[syn].delay} step(s) into "
                               f"'{dst}' has no form on '{target}', whose synapses deliver after a fixed "
                               f"{fixed} step{'s' if fixed != 1 else ''} (snnc adds no relay neurons); "
                               "compile for 'ideal'")
