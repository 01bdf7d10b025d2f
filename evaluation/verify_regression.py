"""`verify` for regression graphs (a compiled KAN): MSE per executor and integer agreement.

On the test split of the graph's own problem (regenerated from its metadata):

    float_mse      the PyTorch model of --checkpoint (float64)
    deployed_mse   {"sim": m, "onnx": m}: the deployed graph's values on each executor
    max_abs_error  max over test points of |deployed (sim) - float|: what deployment costs
    agreement      {"onnx": f}: fraction of test points whose integer outputs equal the
                   simulator's (``agreement_all_layers``: every layer's integers equal)

and the first divergence (sample, layer, channel, both integers) where any
differ.  Backends: `sim` (the dense executor, always run) and `onnx` (the
exported integer ONNX model under onnxruntime).
"""
from __future__ import annotations

import numpy as np

from snnc.compiler.ir import Graph
from snnc.errors import InputError
from snnc.runtime import deploy

REGRESSION_BACKENDS = ("sim", "onnx", "tflite", "tflite-opt")


def is_regression(graph: Graph) -> bool:
    return graph.metadata.get("task") == "regression"


def verify_regression(graph: Graph, checkpoint=None, backends=("sim", "onnx"), split: str = "test") -> dict:
    """The regression verify report (see module docstring); `deployed_values` and
    `float_values` (test-split arrays, for plots) are popped before it is written as JSON."""
    from snnc.compiler.frontend.kan import splits_of_graph
    from snnc.runtime.dense import energy

    for b in backends:
        if b not in REGRESSION_BACKENDS:
            raise InputError(f"backend '{b}' does not run regression graphs (a compiled KAN): choose from "
                             f"{', '.join(REGRESSION_BACKENDS)}, e.g. --backends sim,onnx")
    x, y = (v.numpy() for v in splits_of_graph(graph).split(split))
    values, sim = deploy.run(graph, x[:, None, :])
    report = {"task": "regression", "target": graph.target, "split": split, "samples": int(len(y)),
              "deployed_mse": {"sim": _mse(values, y)}, "agreement": {}, "divergence": {},
              "deployed_values": values}
    report.update(energy(graph))
    if checkpoint is not None:
        report.update(_float(checkpoint, graph, x, y, values))
    ours = {n: np.asarray(sim.state[n]["v"]) for n in deploy.populations(graph)}
    for backend in (b for b in backends if b != "sim"):
        theirs = _run(backend, graph, x)
        report["deployed_mse"][backend] = _mse(deploy.decode(graph, theirs, {n: {"v": v} for n, v in theirs.items()}), y)
        report["agreement"][backend], report.setdefault("agreement_all_layers", {})[backend], first = \
            _compare(graph, ours, theirs)
        if first:
            report["divergence"][backend] = first
    return report


def _mse(values, y) -> float:
    return float(np.mean((np.asarray(values, np.float64) - y) ** 2))


def _float(checkpoint, graph, x, y, deployed) -> dict:
    from snnc.compiler.frontend.kan import torch_values
    from snnc.train.checkpoint import file_sha256
    from snnc.train.kan.checkpoint import load_kan

    model, _, _ = load_kan(checkpoint)
    float_values = torch_values(model, x)
    out = {"float_mse": _mse(float_values, y), "max_abs_error": float(np.abs(deployed - float_values).max()),
           "float_values": float_values}
    if graph.metadata.get("checkpoint_sha256") not in (None, file_sha256(checkpoint)):
        out["warning"] = "the checkpoint is not the one this graph was compiled from (sha256 differs)"
    return out


def _run(backend: str, graph: Graph, x: np.ndarray) -> dict[str, np.ndarray]:
    from snnc.evaluation.verify import executor

    out = executor(backend)(graph, deploy.pad_input(graph, x[:, None, :]))
    return {n: np.asarray(out[n]["v"]) for n in deploy.populations(graph) if "v" in out[n]}


def _compare(graph: Graph, ours: dict, theirs: dict) -> tuple[float, float, dict | None]:
    """(output agreement, all-layer agreement, first divergence) over the samples."""
    _, _, last = deploy.output_node(graph)
    same = {n: (ours[n] == theirs[n]).reshape(len(ours[n]), -1).all(axis=1) for n in ours if n in theirs}
    every = np.logical_and.reduce(list(same.values()))
    first = None
    if not every.all():
        s = int(np.flatnonzero(~every)[0])
        layer = next(n for n in deploy.populations(graph) if n in same and not same[n][s])
        j = int(np.flatnonzero(ours[layer][s].ravel() != theirs[layer][s].ravel())[0])
        first = {"sample": s, "node": layer, "channel": j, "sim": ours[layer][s].ravel()[j].item(),
                 "backend": theirs[layer][s].ravel()[j].item()}
    return float(same[last].mean()), float(every.mean()), first


