"""Xylo graphs in xylosim's own terms: `graph_from_xylo` (w_in, w_rec, w_out, thresholds,
dash values, ...) and back (`params_from_graph`, what the xylosim executor is fed)."""
from __future__ import annotations


import numpy as np

from snnc.compiler.ir import Graph, Input, Output, Synapse
from snnc.compiler.ir.checks import integer
from snnc.errors import GraphError
from snnc.targets.registry import get
from snnc.targets.xylo.iaf import MAX_HIDDEN_SPIKES, MAX_OUTPUT_SPIKES, RANGES, XyloIAF
# --- graph construction from xylosim's parameter names ----------------------

def graph_from_xylo(w_in, w_rec, w_out, threshold, threshold_out, bias=0, bias_out=0,
                    weight_shift_in=0, weight_shift_rec=0, weight_shift_out=0,
                    dash_mem=0, dash_mem_out=0, dash_syn=0, dash_syn_out=0) -> Graph:
    """One Xylo population `hidden` (recurrent) and a `readout`, xylosim's shapes.

    w_in (n_in, n_hid, n_syn), w_rec (n_hid, n_hid, n_syn), w_out (n_hid, n_out),
    dash_syn (n_hid, n_syn), dash_syn_out (n_out, 1); scalars broadcast.
    """
    try:
        w_in, w_rec = _weights3("w_in", w_in), _weights3("w_rec", w_rec)
        w_out = _weights2("w_out", w_out)
    except (ValueError, TypeError) as exc:  # ragged lists and the like
        raise GraphError(f"graph_from_xylo: weights must be rectangular integer arrays "
                         f"({str(exc).splitlines()[0][:100]})") from None
    n_in, n_hid, n_syn = w_in.shape
    n_out = w_out.shape[1]
    _expect("w_rec", w_rec.shape, (n_hid, n_hid, n_syn))
    _expect("w_out", w_out.shape, (n_hid, n_out))
    shifts = [integer(name, value, -(2**31), 2**31 - 1) for name, value in  # range: the design rule
              (("weight_shift_in", weight_shift_in), ("weight_shift_rec", weight_shift_rec),
               ("weight_shift_out", weight_shift_out))]
    weight_shift_in, weight_shift_rec, weight_shift_out = shifts
    hidden = _population("", n_hid, n_syn, threshold, bias, dash_mem, dash_syn, MAX_HIDDEN_SPIKES)
    readout = _population("_out", n_out, 1, threshold_out, bias_out, dash_mem_out, dash_syn_out,
                          MAX_OUTPUT_SPIKES)
    graph = Graph(target="xylo", metadata={"source": "xylosim-params"})
    graph.add("input", Input(n_in))
    graph.add("hidden", hidden)
    graph.add("readout", readout)
    for k in range(n_syn):  # any edge order would do: Graph.incoming delivers input first
        graph.add(_syn_name("w_in", k), Synapse(w_in[:, :, k].T, int(weight_shift_in), 0, k), ["input"])
        graph.connect(_syn_name("w_in", k), "hidden")
    for k in range(n_syn):
        graph.add(_syn_name("w_rec", k), Synapse(w_rec[:, :, k].T, int(weight_shift_rec), 1, k), ["hidden"])
        graph.connect(_syn_name("w_rec", k), "hidden")
    graph.add("w_out", Synapse(w_out.T, int(weight_shift_out), 1, 0), ["hidden"])
    graph.connect("w_out", "readout")
    graph.add("output", Output(n_out), ["readout"])
    from snnc.compiler.ir import check_graph
    check_graph(graph)
    get("xylo").check(graph)   # the package's Target record (registered on import)
    return graph


def _population(suffix, size, n_syn, threshold, bias, dash_mem, dash_syn, max_spikes) -> XyloIAF:
    """An XyloIAF from graph_from_xylo's arguments; errors name the argument the caller
    passed (threshold_out, not threshold, for the readout)."""
    try:
        for name, value in (("threshold", threshold), ("bias", bias), ("dash_mem", dash_mem),
                            ("dash_syn", dash_syn)):
            if value is None or isinstance(value, (str, bytes)):
                raise GraphError(f"parameter '{name}' must be an integer or integer array, got {value!r}")
        try:
            syn = np.broadcast_to(np.asarray(dash_syn), (size, n_syn))
        except (ValueError, TypeError):
            raise GraphError(f"parameter 'dash_syn' must be a scalar or shape ({size}, {n_syn}), "
                             f"got {np.shape(dash_syn) if _rectangular(dash_syn) else 'a ragged list'}") from None
        return XyloIAF(size, threshold=threshold, bias=bias, dash_mem=dash_mem, dash_syn=syn,
                       max_spikes=max_spikes)
    except (ValueError, TypeError) as exc:
        raise GraphError(f"graph_from_xylo: parameters must be integer arrays "
                         f"({str(exc).splitlines()[0][:100]})") from None
    except GraphError as exc:
        msg = str(exc)
        for name in ("threshold", "bias", "dash_mem", "dash_syn"):
            msg = msg.replace(f"parameter '{name}'", f"parameter '{name}{suffix}'")
        raise GraphError(msg) from None


def _rectangular(value) -> bool:
    try:
        np.asarray(value)
        return True
    except (ValueError, TypeError):
        return False


def _syn_name(base: str, k: int) -> str:
    return base if k == 0 else f"{base}_syn{k + 1}"


def _weights3(name, w):
    w = np.asarray(w)
    if w.ndim == 2:
        w = w[:, :, None]
    if w.ndim != 3 or w.shape[2] not in (1, 2):
        raise GraphError(f"parameter '{name}' must have shape (n_pre, n_post, n_syn<=2), got {w.shape}")
    return _int8(name, w)


def _weights2(name, w):
    w = np.asarray(w)
    if w.ndim == 3 and w.shape[2] == 1:
        w = w[:, :, 0]
    if w.ndim != 2:
        raise GraphError(f"parameter '{name}' must have shape (n_hid, n_out), got {w.shape}")
    return _int8(name, w)


def _int8(name, w):
    if w.dtype.kind not in "iu" and not (w.dtype.kind == "f" and np.all(w == np.round(w))):
        raise GraphError(f"parameter '{name}' must be integer, got dtype {w.dtype}")
    if not RANGES["weight"].holds(w):
        raise GraphError(f"parameter '{name}' must be int8 {RANGES['weight']}, got [{w.min()}, {w.max()}]")
    return w.astype(np.int64)


def _expect(name, shape, want):
    if tuple(shape) != tuple(want):
        raise GraphError(f"parameter '{name}' must have shape {want}, got {tuple(shape)}")


# --- xylosim parameters from a graph (the inverse of graph_from_xylo) -------

def params_from_graph(graph: Graph) -> dict:
    """xylosim's parameters of a graph shaped like graph_from_xylo's (any node names).

    Input -> w_in synapse(s) (delay 0) -> one hidden XyloIAF (31 spikes) with
    recurrent synapse(s) (delay 1) -> one w_out synapse (delay 1) -> readout
    XyloIAF (1 spike, one synaptic state) -> Output. One synapse per synaptic
    port and matrix, sharing the matrix's weight shift; absent ones are zeros.
    Returns graph_from_xylo's keyword arguments as int64 arrays and int shifts:
    w_in [n_in, n_hid, n_syn], w_rec [n_hid, n_hid, n_syn], w_out [n_hid, n_out],
    dash_syn [n_hid, n_syn], dash_syn_out [n_out, 1]. Other shapes: GraphError naming the node.
    """
    inp, hid, out = xylo_populations(graph)
    hidden, readout = graph.nodes[hid], graph.nodes[out]
    n_in, n_hid, n_out, n_syn = graph.nodes[inp].size, hidden.size, readout.size, hidden.n_syn
    by_source = {inp: [], hid: []}
    for name, syn, src in graph.incoming(hid):
        by_source[src].append((name, syn))
    w_in, shift_in = _stack_ports(by_source[inp], (n_in, n_hid, n_syn), 0, "input")
    w_rec, shift_rec = _stack_ports(by_source[hid], (n_hid, n_hid, n_syn), 1, "recurrent")
    w_out, shift_out = _stack_ports([(n, s) for n, s, _ in graph.incoming(out)], (n_hid, n_out, 1), 1, "readout")
    return dict(w_in=w_in, w_rec=w_rec, w_out=w_out[:, :, 0],
                threshold=hidden.threshold.copy(), threshold_out=readout.threshold.copy(),
                bias=hidden.bias.copy(), bias_out=readout.bias.copy(),
                weight_shift_in=shift_in, weight_shift_rec=shift_rec, weight_shift_out=shift_out,
                dash_mem=hidden.dash_mem.copy(), dash_mem_out=readout.dash_mem.copy(),
                dash_syn=hidden.dash_syn.copy(), dash_syn_out=readout.dash_syn.copy())


def xylo_populations(graph: Graph) -> tuple[str, str, str]:
    """(input, hidden, readout) node names of a graph that xylosim's XyloLayer can run."""
    from snnc.compiler.ir import check_graph
    check_graph(graph)
    if graph.target != "xylo":
        raise GraphError(f"graph targets '{graph.target}'; xylosim runs 'xylo' graphs")
    (inp, *more_in), outputs = list(graph.inputs), list(graph.outputs)
    if more_in:
        raise GraphError(f"Input '{more_in[0]}': xylosim takes one input vector, the graph has {1 + len(more_in)}")
    if len(outputs) != 1:
        raise GraphError(f"Output '{outputs[-1]}': xylosim has one readout, the graph has {len(outputs)} Outputs")
    out = graph.predecessors(outputs[0])[0]
    hidden = [n for n in graph.neurons if n != out]
    if len(hidden) != 1:
        raise GraphError(f"population '{(hidden or [out])[-1]}': xylosim runs one hidden and one readout "
                         f"population, the graph has {len(graph.neurons)}")
    hid = hidden[0]
    for name, max_spikes, n_syn in ((hid, MAX_HIDDEN_SPIKES, None), (out, MAX_OUTPUT_SPIKES, 1)):
        _expect_population(graph, name, max_spikes, n_syn)
    _expect_sources(graph, hid, {inp, hid})
    _expect_sources(graph, out, {hid})
    return inp, hid, out


def _expect_population(graph: Graph, name: str, max_spikes: int, n_syn) -> None:
    node = graph.nodes[name]
    if not isinstance(node, XyloIAF):
        raise GraphError(f"population '{name}' is a {type(node).__name__}; xylosim runs XyloIAF")
    if node.max_spikes != max_spikes:
        raise GraphError(f"population '{name}' has max_spikes {node.max_spikes}; xylosim's is {max_spikes} there")
    if n_syn is not None and node.n_syn != n_syn:
        raise GraphError(f"population '{name}' has {node.n_syn} synaptic states; xylosim's readout has {n_syn}")


def _expect_sources(graph: Graph, name: str, allowed: set[str]) -> None:
    for syn_name, _, src in graph.incoming(name):
        if src not in allowed:
            raise GraphError(f"synapse '{syn_name}' feeds '{name}' from '{src}'; xylosim has no such weights")


def _stack_ports(synapses, shape, delay: int, what: str) -> tuple[np.ndarray, int]:
    """[n_pre, n_post, n_ports] int8 weights from one synapse per port, and their shared shift."""
    w, first = np.zeros(shape, np.int64), {}
    for name, syn in synapses:
        lo, hi = (int(syn.weights.min()), int(syn.weights.max())) if syn.weights.size else (0, 0)
        if syn.weights.dtype.kind == "f" or not RANGES["weight"].holds(syn.weights):
            raise GraphError(f"synapse '{name}' ({what}) has weights {syn.weights.dtype} in [{lo}, {hi}]; "
                             "xylosim takes int8")
        if syn.delay != delay:
            raise GraphError(f"synapse '{name}' ({what}) has delay {syn.delay}; xylosim delivers it after {delay}")
        if syn.port in first:
            raise GraphError(f"synapse '{name}' ({what}) targets port {syn.port} like '{first[syn.port][0]}'; "
                             "xylosim has one matrix per synaptic state")
        other = next(iter(first.values()), (name, syn))
        if syn.weight_exp != other[1].weight_exp:
            raise GraphError(f"synapse '{name}' ({what}) has weight shift {syn.weight_exp} but '{other[0]}' "
                             f"{other[1].weight_exp}; xylosim has one shift per matrix")
        first[syn.port] = (name, syn)
        w[:, :, syn.port] = syn.weights.T
    shift = next(iter(first.values()))[1].weight_exp if first else 0
    return w, shift
