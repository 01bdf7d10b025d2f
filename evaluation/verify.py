"""`verify`: is what runs on the target what was trained, and do all executors agree?

Accuracy: the PyTorch model (posterior mean, and its sampled ensemble) against
the deployed graph on the event simulator. Agreement: per backend, the fraction
of samples whose spike trains (every population, every step) and readout
membrane equal the event simulator's; the first divergence (sample, step, node,
neuron, both values) when any differ. Backends: `sim` (event-driven core),
`reference` (dense stepper, whole split), `lava` (Lava itself, loihi graphs),
`xylosim` (SynSense's simulator, xylo graphs), and the exports, each run in its
own runtime: `onnx` (onnxruntime), `lava-program` (the generated Lava program),
`nir` (the NIR file read back, ideal graphs). External ones run the first
`samples` samples.
"""
from __future__ import annotations

import numpy as np

from snnc.compiler.ir import Graph
from snnc.errors import InputError
from snnc.runtime import deploy
from snnc.evaluation.datasets import load_split
from snnc.evaluation.metrics import scores, softmax
from snnc.runtime.per_inference import energy, latency
from snnc.targets import all_targets
from snnc.targets import get as get_target
from snnc.targets.registry import executors


TRAINER_SAMPLES = 8   # the trainer's sampled ensemble (train.eval_samples' default): a mean graph's yardstick


def executor(backend: str):
    """run(graph, padded x [B, T, N]) -> {population: {"spikes", "v"}} of an executor backend,
    as the targets' records name it (`Target.executors`)."""
    from snnc.targets.registry import resolve

    for spec in all_targets().values():
        runners = {**spec.executors, **spec.round_trips}
        if backend in runners:
            return resolve(runners[backend])
    raise InputError(f"backend '{backend}' unknown (choose from {', '.join(backend_names())})")


def backend_names() -> tuple[str, ...]:
    """Every backend name: the two engines, then every executor some target names."""
    return ("sim", "reference", *executors())


def verify(graph: Graph, data: dict, checkpoint=None, backends=("sim", "reference"), samples: int = 100,
           split: str = "test", progress: bool = True, neurobench: bool = False) -> dict:
    """The verify report (see module docstring) as a JSON-ready dict.

    neurobench: NeuroBench's static and workload metrics of the float model beside
    snnc's counts (`evaluation.neurobench`; needs the checkpoint)."""
    _check_backends(graph, backends)
    x, y = load_split(data, split)
    logits, sim = deploy.run(graph, x, progress=progress)
    sim_trains = _trains(graph, sim.spikes, sim.state)
    report = {"target": graph.target, "split": split, "samples": int(len(x)), "labelled": y is not None,
              **latency(graph, x.shape[1] + int(graph.metadata.get("pad_steps", 0))),
              "steps": int(x.shape[1] + graph.metadata.get("pad_steps", 0)),
              "deployed": {"sim": _accuracy(logits, y)}, "agreement": {},
              "divergence": {}, "overflow_events": int(sim.totals.get("overflow_events", 0))}
    report.update(energy(graph, sim.spikes))
    if checkpoint is not None and str(checkpoint).endswith(".nir"):
        report.update(nir_float_scores(checkpoint, graph, x, y))
    elif checkpoint is not None:
        report.update(_float_scores(checkpoint, graph, x, y, logits))
    if neurobench:
        from snnc.evaluation.neurobench import side_by_side
        report["neurobench"] = side_by_side(checkpoint, x, y, report)
    round_trips = get_target(graph.target).round_trips
    for backend in backends:
        if backend == "sim":
            continue
        n = len(x) if backend == "reference" else min(_samples_for(samples, backend, len(x)), len(x))
        trains, their_logits = _run_backend(backend, graph, x[:n], progress)
        report["deployed"][backend] = _accuracy(their_logits, None if y is None else y[:n])
        tolerance = _tolerance(backend)
        if tolerance:
            report.setdefault("tolerance", {})[backend] = tolerance
        agree, first = _compare(sim_trains, trains, n, tolerance)
        # a round trip (the export read back into snnc) checks the export, not the arithmetic
        kind = "round_trip" if backend in round_trips else "agreement"
        report.setdefault(kind, {})[backend] = agree
        report["agreement_samples"] = {**report.get("agreement_samples", {}), backend: n}
        if first:
            report["divergence"][backend] = first
    return report


def _accuracy(logits, y) -> float | None:
    """Accuracy of the logits' argmax; None on unlabelled data (a user's file without y_<split>)."""
    return None if y is None else scores(softmax(logits), y)["accuracy"]


def _samples_for(samples, backend: str, everything: int) -> int:
    """`samples` is one count for every external backend, or a dict per backend (others: all)."""
    return samples.get(backend, everything) if isinstance(samples, dict) else int(samples)


def _check_backends(graph, backends) -> None:
    for b in backends:
        if b not in backend_names():
            raise InputError(f"backend '{b}' unknown (choose from {', '.join(backend_names())})")
        runs = executors().get(b)
        spec = get_target(graph.target)
        if runs is not None and b not in spec.executors and b not in spec.round_trips:
            raise InputError(f"backend '{b}' runs {' and '.join(runs)} graphs; this graph is for '{graph.target}'")


def nir_float_scores(path, graph, x, y) -> dict:
    """A graph compiled from NIR file `path` against that file's float graph (NIR's semantics on
    `ideal`, the dt it was compiled with) on the same samples: output agreement (argmax, spikes
    per output population) and, with labels, the float graph's accuracy."""
    from snnc.compiler.frontend.nir import nir_float_net
    from snnc.evaluation.agreement import output_agreement

    front = nir_float_net(path, graph.target, calibrate=1, steps=x.shape[1], dt=graph.metadata.get("dt"),
                          calibrate_random=True)
    out = {"float_graph_agreement": output_agreement(front.graph, graph, x)}
    if y is not None:
        out["float_accuracy"] = scores(softmax(deploy.run(front.graph, x)[0]), y)["accuracy"]
    return out


def _float_scores(checkpoint, graph, x, y, logits) -> dict:
    """The PyTorch model on the same samples: posterior mean, and the ensemble of the
    graph's own K draws (a graph of K posterior samples), else of the trainer's 8. Without
    labels: how often the deployed graph's argmax equals each of theirs (`float_agreement`)."""
    from snnc.evaluation.compiled import torch_probabilities
    from snnc.train.trainer import checkpoint_info

    k = int(graph.metadata.get("k", 1)) if graph.metadata.get("mode") == "samples" else TRAINER_SAMPLES
    seed = int(graph.metadata.get("seed", 0))
    mean_p, sampled_p = (torch_probabilities(checkpoint, "mean", 1, seed, x),
                         torch_probabilities(checkpoint, "samples", k, seed, x))
    if y is None:
        deployed = np.asarray(logits).argmax(1)
        out = {"float_samples_k": k, "float_agreement": {"mean": float(np.mean(mean_p.argmax(1) == deployed)),
                                                          "sampled": float(np.mean(sampled_p.argmax(1) == deployed))}}
    else:
        mean, sampled = scores(mean_p, y), scores(sampled_p, y)
        out = {"float_accuracy": mean["accuracy"], "float_accuracy_sampled": sampled["accuracy"],
               "float_samples_k": k, "float": {"mean": mean, "sampled": sampled}}
    sha = checkpoint_info(checkpoint)["sha256"]
    if graph.metadata.get("checkpoint_sha256") not in (None, sha):
        out["warning"] = "the checkpoint is not the one this graph was compiled from (sha256 differs)"
    return out


def _trains(graph, spikes, state) -> dict[str, np.ndarray]:
    """What must agree: every population's spikes, and the decoded population's v."""
    _, _, pop = deploy.output_node(graph)
    trains = {f"{n}.spikes": np.asarray(spikes[n]) for n in deploy.populations(graph) if n in spikes}
    trains.update({f"{n}.v": np.asarray(state[n]["v"]) for n in deploy.populations(graph)
                   if n not in graph.neurons and n in state})   # a dense layer's output (runtime/dense.py)
    trains[f"{pop}.v"] = np.asarray(state[pop]["v"])
    return trains


def _run_backend(backend, graph, x, progress):
    padded = deploy.pad_input(graph, x)
    if backend == "reference":
        logits, res = deploy.run(graph, x, engine="reference", progress=progress)
        return _trains(graph, res.spikes, res.state), logits
    out = executor(backend)(graph, padded)
    spikes = {n: out[n]["spikes"] for n in deploy.populations(graph) if "spikes" in out[n]}
    # a layer an executor fuses away (tflite: a Gemm into its Step) has no "v" and is not compared
    state = {n: {"v": out[n]["v"]} for n in deploy.populations(graph) if "v" in out[n]}
    return _trains(graph, spikes, state), deploy.decode(graph, spikes, state)


def _tolerance(backend: str) -> dict:
    """What a float executor may differ by, per recorded variable (its runner's `tolerance`);
    {} for the integer executors, which must agree bit for bit."""
    if backend == "reference":
        return {}
    return dict(getattr(executor(backend), "tolerance", {}))


def _compare(ours: dict, theirs: dict, n: int, tolerance: dict | None = None) -> tuple[float, dict | None]:
    """Fraction of the first n samples equal in every train (within `tolerance` per variable,
    e.g. {"v": {"rtol", "atol"}}, where one is stated); the first divergence."""
    equal = np.ones(n, bool)
    first = None
    for key, a in ours.items():
        if key not in theirs:     # fused away by the executor (its output is compared in the next layer's)
            continue
        a, b = a[:n], np.asarray(theirs[key])[:n]
        tol = (tolerance or {}).get(key.split(".")[1])
        match = np.isclose(b, a, **tol) if tol else a == b
        same = match.reshape(n, -1).all(axis=1)
        equal &= same
        if not same.all():
            s = int(np.flatnonzero(~same)[0])
            t, j = (int(i) for i in np.argwhere(~match[s])[0][:2])
            cand = {"sample": s, "step": t, "node": key.split(".")[0], "what": key.split(".")[1],
                    "neuron": j, "sim": a[s, t, j].item(), "backend": b[s, t, j].item()}
            if first is None or (s, t) < (first["sample"], first["step"]):
                first = cand
    return float(equal.mean()), first


