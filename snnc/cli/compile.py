"""`snnc compile CKPT|MODEL.nir --target T --out F.snnc`: the deployed graph and its report.

A NIR graph is measured against its own float graph (evaluation/nir_gate.py): on `--data`'s
test split, or with `--calibrate-random` on fresh random spike trains."""
from __future__ import annotations

import sys

import numpy as np

from snnc.args import ArgumentParser
from snnc.cli.report import print_compile_report, print_kan_report
from snnc.targets import all_targets

MAX_SEED = 1 << 53  # the .snnc format's largest integer (compiler/ir/serialize.py MAX_INT): the seed is stored


def cmd_compile(argv: list[str]) -> int:
    """`snnc compile CKPT --target T --mode mean|samples --k K --calibrate N --out F.snnc`."""
    from pathlib import Path

    from snnc.compiler.compile import DEFAULT_CALIBRATION
    from snnc.compiler.ir import save
    from snnc.errors import CompileError, GateRefused
    from snnc.evaluation.compiled import MAX_MSE_RISE, compile_checkpoint, fidelity, gate_reason
    from snnc.io import atomic_paths, check_writable, write_json
    from snnc.targets import get as get_target

    parser = ArgumentParser(prog="snnc compile", description="compile a trained checkpoint, or a NIR graph from "
                            "snnTorch, Norse, Rockpool, sinabs or snnc, for a target")
    parser.add_argument("checkpoint", metavar="CHECKPOINT|MODEL.nir",
                        help="checkpoint.pt written by `snnc train`, or a NIR graph (.nir)")
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
    parser.add_argument("--data", metavar="FILE.npz|FOLDER", default=None,
                        help="calibrate and evaluate on your own data (an .npz of x_train, x_test and optionally "
                             "y_train, y_test: without labels the gate is agreement; or a folder of the data set's "
                             "files as tonic lays them out; "
                             "default: the checkpoint's data set; NIR graphs: required for a chip, or --calibrate-random)")
    parser.add_argument("--dt", type=float, default=None,
                        help="NIR graphs: the time step in seconds, where the file gives none (or to override it)")
    parser.add_argument("--calibrate-random", action="store_true",
                        help="NIR graphs without --data: calibrate a chip's quantisation on random spike trains "
                             "(refused otherwise; the report says so)")
    parser.add_argument("--steps", type=int, default=None,
                        help="NIR graphs without --data: steps of the random calibration (default 16); the "
                             "compiled graph runs on inputs of any length")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the posterior draws (mode samples; 0..2^53, default 0)")
    parser.add_argument("--max-drop", type=float, default=None,
                        help="fidelity gate: the largest test-accuracy drop, deployed against the PyTorch model, "
                             "that still writes the graph (default: the target's, 0.01 loihi/edge-int8, 0.02 xylo; "
                             "a KAN: the largest relative rise of the test MSE, default 1.0: deployed <= 2x float)")
    parser.add_argument("--weight-split", metavar="all|none|SYN[,SYN...]", default=None,
                        help="loihi: deploy these synapses (all: every one whose weight_exp >= 1) as two Lava Dense, "
                             "W = W_hi 2^k + W_lo, k = min(weight_exp, 7) more weight bits at twice the synaptic "
                             "memory (the report's weight_rel_error says which need it; default none)")
    parser.add_argument("--v-margin", type=float, default=None,
                        help="loihi: v's headroom over its calibration peak (default 2, as u's); v saturates, so "
                             "1 or below trades clipping of the deepest excursions for a finer scale")
    parser.add_argument("--force", action="store_true", help="write the graph although the gate refuses it")
    parser.add_argument("--out", required=True, help="the .snnc to write (the report goes beside it)")
    args = parser.parse_args(argv)
    if args.max_drop is not None and not 0 <= args.max_drop <= 1:
        raise CompileError(f"--max-drop must lie in [0, 1] (a fraction of the test accuracy), got {args.max_drop}")
    kind = _input_kind(args)
    options = {"weight_split": _split_choice(args.weight_split), "v_margin": args.v_margin}
    data = None
    if args.data is not None:
        from snnc.evaluation.datasets import data_file
        data = data_file(args.data)
        if kind == "kan":
            raise CompileError(f"{args.checkpoint}: --data is for SBNN/SG checkpoints and NIR graphs; a KAN "
                               "compiles on its own regression problem")
    out = Path(args.out)
    report_path = out.with_suffix(".report.json")
    for path in (out, report_path):   # refuse a bad output before the work
        check_writable(path)
    if kind == "nir":  # a NIR file from snnTorch, sinabs, Rockpool or snnc
        from snnc.compiler.frontend.nir import compile_nir
        compiled = compile_nir(args.checkpoint, args.target, args.calibrate, data=data, steps=args.steps,
                               dt=args.dt, seed=0, calibrate_random=args.calibrate_random, options=options)
        _nir_gate(compiled, data, args)
    elif kind == "kan":  # a KAN regression run: snnc.compiler.compile_kan
        from snnc.compiler.compile_kan import DEFAULT_LOWERING, compile_kan
        if any(v is not None for v in options.values()):
            raise CompileError(f"{args.checkpoint}: --weight-split and --v-margin are loihi options; a KAN "
                               "compiles for edge-int8")
        compiled = compile_kan(args.checkpoint, args.target, args.calibrate, args.pwl_segments,
                               lowering=args.kan_lowering or DEFAULT_LOWERING)
    else:
        compiled = compile_checkpoint(args.checkpoint, args.target, args.mode or "mean",
                                      8 if args.k is None else args.k, args.calibrate, args.seed or 0, data=data,
                                      options=options)
    default = MAX_MSE_RISE if kind == "kan" else get_target(args.target).max_drop
    gate = fidelity(compiled.report, default if args.max_drop is None else args.max_drop) if kind != "nir" \
        else compiled.report.get("fidelity", {}).get("gate")
    if gate is not None:
        compiled.report["gate"] = {**gate, "forced": args.force}
    if gate is not None and not args.force:   # the report says why; no graph
        write_json(report_path, compiled.report)
        _print_report(compiled.report)
        reason = gate_reason(gate, "the PyTorch model" if kind != "nir" else "the float graph")
        hint = get_target(args.target).precision_hint
        if hint and gate["largest"] == "quantisation and clipping":
            reason += f"; try: {hint}"
        raise GateRefused(f"{args.checkpoint}: {reason}. Report: {report_path}; "
                          "no graph written (--force writes it)")
    with atomic_paths(out, report_path) as (graph_tmp, report_tmp):  # both files, or neither
        save(compiled.graph, graph_tmp)
        write_json(report_tmp, compiled.report)
    for warning in compiled.report.get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    _print_report(compiled.report)
    print(f"wrote {out} and {report_path}")
    return 0


def _nir_gate(compiled, data, args) -> None:
    """The NIR graph's fidelity against its float graph, into the report (not on `ideal`)."""
    from snnc.evaluation.nir_gate import nir_fidelity
    from snnc.targets import get as get_target
    from snnc.train.data.arrays import load_split

    if not get_target(args.target).integer:
        return
    if data is not None:
        x, y = load_split(data, "test")
        what = f"{args.data}: test split"
    else:  # --calibrate-random: fresh random trains of the calibration's shape (another seed)
        cal = compiled.report["calibration_input"]
        x = (np.random.default_rng(cal["seed"] + 1).random((cal["samples"], cal["steps"], x_channels(compiled)))
             < cal["rate"]).astype(np.int64)
        y, what = None, f"{cal['samples']} random spike trains (rate {cal['rate']}, {cal['steps']} steps)"
    max_drop = get_target(args.target).max_drop if args.max_drop is None else args.max_drop
    compiled.report["fidelity"] = nir_fidelity(compiled, x, y, max_drop, what)


def _split_choice(text: str | None):
    """--weight-split: None, "all", "none" or a list of synapse names."""
    if text is None or text in ("all", "none"):
        return text
    return [name.strip() for name in text.split(",") if name.strip()]


def x_channels(compiled) -> int:
    from snnc.runtime.deploy import data_channels

    return data_channels(compiled.front.graph)


def _print_report(report: dict) -> None:
    (print_kan_report if report.get("task") == "regression" else print_compile_report)(report)


def _input_kind(args) -> str:
    """"nir", "kan" or "sbnn"; refuses (one line) the options that do not apply to it."""
    from snnc.errors import CompileError
    from snnc.train.kan.checkpoint import is_kan_checkpoint

    kind = "nir" if args.checkpoint.endswith(".nir") else "kan" if is_kan_checkpoint(args.checkpoint) else "sbnn"
    given = {"--pwl-segments": args.pwl_segments, "--kan-lowering": args.kan_lowering, "--mode": args.mode,
             "--k": args.k, "--seed": args.seed, "--dt": args.dt, "--steps": args.steps,
             "--calibrate-random": args.calibrate_random or None}
    owner = {"--pwl-segments": "kan", "--kan-lowering": "kan", "--mode": "sbnn", "--k": "sbnn", "--seed": "sbnn",
             "--dt": "nir", "--steps": "nir", "--calibrate-random": "nir"}
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
