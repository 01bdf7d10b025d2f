"""The one compile pipeline: a float net (from any frontend) -> deployed integer graph for
a target, with its compile report.

    compile_net(float_net(ckpt, target="loihi"), "loihi") -> Compiled(graph, mapped, front, report)

Flow: frontend (float graph on `ideal`, reproducing the PyTorch model) ->
float passes (map the neuron to the target's dynamics, delays, layout) ->
integer passes (quantise with calibration on training samples, design rules).
What each step costs on the test split is measured by `snnc.evaluation.compiled`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snnc.compiler.frontend import FloatNet
from snnc.compiler.inventory import node_row, usage
from snnc.compiler.ir import Graph
from snnc.compiler.passes import CompileContext
from snnc.compiler.pipeline import run_target_flow, target_flow
from snnc.errors import CompileError
from snnc.targets import get as get_target
from snnc.train.data.arrays import load_split

DEFAULT_CALIBRATION = 256   # training samples for the state peaks


@dataclass
class Compiled:
    graph: Graph                 # the integer graph for the target
    mapped: Graph                # float graph with the target's dynamics (on `ideal`)
    front: FloatNet              # the frontend's float graph
    report: dict = field(default_factory=dict)
    records: dict = field(default_factory=dict)   # every pass's per-layer record (ctx.layers), also of layers
                                                  # a later pass merged away (Xylo's lif0 scale, ...)


def compile_net(front: FloatNet, target: str, calibrate: int | None = DEFAULT_CALIBRATION,
                options: dict | None = None) -> Compiled:
    """The one compile pipeline, whatever the frontend: `target`'s flow on a float net
    (calibrated on `calibrate` of the net's own inputs: `front.calibration`, by default the
    first training samples of its data set), the design rules, and the compile report. The
    task (classification or regression) is the frontend's; nothing here is evaluated.
    `options`: what the target's passes read (`Target.options`, e.g. loihi's weight_split)."""
    target_flow(target)  # an unknown target is one line before any data is read
    options = {k: v for k, v in (options or {}).items() if v is not None}
    unknown = sorted(set(options) - set(get_target(target).options))
    if unknown:
        raise CompileError(f"{', '.join(unknown)}: not a compile option of target '{target}' "
                           f"(its options: {', '.join(get_target(target).options) or 'none'})")
    x_cal = (front.calibration or _training_samples(front.data))(calibrate)
    ctx = CompileContext(target, front.steps, calib_x=x_cal, options=options)
    ctx.notes.extend(front.notes + _capped_inputs(x_cal, target))
    mapped, graph = run_target_flow(front.graph, ctx)
    latency = mapped.metadata.get("pad_steps", 0)
    # the frontend's metadata where a pass rebuilt the graph without it; what the flow set wins
    graph.metadata = {**front.graph.metadata, **graph.metadata}
    graph.metadata.update(steps=front.steps, pad_steps=latency, target=target, task=front.task,
                          compile={"target": target, **front.options, **options, "calibrate": len(x_cal)})
    if front.data:
        graph.metadata["data"] = _json_data(front.data)
    report = {"task": front.task, "target": target, **front.report, "calibrate": len(x_cal), "steps": front.steps,
              "latency_steps": latency, "notes": ctx.notes, "warnings": front.warnings,
              "layers": layer_rows(graph, ctx), "usage": usage(graph)}
    return Compiled(graph, mapped, front, report, ctx.layers)


def _capped_inputs(x: np.ndarray, target: str) -> list[str]:
    """A note when the inputs hold counts above what the chip takes per channel and step (it
    clips them: the simulator counts each as an overflow event)."""
    x, cap = np.asarray(x), get_target(target).input_cap
    over = int(np.count_nonzero(x > cap)) if cap is not None and x.dtype.kind in "iu" else 0
    if not over:
        return []
    return [f"input: {over} of {x.size} calibration input counts exceed {target}'s cap of {cap} spikes "
            "per channel and step; the chip clips them (overflow events), as the deployed accuracy measures"]


def _training_samples(data: dict):
    """calibration(n): the first n training samples of the data set (`--calibrate`)."""
    def calibration(n) -> np.ndarray:
        if n is None or n < 1:
            raise CompileError(f"--calibrate must be >= 1 training samples, got {n}")
        return load_split(data, "train", limit=n)[0]
    return calibration


def _json_data(data: dict) -> dict:
    return {k: v for k, v in data.items() if v is not None}


def layer_rows(graph: Graph, ctx: CompileContext) -> list[dict]:
    """One row per synapse and population: sizes, bit widths, exponents, errors, memory."""
    rows = []
    for name, node in graph.nodes.items():
        base = node_row(graph, name, node)
        if base["type"] in ("Input", "Output"):
            continue
        rows.append({**base, **{k: _plain(v) for k, v in ctx.layers.get(name, {}).items()}})
    return rows


def _plain(v):
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    return v
