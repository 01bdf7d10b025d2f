"""ONNX export: a compiled graph as an integer, stateful ONNX model (opset 18).

Two models from one step function (`build`; `export` writes one):

* sequence (default): input `input` [B, T, N] (int32 spike counts; float32 on
  `ideal`), outputs `<node>.spikes` (int32 counts) and `<node>.v` (int32;
  float32 on `ideal`) [B, T, n] for every neuron node: a `Scan` over time
  from the reset state. The columns of `input` go to the Input nodes in graph
  order, as in `snnc.runtime.simulate`.
* step (`step=True`): one time step for streaming on a device. Inputs
  `input` [B, N] and every state `state.<key>`; outputs `<node>.spikes`,
  `<node>.v` [B, n] and the next states `next.<key>`. Keys: `<node>.u`,
  `<node>.v` (loihi), `<node>.v`, `<node>.i_syn0`, `<node>.i_syn1` (xylo, one
  per synaptic state), `<node>.v`, `<node>.i_syn` (ideal), all [B, n]; and
  `<source>.history` [B, D, n], the source's spikes of the last D steps
  (newest first) where a synapse delays them (Lava's Dense: D = 1). States
  are int64 (float32 on ideal); reset is all zeros. Feed `next.*` back as
  `state.*`.

A Conv2d synapse (a pool included) is exported with its target's kernel and conv-process
arithmetic (`onnx_conv`: Gather over receptive fields, MatMul per group; Loihi's pre-shifted
kernel and 24-bit wrap), joined into its population as a Dense's sums.

Integer states and arithmetic are int64 in the model, each target's step
written with the idioms of `onnx_ops` (exact under onnxruntime); the
lowerings are in `onnx_kinds`. The model's `metadata_props` carry the target,
the kind of model and the graph's `steps` / `pad_steps`.

"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import helper

from snnc.compiler.export.onnx_conv import conv_sums
from snnc.compiler.export.onnx_kinds import LOWERINGS, ConvArrival, lowering as kind_lowering
from snnc.compiler.export.onnx_ops import DTYPES, Builder
from snnc.compiler.ir import Graph, Input, Synapse, check_graph
from snnc.compiler.ir.conv import Conv2d
from snnc.errors import CompileError, InputError
from snnc.io import atomic_path
from snnc.runtime.dense import is_integer
from snnc.targets.registry import conv_arithmetic, kind_of

OPSET = 18
INT32_MAX = 2**31 - 1  # the most an input count can be (the model's input is int32)


def export(graph: Graph, path, step: bool = False) -> Path:
    """Write the sequence model (or the step model) of `graph` to `path`, atomically."""
    model = build(graph, step=step)
    with atomic_path(path) as tmp:
        onnx.save(model, str(tmp))
    return Path(path)


def build(graph: Graph, step: bool = False) -> onnx.ModelProto:
    """The checked ONNX model; CompileError naming the node where the graph cannot be expressed."""
    check_graph(graph)
    states = _state_specs(graph)
    model = _step_model(graph, states) if step else _sequence_model(graph, states)
    helper.set_model_props(model, {
        "snnc.target": graph.target, "snnc.model": "step" if step else "sequence",
        "snnc.steps": json.dumps(graph.metadata.get("steps")),
        "snnc.pad_steps": json.dumps(graph.metadata.get("pad_steps", 0))})
    onnx.checker.check_model(model, full_check=True)
    return model


def _in_dtype(graph: Graph):
    return np.int32 if is_integer(graph) else np.float32


def _lowering(graph: Graph, name: str):
    node = graph.nodes[name]
    lowering = kind_lowering(node)
    if lowering is None:
        raise CompileError(f"node '{name}': ONNX export has no lowering for {type(node).__name__} "
                           f"(it exports {', '.join(LOWERINGS)})")
    return lowering


def _state_specs(graph: Graph) -> dict[str, tuple]:
    """state key -> (dtype, reset value, shape after B)."""
    specs = {}
    for name in graph.neuron_order():
        node = graph.nodes[name]
        for var, (dtype, reset) in _lowering(graph, name).states(node).items():
            specs[f"{name}.{var}"] = (dtype, reset, (node.size,))
    for src, depth in _history_depths(graph).items():
        dtype = np.float32 if not is_integer(graph) and src in graph.inputs else np.int64
        specs[f"{src}.history"] = (dtype, 0, (depth, graph.nodes[src].out_size))
    return specs


def _history_depths(graph: Graph) -> dict[str, int]:
    """Source -> the most steps any synapse delays its spikes (sources with a delay only)."""
    depths = {}
    for name, syn in graph.of_type(Synapse).items():
        if syn.delay >= 1:
            src = graph.synapse_source(name)
            depths[src] = max(depths.get(src, 0), syn.delay)
    return depths


def _step(b: Builder, graph: Graph, x: str, state: dict[str, str]) -> tuple[dict, dict]:
    """One time step: (next state by key, {'<node>.spikes'/'<node>.v': value})."""
    now, start = {}, 0
    for name, node in graph.inputs.items():
        cols = x if len(graph.inputs) == 1 else b.op("Slice", x, b.i64([start]), b.i64([start + node.size]),
                                                     b.i64([1]))
        now[name] = b.op("Cast", cols, to=7) if is_integer(graph) else cols
        start += node.size
    nxt, outputs = {}, {}
    for pop in graph.neuron_order():
        node, lowering = graph.nodes[pop], _lowering(graph, pop)
        arriving = [_arriving(b, graph, pop, (name, syn), src, now, state) for name, syn, src in graph.incoming(pop)]
        own = {var: state[f"{pop}.{var}"] for var in lowering.states(node)}
        spikes, v, new = lowering.step(b, node, arriving, own)
        now[pop] = spikes
        nxt.update({f"{pop}.{var}": val for var, val in new.items()})
        outputs[f"{pop}.spikes"], outputs[f"{pop}.v"] = (spikes, np.int32), (v, lowering.v_dtype)
    for key in state:
        if key.endswith(".history"):
            nxt[key] = _shift_history(b, now[key[:-len(".history")]], state[key])
    return nxt, outputs


def _arriving(b: Builder, graph: Graph, pop: str, named, src: str, now: dict, state: dict):
    """(synapse, presynaptic values delivered now, most count per presynaptic neuron); a Conv2d as
    its sums (`_conv`)."""
    syn_name, syn = named
    if syn.delay == 0:
        s = now[src]
    else:
        s = b.op("Gather", state[f"{src}.history"], b.i64(syn.delay - 1), axis=1)
    most = getattr(graph.nodes[src], "max_spikes", 1 if src in graph.neurons else INT32_MAX)
    cap_of = kind_of(graph.nodes[pop]).delivery_cap
    if cap_of is not None:
        cap = cap_of(isinstance(graph.nodes[src], Input))
        s, most = b.op("Min", s, b.i64(cap)), min(cap, most)
    if isinstance(syn, Conv2d):
        return _conv(b, graph, pop, syn_name, syn, s, most), s, most
    return syn, s, most


def _conv(b: Builder, graph: Graph, pop: str, name: str, syn: Conv2d, s: str, most) -> ConvArrival:
    """A Conv2d's sums as its target computes them (compiler/export/onnx_conv.py), then what the
    conv process does to them (the population kind's `conv_output`)."""
    conv_output = _lowering(graph, pop).conv_output
    if conv_output is None:
        raise CompileError(f"node '{name}': ONNX export has no Conv2d into {type(graph.nodes[pop]).__name__} "
                           f"'{pop}' (its kind's lowering has no conv_output)")
    arith = conv_arithmetic(graph.target, name)
    sums = conv_output(b, conv_sums(b, syn, np.asarray(arith.kernel(syn)), s, most))
    return ConvArrival(sums, int(arith.joined_exp(syn)), syn.delay, syn.port)


def _shift_history(b: Builder, spikes: str, history: str) -> str:
    newest = b.op("Unsqueeze", spikes, b.i64([1]))
    older = b.op("Slice", history, b.i64([0]), b.i64([-1]), b.i64([1]))  # drops the oldest step
    return b.op("Concat", newest, older, axis=1)


def _value_info(name: str, dtype, shape):
    return helper.make_tensor_value_info(name, DTYPES[np.dtype(dtype)], list(shape))


def _body(graph: Graph, states: dict, x: str, state_in, state_out, out_name, prefix: str):
    """The step as a GraphProto (inputs: states..., x; outputs: next states..., per-step
    outputs) and the per-step outputs' dtypes by key."""
    b = Builder(prefix)
    nxt, outputs = _step(b, graph, x, {k: state_in(k) for k in states})
    for key in states:
        b.op("Identity", nxt[key], out=state_out(key))
    for key, (value, dtype) in outputs.items():
        b.op("Cast", value, to=DTYPES[np.dtype(dtype)], out=out_name(key))
    n_in = sum(node.size for node in graph.inputs.values())
    inputs = [_value_info(state_in(k), d, ("B",) + s) for k, (d, _, s) in states.items()]
    inputs.append(_value_info(x, _in_dtype(graph), ("B", n_in)))
    outs = [_value_info(state_out(k), d, ("B",) + s) for k, (d, _, s) in states.items()]
    outs += [_value_info(out_name(k), dtype, ("B", graph.nodes[k.rsplit(".", 1)[0]].size))
             for k, (_, dtype) in outputs.items()]
    return (helper.make_graph(b.nodes, f"{graph.target}_step", inputs, outs, b.initializers),
            {key: dtype for key, (_, dtype) in outputs.items()})


def _model(graph_proto) -> onnx.ModelProto:
    model = helper.make_model(graph_proto, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="snnc", doc_string=__doc__.split("\n\n")[0])
    model.ir_version = 9  # onnxruntime 1.17+ reads it; opset 18 needs >= 8
    return model


def _step_model(graph: Graph, states: dict) -> onnx.ModelProto:
    body, _ = _body(graph, states, "input", lambda k: f"state.{k}", lambda k: f"next.{k}", lambda k: k, "")
    return _model(body)


def _sequence_model(graph: Graph, states: dict) -> onnx.ModelProto:
    body, out_dtypes = _body(graph, states, "x_t", lambda k: f"s.{k}", lambda k: f"s_next.{k}",
                             lambda k: f"t.{k}", "body_")
    out_keys = list(out_dtypes)
    b = Builder("seq_")
    batch = b.op("Shape", "input", start=0, end=1)
    inits = []
    for key, (dtype, reset, shape) in states.items():
        dims = b.op("Concat", batch, b.i64(list(shape)), axis=0)
        value = helper.make_tensor("value", DTYPES[np.dtype(dtype)], [1], [reset])
        inits.append(b.op("ConstantOfShape", dims, value=value))
    finals = [f"final.{k}" for k in states]
    b.nodes.append(helper.make_node("Scan", inits + ["input"], finals + out_keys, body=body,
                                    num_scan_inputs=1, scan_input_axes=[1],
                                    scan_output_axes=[1] * len(out_keys)))
    n_in = sum(node.size for node in graph.inputs.values())
    outs = [_value_info(k, dtype, ("B", "T", graph.nodes[k.rsplit(".", 1)[0]].size)) for k, dtype in out_dtypes.items()]
    g = helper.make_graph(b.nodes, f"{graph.target}_sequence",
                          [_value_info("input", _in_dtype(graph), ("B", "T", n_in))], outs, b.initializers)
    return _model(g)


def session(model: onnx.ModelProto, threads: int = 1):
    """An onnxruntime CPU session on `threads` intra-op threads; onnxruntime's own log lines
    (warnings included) stay off stderr."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = threads
    opts.log_severity_level = 4  # errors are raised as exceptions; nothing is printed
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def run_sequence(graph: Graph, x, model: onnx.ModelProto | None = None) -> dict:
    """The sequence model in onnxruntime on x [B, T, N]: {population: {"spikes", "v"}} [B, T, n]."""
    x = np.asarray(x)
    check_batch(x, "[B, T, N]")
    sess = session(model if model is not None else build(graph))
    out = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"input": x.astype(_in_dtype(graph))})))
    return {n: {"spikes": out[f"{n}.spikes"].astype(np.int64), "v": out[f"{n}.v"]} for n in graph.neurons}


def check_batch(x: np.ndarray, layout: str) -> None:
    """x has rank 3 and no empty axis: onnxruntime dies with SIGFPE on an empty batch."""
    if x.ndim != 3:
        raise InputError(f"ONNX input must be {layout}, got shape {x.shape}")
    if x.shape[0] == 0:
        raise InputError(f"ONNX input {layout} has an empty batch (shape {x.shape}): onnxruntime runs at least "
                         "one sample (verify: --samples must be >= 1)")
    if 0 in x.shape:
        raise InputError(f"ONNX input {layout} has an empty axis (shape {x.shape}): onnxruntime runs at least "
                         "one step of one channel")
