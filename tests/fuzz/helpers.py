"""Shared pieces of the hostile-input fuzz suite: small valid graphs, CLI runner, file snapshots."""
from __future__ import annotations

import os
import stat

import numpy as np

from snnc.cli import main


def small_loihi_graph():
    from snnc.targets.loihi import graph_from_lava_layers

    rng = np.random.default_rng(0)
    layers = [dict(weights=rng.integers(-60, 60, (6, 4)) * 2, weight_exp=0, du=1024, dv=256, vth=30,
                   bias_mant=0, bias_exp=0),
              dict(weights=rng.integers(-60, 60, (3, 6)) * 2, du=0, dv=128, vth=40)]
    return graph_from_lava_layers(layers, 4)


def small_xylo_graph():
    from snnc.targets.xylo import graph_from_xylo

    rng = np.random.default_rng(1)
    return graph_from_xylo(rng.integers(-20, 20, (3, 5, 2)), rng.integers(-20, 20, (5, 5, 2)),
                           rng.integers(-20, 20, (5, 2)), threshold=20, threshold_out=30,
                           dash_mem=2, dash_syn=[[1, 2]] * 5, dash_syn_out=1)


def run_cli(argv, capsys):
    """(exit status, stdout, stderr) of `snnc ARGV` in this process."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_refusal(code, err, needle: str | None = None):
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    if needle:
        assert needle in err, err


def snapshot(path) -> tuple:
    """What must not change at `path`: the link itself, its kind, mode and bytes."""
    path = str(path)
    if not os.path.lexists(path):
        return ("absent",)
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return ("link", os.readlink(path), snapshot(os.path.realpath(path)) if os.path.exists(path) else None)
    if stat.S_ISREG(st.st_mode):
        with open(path, "rb") as fh:
            return ("file", stat.S_IMODE(st.st_mode), fh.read())
    return ("other", stat.S_IFMT(st.st_mode), st.st_ino)


CHILD = r"""
import contextlib, io, json, sys
from snnc.cli import main


def peak_rss():  # this process's own high-water mark (ru_maxrss would carry the parent's over exec)
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmHWM:"))


rows = []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    rows.append({"argv": argv, "code": code, "err": err.getvalue(), "peak": peak_rss()})
print(json.dumps(rows))
"""


def cli_in_child(commands, timeout: float = 600) -> list[dict]:
    """Run each `snnc` command line in one fresh child process, in order: per command its exit
    status, stderr and the process's peak RSS so far (bytes; VmHWM of the child's own memory)."""
    import json
    import subprocess
    import sys

    argv = json.dumps([[str(a) for a in cmd] for cmd in commands])
    child = subprocess.run([sys.executable, "-c", CHILD, argv], capture_output=True, text=True, timeout=timeout)
    assert child.returncode == 0, child.stderr[-2000:]
    return json.loads(child.stdout.splitlines()[-1])


def train_tiny_kan(folder, order: int = 2):
    """A tiny KAN run (seconds): [2, 3, 1], 4 intervals, 2 epochs; its checkpoint path."""
    from snnc.cli import main

    (folder / "k.toml").write_text(f"[kan]\nwidths = [2, 3, 1]\nintervals = 4\norder = {order}\n[data]\n"
                                   "n_train = 300\nn_val = 50\nn_test = 50\n[train]\nschedule = [2]\n"
                                   "max_iter = 5\nseed = 0\n")
    assert main(["train", "--config", str(folder / "k.toml"), "--out", str(folder / "run"), "--quiet"]) == 0
    return folder / "run" / "checkpoint.pt"
