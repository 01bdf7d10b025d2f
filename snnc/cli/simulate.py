"""`snnc simulate FILE.snnc --input spikes.npy`: run, print, report JSON, plot PNG."""
from __future__ import annotations

import tokenize

import numpy as np

from snnc.args import ArgumentParser
from snnc.compiler.ir import load
from snnc.errors import InputError
from snnc.io import read_npy, require_file
from snnc.cli.plots import render_plot
from snnc.cli.report import print_latency, print_per_inference, print_summary
from snnc.io import plot_format
from snnc.runtime.simulate import ENGINES, simulate


def cmd_simulate(argv: list[str]) -> int:
    parser = ArgumentParser(prog="snnc simulate", description=__doc__)
    parser.add_argument("file", help="compiled graph (.snnc)")
    parser.add_argument("--input", help="spike counts .npy, [T, N] or [B, T, N]")
    parser.add_argument("--data", nargs="?", const="", metavar="NAME|FILE.npz|FOLDER",
                        help="a data set split instead of --input (a name: digits, digits-seq; your .npz; a "
                             "folder of a data set's files as tonic lays them out; default: the one the graph "
                             "was compiled for, with its encoding and classes); reports accuracy where labelled "
                             "(a compiled KAN: its own problem, the deployed MSE)")
    parser.add_argument("--split", default="test", choices=("train", "test"))
    parser.add_argument("--report", help="write the JSON report here")
    parser.add_argument("--plot", help="write a figure (raster of one sample, rates, energy) here: .png, .pdf or .svg")
    parser.add_argument("--out", metavar="Y.npz",
                        help="--input: write every output population's spikes (spikes__POP, [B, T', n]) and "
                             "decoded values (values__OUTPUT, [B, n]) here")
    parser.add_argument("--engine", default="event", choices=sorted(ENGINES))
    parser.add_argument("--threads", type=int, default=None,
                        help="samples run side by side on this many cores (default: every core; same result)")
    parser.add_argument("--check", default="error", choices=("error", "warn"),
                        help="warn: run a graph that breaks capacity rules (sizes, fan-out), listing them")
    args = parser.parse_args(argv)
    _check_outputs(args)
    graph = load(args.file)
    if args.input is not None and args.data is not None:
        raise InputError("give --input or --data, not both")
    if args.out and args.input is None:
        raise InputError("--out writes the outputs of an --input run (with --data: --report)")
    if args.input is None:
        return _simulate_data(graph, args)
    spikes = load_spikes(args.input)
    try:
        values, result = _run_input(graph, spikes, args)
    except InputError as exc:  # what is wrong with the input: name the file it came from
        raise InputError(f"{args.input}: {exc}") from None
    print_summary(result)
    _write(args, result.summary(), lambda fmt: render_plot(result, fmt))
    if args.out:
        _write_outputs(args.out, graph, result, values, spikes.ndim == 3)
    return 0


def _run_input(graph, spikes, args):
    """(decoded values [B, n] or None, SimResult). A graph that runs on any length (from a NIR
    file), appends bias channels or holds analog input as bit planes runs as deployed: its input
    encoded and padded for its latency by the host (`deploy.pad_input`), then decoded."""
    from snnc.runtime import deploy

    meta = graph.metadata
    if meta.get("any_steps") or meta.get("bias_channels") or meta.get("input_planes"):
        x = spikes if spikes.ndim == 3 else spikes[None]
        return deploy.run(graph, x, engine=args.engine, progress=True, check=args.check, threads=args.threads)
    record = ("v",) if args.out else ()
    result = simulate(graph, spikes, record=record, progress=True, check=args.check, engine=args.engine,
                      threads=args.threads)
    if not args.out:
        return None, result
    batch = {n: np.asarray(v) if spikes.ndim == 3 else np.asarray(v)[None] for n, v in result.spikes.items()}
    state = {n: {"v": np.asarray(s["v"]) if spikes.ndim == 3 else np.asarray(s["v"])[None]}
             for n, s in result.state.items()}
    return deploy.decode(graph, batch, state), result


def _write_outputs(path, graph, result, values, batched: bool) -> None:
    """Each Output's population spikes and decoded values as one .npz, replaced atomically."""
    from snnc.io import atomic_path

    arrays = {}
    for name in graph.outputs:
        pop = graph.predecessors(name)[0]
        spikes = np.asarray(result.spikes[pop])
        arrays[f"spikes__{pop}"] = spikes if batched or spikes.ndim == 2 else spikes[0]
        arrays[f"values__{name}"] = values if batched else values[0]
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    print(f"outputs: {path}")


def _simulate_data(graph, args) -> int:
    """Deployed run on a data set: accuracy, per-inference counters and energy, latency."""
    from snnc.runtime import deploy
    from snnc.evaluation.datasets import data_from_graph, load_split
    from snnc.runtime.per_inference import energy, latency
    from snnc.evaluation.verify_regression import is_regression

    if is_regression(graph):
        return _simulate_regression(graph, args)

    data = data_from_graph(graph, args.data or None)
    x, y = load_split(data, args.split)
    logits, result = deploy.run(graph, x, engine=args.engine, progress=True, check=args.check,
                                threads=args.threads)
    per_inf = energy(graph, result.spikes)
    summary = {"data": data, "split": args.split, "samples": int(len(x)),
               "accuracy": None if y is None else float(np.mean(logits.argmax(1) == y)),
               **latency(graph, result.steps), "steps": int(result.steps),
               **per_inf, "overflow_events": result.totals["overflow_events"],
               "violations": getattr(result, "violations", [])}
    scored = "unlabelled" if y is None else f"accuracy {summary['accuracy']:.4f}"
    print(f"{data.get('name') or data.get('file')} {args.split}: {len(x)} samples, {scored}")
    print_per_inference(per_inf)
    print_latency(summary)
    _write(args, summary, lambda fmt: render_plot(result, fmt, per_inference=per_inf, title=args.file,
                                                  read_step=deploy.output_node(graph)[1].step))
    return 0


def _simulate_regression(graph, args) -> int:
    """A compiled KAN on its own problem's split: deployed MSE and the per-inference counters."""
    if args.data:
        raise InputError(f"{args.file}: a compiled KAN runs on its own problem, not '{args.data}': "
                         "give --data without a name")
    if args.plot:
        raise InputError(f"{args.file}: --plot draws spiking runs; a compiled KAN's surface and error: "
                         "`snnc verify FILE --plot err.png`")
    from snnc.cli.report import print_regression
    from snnc.evaluation.verify_regression import verify_regression

    report = verify_regression(graph, backends=("sim",), split=args.split)
    report.pop("deployed_values")
    summary = {"data": graph.metadata.get("data"), **report, "mse": report["deployed_mse"]["sim"]}
    print(f"{summary['data']['name']} {args.split}: {report['samples']} points, deployed MSE {summary['mse']:.4g}")
    print_regression(report)
    _write(args, summary, None)
    return 0


def _check_outputs(args) -> None:
    """Refuse a bad --report or --plot path before anything runs or is written."""
    from snnc.errors import OutputError
    from snnc.io import check_writable

    if args.plot:
        plot_format(args.plot)
    if args.report and args.plot and check_writable(args.report) == check_writable(args.plot):
        raise OutputError(f"--report and --plot name the same file ({args.report})")
    for path in (args.report, args.plot, args.out):
        if path:
            check_writable(path)


def _write(args, summary: dict, render) -> None:
    """The figure is drawn (in memory) before either file is written, so a failure
    leaves neither half-done; each file is replaced atomically."""
    from snnc.io import atomic_path, write_json

    figure = render(plot_format(args.plot)) if args.plot else None
    if args.report:
        write_json(args.report, summary)
        print(f"report: {args.report}")
    if args.plot:
        with atomic_path(args.plot) as tmp:
            tmp.write_bytes(figure)
        print(f"plot: {args.plot}")


def load_spikes(path) -> np.ndarray:
    """Read a spike array from .npy (never unpickling); one-line error otherwise."""
    path = require_file(path, "a .npy spike array")
    try:
        with open(path, "rb") as fh:
            head = fh.read(6)
            if head[:2] == b"PK":
                raise InputError(f"{path}: is a zip/.npz archive; --input takes one .npy array "
                                 f"(np.save(path, spikes))")
            if head != b"\x93NUMPY":
                raise InputError(f"{path}: not a readable .npy array (no NumPy magic; write it with np.save)")
            fh.seek(0)
            return read_npy(fh, path.stat().st_size, str(path), InputError)
    except InputError:
        raise
    except (ValueError, OSError, EOFError, SyntaxError, TypeError, OverflowError, MemoryError,
            RecursionError, tokenize.TokenError) as exc:
        raise InputError(f"{path}: not a readable .npy array ({str(exc).splitlines()[0][:120]})") from None


