"""A NIR graph -> the float graph on `ideal` (compiler/frontend/nir.py gives the semantics)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from snnc.compiler.frontend.nir_nodes import (FLOAT32_MAX, NEURONS, SYNAPSES, check_dt, check_nodes,
                                              checked_params, input_size, neuron_size, real_array, show)
from snnc.compiler.frontend.nir_conv import (POOLS, conv_out_size, conv_synapse, dense_through_pools, input_image,
                                             scaled_conv, with_bias)
from snnc.compiler.frontend.nir_nodes import CONV_LAYERS
from snnc.compiler.frontend.nir_rewrites import add_bias_channels, flatten_subgraphs
from snnc.compiler.ir import FloatLIF, Graph, Input, Output, Synapse, check_graph
from snnc.compiler.ir.nodes import NON_SPIKING
from snnc.errors import CompileError, FormatError, GraphError

MAX_STEPS = 100_000       # steps of the calibration input: the training config's data.steps maximum
MAX_DELAY_STEPS = MAX_STEPS       # a NIR Delay, in steps of dt: longer than any input snnc runs
MAX_PATH_STEPS = 100_000  # node visits while tracing the paths between populations (Flatten/Delay lattices)
MAX_CHAIN = 256           # Flatten/Delay/port nodes in a row between two populations
MAX_SYNAPSES = 2_048      # synapses one NIR graph becomes (one per path from a population to the next)



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
    check_nodes(ng)
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
                graph.add(name, Input(input_size(name, node)))
            elif kind in NEURONS:
                p = params[name] = checked_params(name, node, dt, neuron_size(ng, name, preds, conv_out_size))
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
    add_bias_channels(graph, {n: p["current_bias"] for n, p in params.items() if "current_bias" in p})
    try:
        check_graph(graph)
        graph.neuron_order()
    except GraphError as exc:
        raise CompileError(f"NIR graph: {exc}") from None
    return graph, delayed



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
        elif kind in SYNAPSES or kind in CONV_LAYERS:
            chain = () if syn is None else syn if isinstance(syn, tuple) else (syn,)
            layer = next((c for c in chain if type(ng.nodes[c]).__name__ not in POOLS), None)
            if layer is not None:
                raise CompileError(f"NIR nodes '{layer}' -> '{nxt}': two weight layers in a row (no neuron "
                                   "between) are not supported" if kind not in POOLS else
                                   f"NIR node '{nxt}': a {kind} after the weight layer '{layer}' with no neuron "
                                   "between is not supported")
            step = nxt if kind in SYNAPSES and not chain else chain + (nxt,)   # pools or convs: a chain
            yield from _reach(ng, succ, nxt, dt, budget, step, delay, via, seen + (nxt,))
        elif kind in NEURONS or kind == "Output":
            yield nxt, syn, delay, via
        else:
            raise CompileError(f"NIR node '{nxt}': {kind} cannot follow '{src}'")


def _delay_steps(name: str, node, dt: float) -> int:
    """A Delay's whole number of steps of dt, one for all neurons, 0..MAX_DELAY_STEPS."""
    d = real_array(f"NIR node '{name}': delay", node.delay).reshape(-1)
    if d.size == 0 or not np.all(np.isfinite(d)) or np.any(d < 0):
        raise CompileError(f"NIR node '{name}': delay must be finite seconds >= 0, got {show(d.tolist())}")
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
        if isinstance(syn, tuple):
            raise CompileError(f"NIR node '{syn[-1]}': a Conv2d or pool straight into the Output '{target}' has no "
                               "IR form (put a population between, or an Affine after a Flatten)")
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
    if isinstance(syn, tuple) and type(ng.nodes[syn[-1]]).__name__ not in SYNAPSES:
        return _add_conv(graph, ng, params, src, dst, syn, delay, via, delayed)
    if syn is None and n_src != n_dst:
        raise CompileError(f"NIR edge into '{dst}': {n_src} values from '{src}' into {n_dst} neurons with no weight "
                           "layer between (an identity needs equal sizes)")
    if isinstance(syn, tuple):   # tiling pools, then an Affine/Linear: its weights folded back through them
        chain, syn = syn, syn[-1]
        w = dense_through_pools(ng, chain, _image_of(graph, ng, src, chain), lambda n: _weights(ng, syn, n))
    else:
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
        if np.any(params[dst]["alpha"] > 0):  # it passes the synaptic filter: a bias channel (nir_rewrites)
            scaled = np.broadcast_to(_scaled(syn, dst, "bias", bias, gain), (n_dst,)).astype(np.float64)
            params[dst]["current_bias"] = params[dst].get("current_bias", 0.0) + scaled
            bias = np.zeros(1)
    if np.any(bias != 0):
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


def _image_of(graph, ng, src: str, chain: tuple) -> tuple[int, int, int]:
    """The (C, H, W) image of population `src` as a path's first Conv2d or pool reads it: declared by
    that node, or known from the conv that feeds `src`."""
    image = input_image(chain[0], ng.nodes[chain[0]]) or graph.__dict__.get("_nir_images", {}).get(src)
    if image is None:
        raise CompileError(f"NIR node '{chain[0]}': cannot tell the (C, H, W) image it reads from '{src}' "
                           "(no input_type or input_shape)")
    if math.prod(image) != graph.nodes[src].out_size:
        raise CompileError(f"NIR node '{chain[0]}': reads a {image} image but '{src}' has {graph.nodes[src].out_size} "
                           "values")
    return tuple(image)


def _add_conv(graph, ng, params, src, dst, chain, delay, via, delayed) -> None:
    """A path of pools and at most one Conv2d as one Conv2d synapse (compiler/frontend/nir_conv.py)."""
    conv, bias = conv_synapse(ng, chain, _image_of(graph, ng, src, chain))
    where = f"NIR node '{chain[-1]}'"
    if conv.out_size != graph.nodes[dst].in_size:
        raise CompileError(f"{where}: {conv.out_size} outputs into '{dst}' of {graph.nodes[dst].in_size} neurons")
    if src == dst or delay:
        raise CompileError(f"{where}: a recurrent or delayed Conv2d path has no IR form")
    gain = params[dst]["gain"]
    if bias is not None and np.any(bias != 0):
        if np.any(params[dst]["alpha"] > 0):
            raise CompileError(f"{where}: a conv bias into the synaptic current of '{dst}' has no IR form")
        graph.nodes[dst] = with_bias(graph.nodes[dst], np.asarray(_scaled(chain[-1], dst, "bias", bias, gain),
                                                                  np.float64))
    name = _unique(graph, chain[-1])
    graph.add(name, scaled_conv(conv, np.broadcast_to(gain, (conv.out_size,)), where), [src])
    graph.connect(name, dst)
    graph.__dict__.setdefault("_nir_images", {})[dst] = conv.out_shape   # read by later paths, never saved


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
                               f"got {show(decoding)}")
        if decoding and len(decoding.get("offset", ())) == node.size:
            missing = [k for k in ("read", "step", "gain") if k not in decoding]
            if missing:
                raise CompileError(f"{where}: no field '{missing[0]}'")
            fields = {k: decoding[k] for k in ("read", "step", "gain")}
            if not isinstance(fields["read"], str) or isinstance(fields["gain"], (str, bool)) \
                    or not isinstance(fields["gain"], (int, float)):
                raise CompileError(f"{where}: expected read a string and gain a number, got read "
                                   f"{show(fields['read'])}, gain {show(fields['gain'])}")
            with np.errstate(over="ignore"):  # beyond float32: inf, refused by Output as not finite
                offset = real_array(f"{where} 'offset'", decoding["offset"]).astype(np.float32)
            try:
                out = Output(node.size, offset=offset, **fields)
            except (GraphError, OverflowError) as exc:
                raise CompileError(f"{where}: {exc}") from None
    graph.add(_unique(graph, out_name), out, [pop])


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
                           f"got {show(raw)}")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        msg = str(exc).splitlines()[0][:80] if str(exc) else type(exc).__name__
        raise CompileError(f"{where}: not valid JSON ({msg})") from None
    if not isinstance(value, dict):
        raise CompileError(f"{where}: expected a JSON object, got a JSON {type(value).__name__}")
    return value
