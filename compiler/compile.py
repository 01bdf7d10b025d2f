"""checkpoint.pt -> deployed integer graph for a target, with its compile report.

    compile_checkpoint(ckpt, "loihi", mode="mean") -> Compiled(graph, report, ...)

Flow: frontend (float graph on `ideal`, reproducing the PyTorch model) ->
float passes (map the neuron to the target's dynamics, delays, layout) ->
integer passes (quantise with calibration on training samples, design rules).
The report measures each step's effect on the test split: the float graph,
the float graph with the target's dynamics, the deployed integer graph.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from snnc.compiler.frontend import FloatNet, float_net
from snnc.compiler.inventory import node_row, usage
from snnc.compiler.ir import Graph
from snnc.compiler.passes import CompileContext
from snnc.compiler.pipeline import run_target_flow, target_flow
from snnc.errors import CompileError
from snnc.runtime import deploy
from snnc.runtime.datasets import load_split
from snnc.runtime.metrics import scores, softmax

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


def compile_checkpoint(checkpoint, target: str, mode: str = "mean", k: int = 8,
                       calibrate: int = DEFAULT_CALIBRATION, seed: int = 0, evaluate: bool = True) -> Compiled:
    """Compile, then (evaluate=True) measure accuracies on the test split into the report."""
    front = float_net(checkpoint, mode=mode, k=k, seed=seed, target=target)
    compiled = lower(front, target, calibrate)
    compiled.report["checkpoint"] = str(checkpoint)
    compiled.graph.metadata["checkpoint"] = str(checkpoint)
    if evaluate:
        x, y = load_split(front.data, "test")   # read once, scored by every evaluation below
        compiled.report["accuracy"] = evaluate_all(compiled, checkpoint, seed, x, y)
        if mode == "samples":
            compiled.report["k_curve"] = k_curve(compiled, checkpoint, calibrate, seed, x, y)
            compiled.report["calibration"] = calibration_table(compiled, checkpoint, calibrate, seed, x, y)
    return compiled


def calibration_table(c: Compiled, checkpoint, calibrate: int, seed: int, x, y) -> dict:
    """Accuracy, NLL and ECE of the posterior mean and of the K-sample ensemble, float and deployed.

    float_samples is the trainer's ensemble (mean of the K draws' softmax);
    deployed_samples sums the K sub-networks at the readout (mean of logits).
    """
    mean = lower(float_net(checkpoint, mode="mean", seed=seed, target=c.graph.target), c.graph.target, calibrate)
    acc = c.report["accuracy"]
    return {"k": c.front.k,
            "float_mean": scores(torch_probabilities(checkpoint, "mean", 1, seed, x), y),
            "float_samples": acc["float_torch"],
            "float_samples_logit_mean": acc["float_graph"],
            "deployed_mean": _graph_scores(mean.graph, x, y),
            "deployed_samples": acc["deployed"]}


def evaluate_all(c: Compiled, checkpoint, seed: int, x, y) -> dict:
    """Test-split scores: PyTorch model, float graph, float with target dynamics, deployed."""
    torch_probs = torch_probabilities(checkpoint, c.front.mode, c.front.k, seed, x)
    out = {"split": "test", "samples": int(len(y)), "float_torch": scores(torch_probs, y)}
    for key, graph in (("float_graph", c.front.graph), ("target_dynamics", c.mapped), ("deployed", c.graph)):
        out[key] = _graph_scores(graph, x, y)
    return out


def _graph_scores(graph: Graph, x, y) -> dict:
    logits, _ = deploy.run(graph, x)
    return scores(softmax(logits), y)


def torch_probabilities(checkpoint, mode: str, k: int, seed: int, x: np.ndarray | None = None) -> np.ndarray:
    """Softmax of the PyTorch model on x (default: its own test split): posterior mean,
    or the mean of the K draws' softmax (the trainer's sampled ensemble)."""
    import torch
    from torch.utils.data import TensorDataset

    from snnc.train.bayes import sampled_states
    from snnc.train.trainer import load_model, predict

    model, cfg = load_model(checkpoint)
    if x is None:
        x, _ = load_split(dict(vars(cfg.data)), "test")
    data = TensorDataset(torch.from_numpy(x).float(), torch.zeros(len(x), dtype=torch.long))
    if mode == "mean":
        return predict(model, data, 256, torch.device("cpu"))[0].numpy()
    total = 0.0
    for state in sampled_states(model, k, seed):
        model.load_state_dict(state)
        total = total + predict(model, data, 256, torch.device("cpu"))[0].numpy()
    return total / k


def k_curve(c: Compiled, checkpoint, calibrate: int, seed: int, x, y) -> list[dict]:
    """Deployed and float-graph accuracy (and NLL, ECE) of ensembles of 1, 2, 4, ... K draws.

    The first k draws of K are the k-draw ensemble (one generator per layer), so
    the K row is the compiled graph itself, already scored."""
    k, acc, rows = c.front.k, c.report["accuracy"], []
    for kk in sorted({1 << i for i in range(int(math.log2(k)) + 1)} | {k}):
        if kk == k:
            rows.append({"k": k, "float_graph": acc["float_graph"], "deployed": acc["deployed"]})
            continue
        sub = lower(float_net(checkpoint, mode="samples", k=kk, seed=seed, target=c.graph.target),
                    c.graph.target, calibrate)
        rows.append({"k": kk, "float_graph": _graph_scores(sub.front.graph, x, y),
                     "deployed": _graph_scores(sub.graph, x, y)})
    return rows


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
