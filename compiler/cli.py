"""`snnc inspect FILE.snnc`: nodes, sizes, bit widths and memory of a compiled graph."""
from __future__ import annotations

import json

import numpy as np

from snnc.args import ArgumentParser
from snnc.compiler.inventory import node_row
from snnc.compiler.ir import load


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


def cmd_compile(argv: list[str]) -> int:
    """`snnc compile CKPT --target T --mode mean|samples --k K --calibrate N --out F.snnc`."""
    from pathlib import Path

    from snnc.compiler.compile import DEFAULT_CALIBRATION, compile_checkpoint
    from snnc.compiler.ir import save
    from snnc.errors import CompileError
    from snnc.io import write_json
    from snnc.train.kan.checkpoint import is_kan_checkpoint

    parser = ArgumentParser(prog="snnc compile", description="compile a trained checkpoint for a target")
    parser.add_argument("checkpoint", help="checkpoint.pt written by `snnc train`")
    parser.add_argument("--target", required=True, choices=("loihi", "xylo", "ideal", "edge-int8"))
    parser.add_argument("--mode", default="mean", choices=("mean", "samples"),
                        help="posterior mean, or K posterior samples side by side")
    parser.add_argument("--k", type=int, default=8, help="posterior samples (mode samples)")
    parser.add_argument("--calibrate", type=int, default=DEFAULT_CALIBRATION,
                        help="training samples that size the integer scales")
    parser.add_argument("--pwl-segments", type=int, default=None,
                        help="KAN of order > 2: approximate every edge by this many linear pieces")
    parser.add_argument("--kan-lowering", default=None, choices=("pwl", "gemm"),
                        help="KAN: one PWL node per layer (default), or five Gemm/Relu steps per layer")
    parser.add_argument("--seed", type=int, default=0, help="seed of the posterior draws")
    parser.add_argument("--out", required=True, help="the .snnc to write (the report goes beside it)")
    args = parser.parse_args(argv)
    nir = args.checkpoint.endswith(".nir")
    kan = not nir and is_kan_checkpoint(args.checkpoint)
    if not kan and (args.pwl_segments is not None or args.kan_lowering is not None):
        flag = "--pwl-segments" if args.pwl_segments is not None else "--kan-lowering"
        raise CompileError(f"{args.checkpoint}: {flag} is for KAN checkpoints; this is not one")
    if nir:  # a NIR file from snnTorch, sinabs, Rockpool or snnc
        from snnc.compiler.frontend.nir import compile_nir
        compiled = compile_nir(args.checkpoint, args.target, args.calibrate, seed=args.seed)
    elif kan:  # a KAN regression run: snnc.compiler.compile_kan
        from snnc.compiler.compile_kan import DEFAULT_LOWERING, compile_kan
        compiled = compile_kan(args.checkpoint, args.target, args.calibrate, args.pwl_segments,
                               lowering=args.kan_lowering or DEFAULT_LOWERING)
    else:
        compiled = compile_checkpoint(args.checkpoint, args.target, args.mode, args.k, args.calibrate, args.seed)
    out = Path(args.out)
    report_path = out.with_suffix(".report.json")
    save(compiled.graph, out)
    write_json(report_path, compiled.report)
    if compiled.report.get("task") == "regression":
        from snnc.compiler.compile_kan import print_kan_report
        print_kan_report(compiled.report)
    else:
        print_compile_report(compiled.report)
    print(f"wrote {out} and {report_path}")
    return 0


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
    from snnc.compiler.export.onnx import load_model, session
    from snnc.errors import InputError
    from snnc.io import atomic_path

    model = load_model(model_path)
    try:
        x = np.load(x_path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"{x_path}: cannot read spikes ({exc})") from None
    sess = session(model)
    if len(sess.get_inputs()) != 1:
        raise InputError(f"{model_path}: --run takes a sequence model (one input); this one has "
                         f"{len(sess.get_inputs())} (a step model?)")
    feed = sess.get_inputs()[0]
    dtype = np.float32 if feed.type == "tensor(float)" else np.int32
    try:
        outs = sess.run(None, {feed.name: x.astype(dtype)})
    except Exception as exc:  # onnxruntime's errors: shape or rank mismatch
        raise InputError(f"{x_path}: shape {x.shape} does not fit {model_path}'s input {feed.shape} "
                         f"({str(exc).splitlines()[0][:200]})") from None
    with atomic_path(out) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **{o.name: v for o, v in zip(sess.get_outputs(), outs)})
    print(f"wrote {out}")
    return 0
