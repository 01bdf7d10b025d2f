"""NIR file -> float front-level graph on `ideal`, and `compile_nir` to a target.

    compile_nir("model.nir", "loihi")        # snnc compile model.nir --target loihi

Reads graphs of Input, Affine/Linear, LIF, CubaLIF, IF, LI, I, CubaLI,
Delay, Flatten and Output nodes as snnTorch, sinabs, Rockpool and snnc
write them. Discretisation: forward Euler with the time step `dt` (the
graph's metadata `dt` if it has one, else 1e-4 s, snnTorch's fixed dt), as
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
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snnc.compiler.ir import FloatLIF, Graph, Input, Output, Synapse, check_graph
from snnc.compiler.ir.nodes import NON_SPIKING
from snnc.errors import CompileError, FormatError, GraphError

DEFAULT_DT = 1e-4         # snnTorch's import_from_nir step
DEFAULT_STEPS = 16        # steps of the random calibration input where the graph names no data set
NEURONS = ("LIF", "CubaLIF", "IF", "LI", "I", "CubaLI")
THROUGH = ("Flatten", "Delay", "SubgraphPort")
SYNAPSES = ("Affine", "Linear")


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


def nir_params(node, dt: float, size: int | None = None) -> dict:
    """FloatLIF parameters (beta, alpha, vth, bias) and input gain of a NIR neuron (module docstring),
    each [size] (snnTorch writes scalars and [1] arrays for a whole population)."""
    kind = type(node).__name__
    size = _size_of(node) if size is None else size
    ones, zeros = np.ones(size), np.zeros(size)

    def arr(name, default=None):
        value = getattr(node, name, None)
        return np.broadcast_to(np.asarray(default if value is None else value, np.float64), (size,))

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


def _neuron_size(ng, name: str, seen=()) -> int:
    """A population's size: the rows of a weight layer feeding it (through Flatten/Delay), else its parameters'."""
    for src, dst in ng.edges:
        node = ng.nodes.get(src)
        if dst != name or src in seen or node is None:
            continue
        kind = type(node).__name__
        if kind in SYNAPSES:
            return int(np.asarray(node.weight).shape[0])
        if kind in THROUGH:
            return _neuron_size(ng, src, seen + (name,))
    return _size_of(ng.nodes[name])


def graph_from_nir(ng, dt: float | None = None) -> Graph:
    """The float graph on `ideal` of a nir.NIRGraph (module docstring)."""
    dt = float(dt if dt is not None else ng.metadata.get("dt", DEFAULT_DT))
    ng = flatten_subgraphs(ng)
    _check_nodes(ng)
    succ: dict[str, list[str]] = {}
    for src, dst in ng.edges:
        for end in (src, dst):
            if end not in ng.nodes:
                raise CompileError(f"NIR edge {src} -> {dst}: no node named '{end}'")
        succ.setdefault(src, []).append(dst)
    graph = Graph(target="ideal", metadata={"source": "nir", "dt": dt})
    params = {}
    for name, node in ng.nodes.items():
        kind = type(node).__name__
        if kind == "Input":
            graph.add(name, Input(int(np.prod(_shape(node.input_type)))))
        elif kind in NEURONS:
            p = params[name] = _checked_params(name, node, dt, _neuron_size(ng, name))
            graph.add(name, FloatLIF(p["beta"].size, beta=p["beta"], alpha=p["alpha"], vth=p["vth"],
                                     bias=p["bias"], reset="zero"))
    outputs = []
    for src in list(graph.nodes):
        for target, syn, delay in _reach(ng, succ, src, dt):
            if target in params or type(ng.nodes[target]).__name__ == "Output":
                outputs += _connect(graph, ng, params, src, target, syn, delay)
    if len(outputs) != 1:
        raise CompileError(f"NIR graph: {len(outputs)} outputs reached; snnc compiles one Output")
    _finish(graph, outputs[0], snnc_metadata(ng).get("output"))
    try:
        check_graph(graph)
        graph.neuron_order()
    except GraphError as exc:
        raise CompileError(f"NIR graph: {exc}") from None
    return graph


class SubgraphPort:
    """A nested graph's own Input or Output node once flattened: the identity."""


@dataclass
class FlatGraph:
    nodes: dict
    edges: list
    metadata: dict


def flatten_subgraphs(ng, prefix: str = "") -> FlatGraph:
    """Nested NIRGraphs (snnTorch writes a recurrent LIF as one: input -> lif <-> w_rec, lif -> output)
    inlined: inner nodes named `<sub>_<inner>` (a subgraph's only neuron takes the subgraph's name),
    its Input/Output nodes become identities, edges to `sub` or `sub.<port>` go to its ports."""
    nodes, edges, ports = {}, [], {}
    for name, node in ng.nodes.items():
        if type(node).__name__ != "NIRGraph":
            nodes[name] = node
            continue
        inner = flatten_subgraphs(node)
        neurons = [n for n, x in inner.nodes.items() if type(x).__name__ in NEURONS]
        rename = {n: (name if neurons == [n] else f"{name}_{n}") for n in inner.nodes}
        for n, x in inner.nodes.items():
            kind = type(x).__name__
            nodes[rename[n]] = SubgraphPort() if kind in ("Input", "Output") else x
            if kind in ("Input", "Output"):
                ports.setdefault(name, {})[kind] = ports.get(name, {}).get(kind, []) + [rename[n]]
                ports[name][n] = [rename[n]]
        edges += [(rename[a], rename[b]) for a, b in inner.edges]
    for src, dst in ng.edges:
        edges.append((_port(ports, src, "Output"), _port(ports, dst, "Input")))
    return FlatGraph(nodes, edges, dict(ng.metadata))


def _port(ports: dict, end: str, kind: str) -> str:
    """`sub` -> its one Input/Output port; `sub.port` -> that port; anything else unchanged."""
    sub, _, port = end.partition(".")
    if sub not in ports:
        return end
    found = ports[sub].get(port or kind, [])
    if len(found) != 1:
        raise CompileError(f"NIR edge end '{end}': subgraph '{sub}' has {len(found)} such ports")
    return found[0]


def _checked_params(name, node, dt, size) -> dict:
    """nir_params, with decays in [0, 1] (tau >= dt) and finite values, errors naming the node."""
    try:
        with np.errstate(divide="ignore", invalid="ignore"):
            p = nir_params(node, dt, size)
    except (ValueError, CompileError) as exc:  # ValueError: parameters that do not broadcast
        raise CompileError(f"NIR node '{name}': {exc}") from None
    if not all(np.all(np.isfinite(v)) for k, v in p.items() if k != "vth"):
        raise CompileError(f"NIR node '{name}': time constants must be finite and > 0")
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


def _shape(types: dict) -> np.ndarray:
    (shape,) = types.values()
    return np.asarray(shape).reshape(-1)


def _reach(ng, succ, src, dt, syn=None, delay=0, seen=()):
    """(population or Output, synapse node or None, delay steps) reached from `src`
    through Flatten / Delay and at most one Affine/Linear."""
    for nxt in succ.get(src, []):
        node = ng.nodes[nxt]
        kind = type(node).__name__
        if nxt in seen:
            continue
        if kind in ("Flatten", "SubgraphPort"):
            yield from _reach(ng, succ, nxt, dt, syn, delay, seen + (nxt,))
        elif kind == "Delay":
            steps = np.unique(np.round(np.asarray(node.delay, np.float64) / dt))
            if steps.size != 1:
                raise CompileError(f"NIR node '{nxt}': per-neuron delays are not supported")
            yield from _reach(ng, succ, nxt, dt, syn, delay + int(steps[0]), seen + (nxt,))
        elif kind in SYNAPSES:
            if syn is not None:
                raise CompileError(f"NIR nodes '{syn}' -> '{nxt}': two weight layers in a row (no neuron "
                                   "between) are not supported")
            yield from _reach(ng, succ, nxt, dt, nxt, delay, seen + (nxt,))
        elif kind in NEURONS or kind == "Output":
            yield nxt, syn, delay
        else:
            raise CompileError(f"NIR node '{nxt}': {kind} cannot follow '{src}'")


def _connect(graph, ng, params, src, target, syn, delay) -> list:
    """Add the synapse src -> target (identity when no Affine/Linear); return [Output reached]."""
    n_src = graph.nodes[src].out_size
    if type(ng.nodes[target]).__name__ == "Output":
        if syn is None:
            return [(target, src)]
        readout = _unique(graph, "readout")
        graph.add(readout, FloatLIF(_weights(ng, syn, n_src).shape[0], beta=1.0, vth=NON_SPIKING, reset="zero"))
        params[readout] = {"gain": np.ones(1), "alpha": np.zeros(1)}
        _add_synapse(graph, ng, params, src, readout, syn, delay)
        return [(target, readout)]
    _add_synapse(graph, ng, params, src, target, syn, delay)
    return []


def _weights(ng, syn, n_src: int) -> np.ndarray:
    w = np.asarray(ng.nodes[syn].weight, np.float64)
    if w.ndim != 2 or w.shape[1] != n_src:
        raise CompileError(f"NIR node '{syn}': weight shape {w.shape} does not take {n_src} inputs")
    return w


def _add_synapse(graph, ng, params, src, dst, syn, delay) -> None:
    n_src, n_dst = graph.nodes[src].out_size, graph.nodes[dst].in_size
    w = _weights(ng, syn, n_src) if syn is not None else np.eye(n_dst, n_src)
    if w.shape[0] != n_dst:
        raise CompileError(f"NIR node '{syn or src}': {w.shape[0]} outputs into '{dst}' of {n_dst} neurons")
    gain = params[dst]["gain"]
    bias = np.asarray(getattr(ng.nodes[syn], "bias", 0.0) if syn is not None else 0.0, np.float64)
    if np.any(bias != 0):
        if np.any(params[dst]["alpha"] > 0):
            raise CompileError(f"NIR node '{syn}': a bias into '{dst}', which has a synaptic current, has no IR "
                               "form (the bias would pass the synaptic filter)")
        node = graph.nodes[dst]
        graph.nodes[dst] = FloatLIF(node.size, beta=node.beta, alpha=node.alpha, vth=node.vth,
                                    bias=node.bias + (bias * gain).astype(np.float32), reset="zero")
    recurrent = src == dst
    name = _unique(graph, syn or f"{src}_to_{dst}")
    graph.add(name, Synapse((w * gain[:, None]).astype(np.float32), delay=delay + (1 if recurrent else 0)), [src])
    graph.connect(name, dst)


def _unique(graph, base: str) -> str:
    name, k = base, 1
    while name in graph.nodes:
        name, k = f"{base}_{k}", k + 1
    return name


def _finish(graph, output, decoding: dict | None) -> None:
    """The Output node: spike counts of a spiking population, v at the last step of a non-spiking one;
    or the decoding snnc's export recorded (read, step, gain, offset)."""
    out_name, pop = output
    node = graph.nodes[pop]
    spiking = bool(np.all(node.vth < NON_SPIKING))
    out = Output(node.size, read="spike_count" if spiking else "v", step=-1)
    if decoding and len(decoding.get("offset", ())) == node.size:
        out = Output(node.size, read=decoding["read"], step=decoding["step"], gain=decoding["gain"],
                     offset=np.asarray(decoding["offset"], np.float32))
    graph.add(_unique(graph, out_name), out, [pop])


# --- compile ---------------------------------------------------------------------

def snnc_metadata(ng) -> dict:
    """What snnc's own NIR export records (steps, pad_steps, data, output decoding), else {}."""
    raw = ng.metadata.get("snnc")
    try:
        return json.loads(str(raw)) if raw is not None else {}
    except json.JSONDecodeError:
        return {}


def compile_nir(path, target: str, calibrate: int = 256, data: dict | None = None, steps: int | None = None,
                dt: float | None = None, seed: int = 0):
    """Read a NIR file and lower it for `target`; returns compile.Compiled (no evaluation).

    Calibration input: `data` (a data config, e.g. {"name": "digits", "steps": 8,
    "encoding": "rate"}), else the one snnc's export recorded, else `calibrate`
    random spike trains (rate 0.2, `steps` steps, default 16), as the report notes.
    """
    from snnc.compiler.compile import Compiled, layer_rows, usage
    from snnc.compiler.frontend.checkpoint import FloatNet
    from snnc.compiler.passes import FLOWS, CompileContext, run_target_flow
    from snnc.runtime.datasets import load_split

    if target not in FLOWS:
        raise CompileError(f"target '{target}' has no compile flow (choose from {', '.join(FLOWS)})")
    ng = read_nir(path)
    meta = snnc_metadata(ng)
    graph = graph_from_nir(ng, dt)
    data = data or meta.get("data")
    n_in = next(iter(graph.inputs.values())).size
    notes = []
    if data:
        x_cal, _ = load_split(data, "train", limit=calibrate)
        steps = x_cal.shape[1]
    else:
        steps = int(steps or meta.get("steps") or DEFAULT_STEPS)
        x_cal = (np.random.default_rng(seed).random((calibrate, steps, n_in)) < 0.2).astype(np.int64)
        notes.append(f"no data set named: calibrated on {calibrate} random spike trains (rate 0.2, {steps} steps)")
    graph.metadata.update(steps=steps, nir_file=str(path))
    out_name = next(iter(graph.outputs))
    if not meta.get("output"):  # v read at the last data step; AddLatency moves it by the target's latency
        graph.nodes[out_name].step = steps - 1 if graph.nodes[out_name].read == "v" else -1
    front = FloatNet(graph, steps, graph.nodes[out_name].size, dict(data or {}), "nir", 1, list(graph.neurons),
                     {"source": str(path)})
    ctx = CompileContext(target, steps, calib_x=x_cal)
    ctx.notes.extend(notes)
    mapped, deployed = run_target_flow(graph, ctx)
    deployed.metadata.update(graph.metadata, steps=steps, pad_steps=mapped.metadata.get("pad_steps", 0),
                             target=target, compile={"target": target, "mode": "nir", "k": 1, "calibrate": calibrate})
    if data:
        deployed.metadata["data"] = {k: v for k, v in data.items() if v is not None}
    report = {"target": target, "mode": "nir", "k": 1, "calibrate": calibrate, "source": str(path), "steps": steps,
              "latency_steps": mapped.metadata.get("pad_steps", 0), "notes": ctx.notes,
              "layers": layer_rows(deployed, ctx), "usage": usage(deployed)}
    return Compiled(deployed, mapped, front, report)
