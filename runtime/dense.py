"""The dense executor: one-step, non-spiking graphs of `Gemm`, `PWL`, `Relu` and `Step` layers.

Such a graph (a lowered KAN-MLP, a 1-step binary net) runs once per sample,
input to Output, without time or events, so it does not go through the
event-driven core; `snnc.runtime.simulate` hands it here. Float layers run on
`ideal` (float32), integer layers on `edge-int8` (the arithmetic is
`snnc.targets.edge_int8.forward`, written once). Results keep the simulator's
shapes: each layer's output is `state[layer]["v"]`, [B, 1, n] ([1, n] for
[T, N] input); `spikes` holds the Step layers' 0/1 outputs and the inputs; counters per layer are summed over the
batch like simulate's (MACs, int32 adds, requantisation multiplies, bytes
read, Step spikes, clamp saturations as overflow events); the energy says
both the batch total and the per-inference figure from the target's table.
"""
from __future__ import annotations

import warnings

import numpy as np

from snnc.compiler.ir import Graph, Input
from snnc.compiler.ir.dense import DenseLayer, Step
from snnc.errors import GraphError, InputError
from snnc.targets import edge_int8
from snnc.targets import get as get_target

# per target: energy term -> the per-inference counter it multiplies
IDEAL_TERMS = {"synaptic_op": "macs"}   # ideal's table: one synaptic op per MAC (its own estimate)


def is_dense(graph: Graph) -> bool:
    """Whether `graph` is a dense (non-spiking) pipeline; a mix with neurons is refused."""
    dense = bool(graph.of_type(DenseLayer))
    if dense and graph.neurons:
        raise GraphError(f"graph mixes dense layers ({', '.join(graph.of_type(DenseLayer))}) with neuron "
                         f"populations ({', '.join(graph.neurons)}); a graph is one or the other")
    return dense


def is_integer(graph: Graph) -> bool:
    """Whether the graph's target computes in integers (`Target.integer`; ideal: float32)."""
    return get_target(graph.target).integer


def layer_order(graph: Graph) -> list[str]:
    """Dense layers in dependency order (each has exactly one source)."""
    order, done = [], set(graph.inputs)
    pending = list(graph.of_type(DenseLayer))
    while pending:
        ready = [n for n in pending if graph.predecessors(n)[0] in done]
        if not ready:
            raise GraphError(f"dense layers form a cycle: {sorted(pending)}")
        order += ready
        done.update(ready)
        pending = [n for n in pending if n not in done]
    return order


def encode_input(graph: Graph, x: np.ndarray) -> np.ndarray:
    """Host-side input encoding of an integer dense graph with `input_quant` metadata
    (analog values -> int8); every other graph's input is returned as it is."""
    quant = graph.metadata.get("input_quant")
    x = np.asarray(x)
    if quant is None or not is_dense(graph) or not is_integer(graph) or x.dtype.kind in "iub":
        return x
    return edge_int8.quantise_input(x, float(quant["scale"]), int(quant["zero_point"]), edge_int8.input_range(graph))


def check_input(graph: Graph, x) -> tuple[np.ndarray, bool]:
    """x [T, N] or [B, T, N] with T = 1 -> ([B, N] int64 or float32, batched)."""
    x = np.asarray(x)
    if x.ndim not in (2, 3) or 0 in x.shape:
        raise InputError(f"input must have shape [T, N] or [B, T, N], got {x.shape}")
    batched = x.ndim == 3
    x = x if batched else x[None]
    if x.shape[1] != 1:
        raise InputError(f"a dense graph runs one step per sample; input has {x.shape[1]} steps")
    size = sum(n.size for n in graph.inputs.values())
    if x.shape[2] != size:
        raise InputError(f"input has {x.shape[2]} channels but the graph's input expects {size}")
    if is_integer(graph):
        return _integer_input(x[:, 0], edge_int8.input_range(graph)), batched
    return _float_input(x[:, 0]), batched


def _integer_input(x: np.ndarray, bounds: tuple[int, int]) -> np.ndarray:
    if x.dtype.kind not in "iub" and not (x.dtype.kind == "f" and np.all(np.isfinite(x)) and np.all(x == np.round(x))):
        raise InputError(f"edge-int8 input must be integer values, got dtype {x.dtype} with fractional values "
                         "(quantise analog input with the graph's input_quant, as deploy.run does)")
    lo, hi = bounds
    if x.size and (x.min() < lo or x.max() > hi):
        raise InputError(f"edge-int8 input must lie in [{lo}, {hi}], got [{x.min()}, {x.max()}]")
    return x.astype(np.int64)


def _float_input(x: np.ndarray) -> np.ndarray:
    if x.dtype.kind not in "iubf" or not np.all(np.isfinite(x)):
        raise InputError(f"float input must be finite numbers, got dtype {x.dtype}")
    return x.astype(np.float32)


def _split(graph: Graph, x: np.ndarray) -> dict[str, np.ndarray]:
    """Columns of x [B, N] per Input node, in graph order."""
    values, start = {}, 0
    for name, node in graph.inputs.items():
        values[name] = x[:, start:start + node.size]
        start += node.size
    return values


def _as_spikes(graph: Graph, x: np.ndarray) -> np.ndarray:
    """Input counts where the input is spike counts (integers >= 0, not host-quantised analog
    values); analog input sends no spikes."""
    quant = graph.metadata.get("input_quant") if is_integer(graph) else None
    analog = quant is not None and (float(quant["scale"]), int(quant["zero_point"])) != (1.0, 0)
    counts = not analog and np.all(x >= 0) and np.all(x == np.round(x))
    return x.astype(np.int64) if counts else np.zeros(x.shape, np.int64)


def run(graph: Graph, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every layer's output [B, n] on x [B, N] (int64 or float32)."""
    values = _split(graph, x)
    for name in layer_order(graph):
        values[name] = edge_int8.forward(graph.nodes[name], values[graph.predecessors(name)[0]])
    return {n: v for n, v in values.items() if not isinstance(graph.nodes[n], Input)}


def layer_counters(graph: Graph) -> dict[str, dict[str, int]]:
    """Operations of one inference, per layer (the same for every sample)."""
    return {name: edge_int8.layer_ops(graph.nodes[name]) for name in layer_order(graph)}


def terms(graph: Graph) -> dict[str, str]:
    """Energy term -> counter, for the graph's target."""
    return edge_int8.TERM_COUNTERS if is_integer(graph) else IDEAL_TERMS


def energy(graph: Graph, spikes=None) -> dict:
    """Per-inference energy and operation counts, keyed like runtime.per_inference.energy
    (`synaptic_events_per_inference` counts MACs: a dense layer has no events)."""
    table, counts = get_target(graph.target).energy, layer_counters(graph)
    per_layer = {n: sum(c[k] * table[t].joules for t, k in terms(graph).items()) for n, c in counts.items()}
    total = {k: sum(c[k] for c in counts.values()) for k in next(iter(counts.values()), {})}
    return {"energy_per_inference_j": {"mean": float(sum(per_layer.values())), "std": 0.0},
            "terms_j": {t: float(total.get(k, 0) * table[t].joules) for t, k in terms(graph).items()},
            "per_layer": {n: {**{k: float(v) for k, v in counts[n].items()}, "energy_j": float(e)}
                          for n, e in per_layer.items()},
            "operations_per_inference": {k: int(v) for k, v in total.items()},
            "synaptic_events_per_inference": float(total.get("macs", 0)),
            "spikes_per_inference": 0.0,
            "estimates": sorted(t for t in terms(graph) if table[t].estimate),
            "sources": {t: table[t].source for t in terms(graph)}}


def simulate(graph: Graph, x, check: str = "error"):
    """The dense counterpart of `snnc.runtime.simulate` (same SimResult)."""
    from snnc.runtime.plan import prepare
    from snnc.runtime.result import DesignRuleWarning

    plan = prepare(graph, check)
    for v in plan.violations:
        warnings.warn(str(v), DesignRuleWarning, stacklevel=3)
    xb, batched = check_input(graph, x)
    outputs = run(graph, xb)
    shape = (lambda a: a[:, None]) if batched else (lambda a: a)   # [B, 1, n], or [T = 1, n]
    layers = {n: shape(v) for n, v in outputs.items()}
    spikes = {n: v for n, v in layers.items() if isinstance(graph.nodes[n], Step)}
    spikes.update({n: shape(_as_spikes(graph, v)) for n, v in _split(graph, xb).items()})   # as simulate reports inputs
    result = _result(graph, xb.shape[0], batched, spikes, layers, _stats(graph, xb, outputs))
    result.violations = [{"rule": v.rule, "node": v.node, "detail": v.detail} for v in plan.violations]
    return result


def _stats(graph: Graph, xb: np.ndarray, outputs: dict) -> dict[str, dict[str, int]]:
    """Per layer, over the batch: operations, spikes (Step layers) and clamp saturations."""
    values = {**_split(graph, xb), **outputs}
    batch = xb.shape[0]
    return {n: {**{k: v * batch for k, v in c.items()}, "synaptic_events": 0, "neuron_updates": 0,
                "spikes": int(outputs[n].sum()) if isinstance(graph.nodes[n], Step) else 0,
                "overflow_events": edge_int8.saturations(graph.nodes[n], values[graph.predecessors(n)[0]])}
            for n, c in layer_counters(graph).items()}


def _result(graph: Graph, batch: int, batched: bool, spikes: dict, layers: dict, stats: dict):
    from snnc.runtime.per_inference import latency
    from snnc.runtime.result import SimResult

    totals = {k: int(sum(s[k] for s in stats.values())) for k in next(iter(stats.values()))}
    report = energy(graph)
    per_inference = report["energy_per_inference_j"]["mean"]
    return SimResult(graph.target, 1, batch if batched else None, spikes,
                     {n: {"v": v} for n, v in layers.items()}, (stats, totals),
                     {"energy_per_inference_j": report["energy_per_inference_j"], "total_j": per_inference * batch,
                      "per_inference_j": per_inference, "terms": {t: v * batch for t, v in report["terms_j"].items()},
                      "sources": report["sources"], "estimates": report["estimates"]}, latency(graph, 1))
