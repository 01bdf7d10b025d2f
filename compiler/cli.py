"""`snnc inspect FILE.snnc`: nodes, sizes, bit widths and memory of a compiled graph."""
from __future__ import annotations

import json
import sys

from snnc.args import ArgumentParser
from snnc.compiler.inventory import node_row
from snnc.compiler.ir import load
from snnc.targets import all_targets


def cmd_inspect(argv: list[str]) -> int:
    parser = ArgumentParser(prog="snnc inspect", description=__doc__)
    parser.add_argument("file", help="a .snnc graph")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    args = parser.parse_args(argv)
    graph = load(args.file)
    rows = [node_row(graph, name, node) for name, node in graph.nodes.items()]
    total = sum(r["memory_bits"] for r in rows)
    if args.json:
        print(json.dumps({"file": args.file, "target": graph.target, "metadata": graph.metadata,
                          "nodes": rows, "memory_bytes": total // 8}, indent=2))
        return 0
    print(f"{args.file}: target '{graph.target}', {len(graph.nodes)} nodes, {len(graph.edges)} edges")
    print(f"{'node':<14}{'type':<10}{'in':>6}{'out':>6}  {'bits':<22}{'memory':>10}  details")
    for r in rows:
        print(f"{r['name']:<14}{r['type']:<10}{r['in']:>6}{r['out']:>6}  {r['bits']:<22}"
              f"{_bytes(r['memory_bits']):>10}  {r['details']}")
    print(f"total memory: {_bytes(total)}")
    return 0


def _bytes(bits: int) -> str:
    b = bits / 8
    return f"{b:.0f} B" if b < 1024 else f"{b / 1024:.1f} KiB"


MAX_SEED = 1 << 53  # the .snnc format's largest integer (compiler/ir/serialize.py MAX_INT): the seed is stored


def cmd_compile(argv: list[str]) -> int:
    """`snnc compile CKPT --target T --mode mean|samples --k K --calibrate N --out F.snnc`."""
    from pathlib import Path

    from snnc.compiler.compile import DEFAULT_CALIBRATION, compile_checkpoint
    from snnc.compiler.ir import save
    from snnc.io import atomic_paths, check_writable, write_json

    parser = ArgumentParser(prog="snnc compile", description="compile a trained checkpoint for a target")
    parser.add_argument("checkpoint", help="checkpoint.pt written by `snnc train`")
    parser.add_argument("--target", required=True, choices=sorted(all_targets()))
    parser.add_argument("--mode", default=None, choices=("mean", "samples"),
                        help="posterior mean (default), or K posterior samples side by side (SBNN checkpoints)")
    parser.add_argument("--k", type=int, default=None, help="posterior samples (mode samples; default 8)")
    parser.add_argument("--calibrate", type=int, default=DEFAULT_CALIBRATION,
                        help="training samples that size the integer scales")
    parser.add_argument("--pwl-segments", type=int, default=None,
                        help="KAN of order > 2: approximate every edge by this many linear pieces")
    parser.add_argument("--kan-lowering", default=None, choices=("pwl", "gemm"),
                        help="KAN: one PWL node per layer (default), or five Gemm/Relu steps per layer")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the posterior draws (mode samples; 0..2^53, default 0)")
    parser.add_argument("--out", required=True, help="the .snnc to write (the report goes beside it)")
    args = parser.parse_args(argv)
    kind = _input_kind(args)
    out = Path(args.out)
    report_path = out.with_suffix(".report.json")
    check_writable(out), check_writable(report_path)  # refuse a bad output before the work
    if kind == "nir":  # a NIR file from snnTorch, sinabs, Rockpool or snnc
        from snnc.compiler.frontend.nir import compile_nir
        compiled = compile_nir(args.checkpoint, args.target, args.calibrate, seed=0)
    elif kind == "kan":  # a KAN regression run: snnc.compiler.compile_kan
        from snnc.compiler.compile_kan import DEFAULT_LOWERING, compile_kan
        compiled = compile_kan(args.checkpoint, args.target, args.calibrate, args.pwl_segments,
                               lowering=args.kan_lowering or DEFAULT_LOWERING)
    else:
        compiled = compile_checkpoint(args.checkpoint, args.target, args.mode or "mean",
                                      8 if args.k is None else args.k, args.calibrate, args.seed or 0)
    with atomic_paths(out, report_path) as (graph_tmp, report_tmp):  # both files, or neither
        save(compiled.graph, graph_tmp)
        write_json(report_tmp, compiled.report)
    for warning in compiled.report.get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    if compiled.report.get("task") == "regression":
        from snnc.compiler.compile_kan import print_kan_report
        print_kan_report(compiled.report)
    else:
        print_compile_report(compiled.report)
    print(f"wrote {out} and {report_path}")
    return 0


def _input_kind(args) -> str:
    """"nir", "kan" or "sbnn"; refuses (one line) the options that do not apply to it."""
    from snnc.errors import CompileError
    from snnc.train.kan.checkpoint import is_kan_checkpoint

    kind = "nir" if args.checkpoint.endswith(".nir") else "kan" if is_kan_checkpoint(args.checkpoint) else "sbnn"
    given = {"--pwl-segments": args.pwl_segments, "--kan-lowering": args.kan_lowering, "--mode": args.mode,
             "--k": args.k, "--seed": args.seed}
    owner = {"--pwl-segments": "kan", "--kan-lowering": "kan", "--mode": "sbnn", "--k": "sbnn", "--seed": "sbnn"}
    names = {"kan": "KAN checkpoints", "sbnn": "SBNN/SG checkpoints", "nir": "NIR graphs"}
    for flag, value in given.items():
        if value is not None and owner[flag] != kind:
            raise CompileError(f"{args.checkpoint}: {flag} is for {names[owner[flag]]}; this is not one "
                               f"(it is one of the {names[kind]})")
    if args.k is not None and args.mode != "samples":
        raise CompileError(f"{args.checkpoint}: --k is the number of posterior samples of --mode samples")
    if args.seed is not None and not 0 <= args.seed <= MAX_SEED:
        raise CompileError(f"--seed must lie in [0, 2^53] (it is stored in the .snnc file), got {args.seed}")
    return kind


def print_compile_report(report: dict) -> None:
    print(f"target '{report['target']}', mode {report['mode']} (k = {report['k']}), "
          f"latency {report['latency_steps']} steps, calibrated on {report['calibrate']} training samples")
    print(f"{'node':<10}{'type':<10}{'in':>6}{'out':>6}{'nnz':>8}{'bits':>6}{'exp':>5}"
          f"{'w err':>8}{'thresh':>8}{'th err':>8}{'peak':>7}{'memory':>10}")
    for r in report["layers"]:
        exp = r.get("weight_exp", r.get("weight_shift", ""))
        thr = r.get("vth", r.get("threshold", ""))
        print(f"{r['name']:<10}{r['type']:<10}{r['in']:>6}{r['out']:>6}{r.get('synapses', ''):>8}"
              f"{r.get('weight_bits', ''):>6}{exp:>5}{_pct(r.get('weight_rel_error')):>8}{thr:>8}"
              f"{_pct(r.get('threshold_rel_error')):>8}{_pct(r.get('peak_state_fraction')):>7}"
              f"{_bytes(r['memory_bits']):>10}")
    usage = report["usage"]
    fits = ", ".join(f"{k} {v}/{usage[k + '_limit']}" for k, v in usage.items()
                     if not k.endswith("_limit") and k + "_limit" in usage)
    print(f"resources: {fits or usage}  -> fits")
    for note in report["notes"]:
        print(f"note: {note}")
    acc = report.get("accuracy")
    if acc:
        cols = [k for k in ("float_torch", "float_graph", "target_dynamics", "deployed") if k in acc]
        print("test accuracy: " + ", ".join(f"{k} {acc[k]['accuracy']:.4f}" for k in cols))
    cal = report.get("calibration")
    if cal:
        print(f"{'':<26}{'accuracy':>9}{'NLL':>8}{'ECE':>8}")
        for key in ("float_mean", "float_samples", "float_samples_logit_mean", "deployed_mean", "deployed_samples"):
            r = cal[key]
            print(f"  {key:<24}{r['accuracy']:>9.4f}{r['nll']:>8.3f}{r['ece']:>8.3f}")
        print("accuracy against K (float graph = mean of the K draws' logits; deployed = summed readouts):")
    for row in report.get("k_curve", []):
        print(f"  K = {row['k']:<3} float {row['float_graph']['accuracy']:.4f} (NLL {row['float_graph']['nll']:.3f}, "
              f"ECE {row['float_graph']['ece']:.3f})   deployed {row['deployed']['accuracy']:.4f} "
              f"(NLL {row['deployed']['nll']:.3f}, ECE {row['deployed']['ece']:.3f})")


def _pct(x) -> str:
    return "" if x is None else f"{100 * x:.2f}%"


def cmd_export(argv: list[str]) -> int:
    """Write a compiled graph as ONNX, a Lava program or NIR, or run an exported ONNX model.

    `snnc export F.snnc --format onnx|lava|nir --out PATH [--step]`;
    `snnc export M.onnx --run X.npy --out Y.npz` (every output of the model, by name).
    """
    from snnc.compiler.export import FORMATS, export
    from snnc.errors import InputError

    parser = ArgumentParser(prog="snnc export", description=cmd_export.__doc__.splitlines()[0])
    parser.add_argument("file", help="compiled graph (.snnc), or an exported .onnx with --run")
    parser.add_argument("--format", help=f"one of {', '.join(FORMATS)}")
    parser.add_argument("--out", required=True, help="file to write (written atomically)")
    parser.add_argument("--step", action="store_true", help="onnx: the one-step model with explicit states")
    parser.add_argument("--run", metavar="X.npy", help="run the ONNX model FILE on spikes [B, T, N]; --out is .npz")
    args = parser.parse_args(argv)
    if args.run:
        return _run_onnx(args.file, args.run, args.out)
    if args.format is None:
        raise InputError("snnc export: --format is required (choose from " + ", ".join(FORMATS) + ")")
    if args.step and args.format != "onnx":
        raise InputError(f"--step is an onnx option; format '{args.format}' has none")
    options = {"step": True} if args.step else {}
    path = export(load(args.file), args.out, args.format, **options)
    print(f"wrote {path}")
    return 0


def _run_onnx(model_path: str, x_path: str, out: str) -> int:
    """Run an ONNX model (snnc's export or any other) on one .npy array; every output, by name,
    into the .npz `out`. Everything is checked before anything runs or is written (see
    snnc.compiler.export.onnx_run: regular files only, standard operators, bounded Loops, values
    the input holds exactly); the model runs in a worker bounded in time and memory."""
    from snnc.compiler.export.onnx_run import (check_runnable, feed_for, load_model, read_array, run_model_file,
                                               save_outputs)
    from snnc.io import check_writable

    check_writable(out)
    model = load_model(model_path)
    keys = check_runnable(model, model_path)
    name, x = feed_for(model, read_array(x_path), model_path, x_path)
    save_outputs(out, keys, run_model_file(model, name, x, model_path))
    print(f"wrote {out}")
    return 0
