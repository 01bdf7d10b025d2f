"""`snnc export`: a compiled graph as ONNX, a Lava program or NIR; or run an exported ONNX model."""
from __future__ import annotations

from snnc.args import ArgumentParser
from snnc.compiler.ir import load


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
