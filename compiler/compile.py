"""A float net -> deployed integer graph for a target, with its compile report.

    lower(float_net(ckpt, target="loihi"), "loihi") -> Compiled(graph, mapped, front, report)

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
from snnc.train.data.arrays import load_split

DEFAULT_CALIBRATION = 256   # training samples for the state peaks


@dataclass
class Compiled:
    graph: Graph                 # the integer graph for the target
    mapped: Graph                # float graph with the target's dynamics (on `ideal`)
    front: FloatNet              # the frontend's float graph
    report: dict = field(default_factory=dict)


def lower(front: FloatNet, target: str, calibrate: int = DEFAULT_CALIBRATION) -> Compiled:
    """Run `target`'s flow on a float net; no evaluation."""
    target_flow(target)  # an unknown target is one line before any data is read
    if calibrate < 1:
        raise CompileError(f"--calibrate must be >= 1 training samples, got {calibrate}")
    x_cal, _ = load_split(front.data, "train", limit=calibrate)
    ctx = CompileContext(target, front.steps, calib_x=x_cal)
    mapped, graph = run_target_flow(front.graph, ctx)
    graph.metadata.update(front.graph.metadata, steps=front.steps, data=_json_data(front.data),
                          pad_steps=mapped.metadata.get("pad_steps", 0), target=target,
                          compile={"target": target, "mode": front.mode, "k": front.k, "calibrate": calibrate})
    report = {"target": target, "mode": front.mode, "k": front.k, "calibrate": calibrate,
              "checkpoint_sha256": front.info.get("sha256"), "steps": front.steps,
              "latency_steps": mapped.metadata.get("pad_steps", 0), "notes": ctx.notes,
              "layers": layer_rows(graph, ctx), "usage": usage(graph)}
    return Compiled(graph, mapped, front, report)


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
