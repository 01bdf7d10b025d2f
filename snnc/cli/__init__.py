"""`snnc` command line: one module per command in this folder (snnc/cli/<command>.py), imported on use;
what they print is in report.py, their figures in plots.py."""
from __future__ import annotations

import importlib
import os
import sys
import warnings

from snnc.errors import SnncError, one_line

# subcommand -> (module, function taking argv); modules import lazily so that
# `snnc targets` does not pay for torch.
COMMANDS = {
    "targets": ("snnc.cli.targets", "cmd_targets", "list targets, limits and energy constants"),
    "inspect": ("snnc.cli.inspect", "cmd_inspect", "show a .snnc file's nodes, sizes and bit widths"),
    "compile": ("snnc.cli.compile", "cmd_compile", "compile a trained checkpoint or a NIR graph for a target"),
    "simulate": ("snnc.cli.simulate", "cmd_simulate", "run a .snnc graph on spikes; report and plot"),
    "verify": ("snnc.cli.verify", "cmd_verify", "accuracy and spike agreement of a compiled graph on every executor"),
    "export": ("snnc.cli.export", "cmd_export", "write a .snnc graph as ONNX, a Lava program or NIR"),
    "demo": ("snnc.cli.demo", "cmd_demo", "simulate built-in networks on every target"),
    "train": ("snnc.cli.train", "cmd_train", "train an SBNN / binary / SG network from a TOML config"),
    "estimators": ("snnc.cli.estimators", "cmd_estimators", "bias/variance of the IW-ST estimator family"),
    "adapt": ("snnc.cli.adapt", "cmd_adapt", "fine-tune a checkpoint with a target's dynamics and integer weights"),
    "data": ("snnc.cli.data", "cmd_data", "export a data set or a checkpoint's own data as the .npz --data takes"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        _usage(argv[0] if argv and argv[0] not in ("-h", "--help") else None)
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    module, func, _ = COMMANDS[argv[0]]
    shown = warnings.formatwarning
    warnings.formatwarning = _one_line_warning
    try:
        return getattr(importlib.import_module(module), func)(argv[1:]) or 0
    except SnncError as exc:
        print(f"error: {one_line(str(exc))}", file=sys.stderr)
        return getattr(exc, "exit_status", 2)
    except BrokenPipeError:  # the reader went away (`snnc targets | head`): stop quietly, as a shell tool does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    finally:
        warnings.formatwarning = shown


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    """A warning as one `warning:` line (Python's own format adds the source line)."""
    return f"warning: {one_line(str(message))} ({category.__name__})\n"


def _usage(bad: str | None) -> None:
    if bad:
        print(f"error: unknown command '{one_line(bad)}'", file=sys.stderr)
    print("usage: snnc COMMAND [options]\n\ncommands:")
    for name, (_, _, text) in COMMANDS.items():
        print(f"  {name:<11} {text}")

