"""`snnc verify F.snnc`: accuracy and bit-exact agreement of a compiled graph on every
executor (snnc.evaluation.verify; regression graphs: snnc.evaluation.verify_regression)."""
from __future__ import annotations

from snnc.cli.report import print_regression, print_verify
from snnc.compiler.ir import Graph
from snnc.errors import InputError
from snnc.evaluation.verify import backend_names, verify
from snnc.evaluation.verify_regression import verify_regression
from snnc.targets import get as get_target


def cmd_verify(argv: list[str]) -> int:
    """`snnc verify F.snnc --checkpoint CKPT --backends sim,reference,lava --samples N --json v.json`."""
    from snnc.args import ArgumentParser
    from snnc.compiler.ir import load
    from snnc.io import write_json
    from snnc.evaluation.datasets import data_from_graph

    parser = ArgumentParser(prog="snnc verify", description=__doc__.splitlines()[0])
    parser.add_argument("file", help="compiled graph (.snnc)")
    parser.add_argument("--checkpoint", help="the checkpoint (float accuracies) or NIR file (its float graph's "
                                             "agreement) the graph was compiled from")
    parser.add_argument("--data", metavar="NAME|FILE.npz|FOLDER",
                        help="a data set name, your .npz (x_test and optionally y_test: without labels, agreement "
                             "only) or a folder of a data set's files as tonic lays them out (default: the "
                             "graph's own, with its encoding and classes)")
    parser.add_argument("--split", default="test", choices=("train", "test"))
    parser.add_argument("--backends", default=None,
                        help=f"comma-separated: {', '.join(backend_names())}; at least one independent executor "
                             "(default: sim, reference and the target's own: Lava, xylosim, onnxruntime)")
    parser.add_argument("--samples", type=int, default=None,
                        help="samples run on the external executors (default 100; not for regression graphs, "
                             "which run their whole split)")
    parser.add_argument("--json", help="write the report here")
    parser.add_argument("--neurobench", action="store_true",
                        help="NeuroBench's metrics of the float model beside snnc's counts (needs --checkpoint)")
    parser.add_argument("--plot", help="regression graphs: fitted surface and error (.png, .pdf or .svg)")
    parser.add_argument("--max-drop", type=float, default=None,
                        help="with --checkpoint: exit 1 when the deployed test accuracy is more than this below the "
                             "PyTorch model's (default: the target's, as compile's gate)")
    parser.add_argument("--allow-other-checkpoint", action="store_true",
                        help="compare with a --checkpoint that is not the one the graph was compiled from")
    args = parser.parse_args(argv)
    if args.neurobench and not args.checkpoint:
        raise InputError("--neurobench measures the float model: give its --checkpoint")
    graph = load(args.file)
    args.backends = _backend_list(graph, args.backends)
    _check_outputs(args)
    _check_provenance(graph, args.checkpoint, args.allow_other_checkpoint)
    if graph.metadata.get("task") == "regression":  # a compiled KAN: runtime/verify_regression.py
        return cmd_verify_regression(graph, args)
    if args.plot:
        raise InputError("--plot draws regression graphs (a compiled KAN); use `snnc simulate --plot` here")
    samples = 100 if args.samples is None else args.samples
    if samples < 1:
        raise InputError(f"--samples must be at least 1, got {samples}")
    report = verify(graph, data_from_graph(graph, args.data), args.checkpoint, args.backends, samples,
                    args.split, neurobench=args.neurobench)
    print_verify(report)
    passed = _passes_gate(graph, report, args.max_drop)
    if args.json:
        write_json(args.json, report)
        print(f"report: {args.json}")
    checked = [*report["agreement"].values(), *report.get("round_trip", {}).values()]
    return 0 if all(a == 1.0 for a in checked) and passed else 1


def _passes_gate(graph, report: dict, max_drop: float | None) -> bool:
    """compile's fidelity gate on verify's figures: the deployed accuracy against the PyTorch model
    (its K-draw ensemble for a graph of K samples), or without labels how often their argmax
    agree (at least MIN_AGREEMENT); prints why when it fails."""
    from snnc.evaluation.compiled import MIN_AGREEMENT

    key = "sampled" if graph.metadata.get("mode") == "samples" else "mean"
    if "float_graph_agreement" in report and "float_accuracy" not in report:   # a NIR file, no labels
        a = report["float_graph_agreement"]
        agree = min([a["argmax"], *a["spikes"].values()])
        report["gate"] = {"agreement": agree, "min_agreement": MIN_AGREEMENT, "passed": agree >= MIN_AGREEMENT}
        if not report["gate"]["passed"]:
            print(f"gate: the deployed graph agrees with the NIR file's float graph on {100 * agree:.2f}% (lowest of "
                  f"argmax and output spike agreement; at least {100 * MIN_AGREEMENT:.0f}% needed)")
        return report["gate"]["passed"]
    if "float_agreement" in report:
        agree = report["float_agreement"][key]
        report["gate"] = {"argmax_agreement": agree, "min_agreement": MIN_AGREEMENT, "passed": agree >= MIN_AGREEMENT}
        if not report["gate"]["passed"]:
            print(f"gate: the deployed graph's prediction equals the PyTorch model's on {100 * agree:.2f}% of the "
                  f"samples (fewer than {100 * MIN_AGREEMENT:.0f}%; unlabelled data)")
        return report["gate"]["passed"]
    if "float_accuracy" not in report:
        return True
    limit = get_target(graph.target).max_drop if max_drop is None else max_drop
    drop = report["float_accuracy_sampled" if key == "sampled" else "float_accuracy"] - report["deployed"]["sim"]
    report["gate"] = {"drop": drop, "max_drop": limit, "passed": drop <= limit + 1e-12}
    if not report["gate"]["passed"]:
        print(f"gate: deployed test accuracy {100 * drop:.2f} points below the PyTorch model's "
              f"(more than --max-drop {100 * limit:.2f})")
    return report["gate"]["passed"]


def _backend_list(graph, text: str | None) -> list[str]:
    """The backends to run: the default, or the list given, which must name one of the graph's
    independent executors (sim and reference share the target's arithmetic: agreeing with
    each other they prove nothing about it)."""
    own = get_target(graph.target).executors
    if text is None:
        regression = graph.metadata.get("task") == "regression"
        return ["sim", *([] if regression else ["reference"]), next(iter(own))]
    backends = [b.strip() for b in text.split(",") if b.strip()]
    if not backends:
        raise InputError(f"--backends names no backend (choose from {', '.join(backend_names())})")
    if len(set(backends)) != len(backends):
        raise InputError(f"--backends names a backend twice: {','.join(backends)}")
    unknown = [b for b in backends if b not in backend_names()]
    if unknown:
        raise InputError(f"backend '{unknown[0]}' unknown (choose from {', '.join(backend_names())})")
    if not any(b in own for b in backends):
        raise InputError(f"--backends {','.join(backends)} names no independent executor of a '{graph.target}' "
                         f"graph (add one of: {', '.join(own)})")
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
    from snnc.io import require_file
    from snnc.train.checkpoint import file_sha256

    if checkpoint is None or allow_other:
        return
    require_file(checkpoint, "the checkpoint.pt the graph was compiled from")
    recorded = graph.metadata.get("checkpoint_sha256")
    if recorded is None:
        raise InputError(f"{checkpoint}: the graph records no checkpoint it was compiled from, so this one "
                         "cannot be checked against it (--allow-other-checkpoint compares anyway)")
    if file_sha256(checkpoint) != recorded:
        raise InputError(f"{checkpoint}: not the checkpoint this graph was compiled from (sha256 differs; "
                         "--allow-other-checkpoint compares anyway)")


def cmd_verify_regression(graph: Graph, args) -> int:
    """The `snnc verify` path for a regression graph (args as `runtime.verify.cmd_verify` parsed them)."""
    from snnc.io import write_json

    for flag, value in (("--data", args.data), ("--neurobench", args.neurobench), ("--samples", args.samples)):
        if value is not None and value is not False:
            raise InputError(f"{flag}: a regression graph is verified on its whole {args.split} split of its "
                             "own problem (KAN), without it")
    report = verify_regression(graph, args.checkpoint, args.backends, args.split)
    values = {k: report.pop(f"{k}_values", None) for k in ("float", "deployed")}   # arrays: not JSON
    print_regression(report)
    if args.plot:
        from snnc.cli.plots import plot_regression
        plot_regression(graph, args.plot, args.checkpoint, values, args.split)
        print(f"plot: {args.plot}")
    if args.json:
        write_json(args.json, report)
        print(f"report: {args.json}")
    return 0 if all(a == 1.0 for a in report["agreement"].values()) else 1
