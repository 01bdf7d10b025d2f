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
from snnc.runtime.datasets import load_split
from snnc.runtime.metrics import scores, softmax
from snnc.runtime.per_inference import energy, latency
from snnc.targets import all_targets
from snnc.targets import get as get_target
from snnc.targets.registry import executors


def executor(backend: str):
    """run(graph, padded x [B, T, N]) -> {population: {"spikes", "v"}} of an executor backend,
    as the targets' records name it (`Target.executors`)."""
    from snnc.targets.registry import resolve

    for spec in all_targets().values():
        if backend in spec.executors:
            return resolve(spec.executors[backend])
    raise InputError(f"backend '{backend}' unknown (choose from {', '.join(backend_names())})")


def backend_names() -> tuple[str, ...]:
    """Every backend name: the two engines, then every executor some target names."""
    return ("sim", "reference", *executors())


def verify(graph: Graph, data: dict, checkpoint=None, backends=("sim", "reference"), samples: int = 100,
           split: str = "test", progress: bool = True, neurobench: bool = False) -> dict:
    """The verify report (see module docstring) as a JSON-ready dict.

    neurobench: NeuroBench's static and workload metrics of the float model beside
    snnc's counts (`runtime.neurobench`; needs the checkpoint)."""
    _check_backends(graph, backends)
    x, y = load_split(data, split)
    logits, sim = deploy.run(graph, x, progress=progress)
    sim_trains = _trains(graph, sim.spikes, sim.state)
    report = {"target": graph.target, "split": split, "samples": int(len(y)),
              **latency(graph, x.shape[1] + int(graph.metadata.get("pad_steps", 0))),
              "steps": int(x.shape[1] + graph.metadata.get("pad_steps", 0)),
              "deployed": {"sim": scores(softmax(logits), y)["accuracy"]}, "agreement": {},
              "divergence": {}, "overflow_events": int(sim.totals.get("overflow_events", 0))}
    report.update(energy(graph, sim.spikes))
    if checkpoint is not None:
        report.update(_float_scores(checkpoint, graph, x, y))
    if neurobench:
        from snnc.runtime.neurobench import side_by_side
        report["neurobench"] = side_by_side(checkpoint, x, y, report)
    for backend in backends:
        if backend == "sim":
            continue
        n = len(y) if backend == "reference" else min(_samples_for(samples, backend, len(y)), len(y))
        trains, their_logits = _run_backend(backend, graph, x[:n], progress)
        report["deployed"][backend] = scores(softmax(their_logits), y[:n])["accuracy"]
        agree, first = _compare(sim_trains, trains, n)
        report["agreement"][backend] = agree
        report["agreement_samples"] = {**report.get("agreement_samples", {}), backend: n}
        if first:
            report["divergence"][backend] = first
    return report


def _samples_for(samples, backend: str, everything: int) -> int:
    """`samples` is one count for every external backend, or a dict per backend (others: all)."""
    return samples.get(backend, everything) if isinstance(samples, dict) else int(samples)


def _check_backends(graph, backends) -> None:
    for b in backends:
        if b not in backend_names():
            raise InputError(f"backend '{b}' unknown (choose from {', '.join(backend_names())})")
        runs = executors().get(b)
        if runs is not None and b not in get_target(graph.target).executors:
            raise InputError(f"backend '{b}' runs {' and '.join(runs)} graphs; this graph is for '{graph.target}'")


def _float_scores(checkpoint, graph, x, y) -> dict:
    """The PyTorch model on the same samples: posterior mean, and the ensemble of
    the graph's K draws (at least 8, the trainer's default)."""
    from snnc.compiler.compile import torch_probabilities
    from snnc.train.trainer import checkpoint_info

    k = int(graph.metadata.get("k", 1))
    seed = int(graph.metadata.get("seed", 0))
    mean = scores(torch_probabilities(checkpoint, "mean", 1, seed, x), y)
    sampled = scores(torch_probabilities(checkpoint, "samples", max(k, 8), seed, x), y)
    sha = checkpoint_info(checkpoint)["sha256"]
    out = {"float_accuracy": mean["accuracy"], "float_accuracy_sampled": sampled["accuracy"],
           "float": {"mean": mean, "sampled": sampled}}
    if graph.metadata.get("checkpoint_sha256") not in (None, sha):
        out["warning"] = "the checkpoint is not the one this graph was compiled from (sha256 differs)"
    return out


def _trains(graph, spikes, state) -> dict[str, np.ndarray]:
    """What must agree: every population's spikes, and the decoded population's v."""
    _, _, pop = deploy.output_node(graph)
    trains = {f"{n}.spikes": np.asarray(spikes[n]) for n in deploy.populations(graph) if n in spikes}
    trains.update({f"{n}.v": np.asarray(state[n]["v"]) for n in deploy.populations(graph)
                   if n not in graph.neurons})   # a dense layer's output (runtime/dense.py)
    trains[f"{pop}.v"] = np.asarray(state[pop]["v"])
    return trains


def _run_backend(backend, graph, x, progress):
    padded = deploy.pad_input(graph, x)
    if backend == "reference":
        logits, res = deploy.run(graph, x, engine="reference", progress=progress)
        return _trains(graph, res.spikes, res.state), logits
    out = executor(backend)(graph, padded)
    spikes = {n: out[n]["spikes"] for n in deploy.populations(graph) if "spikes" in out[n]}
    state = {n: {"v": out[n]["v"]} for n in deploy.populations(graph)}
    return _trains(graph, spikes, state), deploy.decode(graph, spikes, state)


def _compare(ours: dict, theirs: dict, n: int) -> tuple[float, dict | None]:
    """Fraction of the first n samples equal in every train; the first divergence."""
    equal = np.ones(n, bool)
    first = None
    for key, a in ours.items():
        a, b = a[:n], np.asarray(theirs[key])[:n]
        same = (a == b).reshape(n, -1).all(axis=1)
        equal &= same
        if not same.all():
            s = int(np.flatnonzero(~same)[0])
            t, j = (int(i) for i in np.argwhere(a[s] != b[s])[0][:2])
            cand = {"sample": s, "step": t, "node": key.split(".")[0], "what": key.split(".")[1],
                    "neuron": j, "sim": a[s, t, j].item(), "backend": b[s, t, j].item()}
            if first is None or (s, t) < (first["sample"], first["step"]):
                first = cand
    return float(equal.mean()), first


def cmd_verify(argv: list[str]) -> int:
    """`snnc verify F.snnc --checkpoint CKPT --backends sim,reference,lava --samples N --json v.json`."""
    from snnc.args import ArgumentParser
    from snnc.compiler.ir import load
    from snnc.io import write_json
    from snnc.runtime.datasets import data_from_graph

    parser = ArgumentParser(prog="snnc verify", description=__doc__.splitlines()[0])
    parser.add_argument("file", help="compiled graph (.snnc)")
    parser.add_argument("--checkpoint", help="the checkpoint it was compiled from (float accuracies)")
    parser.add_argument("--data", help="data set (default: the checkpoint's own, with its encoding and classes)")
    parser.add_argument("--split", default="test", choices=("train", "test"))
    parser.add_argument("--backends", default="sim,reference", help=f"comma-separated: {', '.join(backend_names())}")
    parser.add_argument("--samples", type=int, default=None,
                        help="samples run on the external executors (default 100; not for regression graphs, "
                             "which run their whole split)")
    parser.add_argument("--json", help="write the report here")
    parser.add_argument("--neurobench", action="store_true",
                        help="NeuroBench's metrics of the float model beside snnc's counts (needs --checkpoint)")
    parser.add_argument("--plot", help="regression graphs: fitted surface and error (.png, .pdf or .svg)")
    parser.add_argument("--allow-other-checkpoint", action="store_true",
                        help="compare with a --checkpoint that is not the one the graph was compiled from")
    args = parser.parse_args(argv)
    if args.neurobench and not args.checkpoint:
        raise InputError("--neurobench measures the float model: give its --checkpoint")
    graph = load(args.file)
    args.backends = _backend_list(args.backends)
    _check_outputs(args)
    _check_provenance(graph, args.checkpoint, args.allow_other_checkpoint)
    if graph.metadata.get("task") == "regression":  # a compiled KAN: runtime/verify_regression.py
        from snnc.runtime.verify_regression import cmd_verify_regression
        return cmd_verify_regression(graph, args)
    if args.plot:
        raise InputError("--plot draws regression graphs (a compiled KAN); use `snnc simulate --plot` here")
    samples = 100 if args.samples is None else args.samples
    if samples < 1:
        raise InputError(f"--samples must be at least 1, got {samples}")
    report = verify(graph, data_from_graph(graph, args.data), args.checkpoint, args.backends, samples,
                    args.split, neurobench=args.neurobench)
    print_verify(report)
    if args.json:
        write_json(args.json, report)
        print(f"report: {args.json}")
    return 0 if all(a == 1.0 for a in report["agreement"].values()) else 1


def _backend_list(text: str) -> list[str]:
    backends = [b.strip() for b in text.split(",") if b.strip()]
    if not backends:
        raise InputError(f"--backends names no backend (choose from {', '.join(backend_names())})")
    if len(set(backends)) != len(backends):
        raise InputError(f"--backends names a backend twice: {','.join(backends)}")
    return backends


def _check_outputs(args) -> None:
    """Refuse a bad --json or --plot path before anything runs."""
    from snnc.io import check_writable
    from snnc.io import plot_format

    if args.plot:
        plot_format(args.plot)
    for path in (args.json, args.plot):
        if path:
            check_writable(path)


def _check_provenance(graph, checkpoint, allow_other: bool) -> None:
    """--checkpoint must be the file the graph was compiled from (its sha256), unless allowed."""
    from pathlib import Path

    from snnc.train.checkpoint import file_sha256

    if checkpoint is None or allow_other:
        return
    if not Path(checkpoint).is_file():
        why = "not a regular file" if Path(checkpoint).exists() else "no such file"
        raise InputError(f"{checkpoint}: {why} (expected the checkpoint.pt the graph was compiled from)")
    recorded = graph.metadata.get("checkpoint_sha256")
    if recorded is None:
        raise InputError(f"{checkpoint}: the graph records no checkpoint it was compiled from, so this one "
                         "cannot be checked against it (--allow-other-checkpoint compares anyway)")
    if file_sha256(checkpoint) != recorded:
        raise InputError(f"{checkpoint}: not the checkpoint this graph was compiled from (sha256 differs; "
                         "--allow-other-checkpoint compares anyway)")


def print_verify(r: dict) -> None:
    if "warning" in r:
        print(f"warning: {r['warning']}")
    if "float_accuracy" in r:
        print(f"float (PyTorch) posterior mean {r['float_accuracy']:.4f}, sampled ensemble "
              f"{r['float_accuracy_sampled']:.4f}")
    print(f"{'backend':<11}{'samples':>8}{'deployed acc':>14}{'agreement':>11}")
    for b, acc in r["deployed"].items():
        n = r.get("agreement_samples", {}).get(b, r["samples"])
        agree = r["agreement"].get(b)
        print(f"{b:<11}{n:>8}{acc:>14.4f}{'' if agree is None else f'{agree:.4f}':>11}")
    from snnc.runtime.cli import print_latency, print_per_inference
    print_per_inference(r)
    print(f"synaptic events {r['synaptic_events_per_inference']:.0f}, spikes {r['spikes_per_inference']:.0f} "
          "per inference")
    print_latency(r)
    if "neurobench" in r:
        from snnc.runtime.neurobench import print_side_by_side
        print_side_by_side(r["neurobench"])
    for b, d in r["divergence"].items():
        print(f"first divergence ({b}): sample {d['sample']}, step {d['step']}, node '{d['node']}' {d['what']}, "
              f"neuron {d['neuron']}: sim {d['sim']} vs {b} {d['backend']}")
