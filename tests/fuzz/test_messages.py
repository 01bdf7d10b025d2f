"""Every refusal is one terminal line: usage errors, and names holding newlines or escapes."""
from __future__ import annotations

import pytest

from snnc.errors import one_line
from tests.fuzz.helpers import assert_one_line_refusal, run_cli


@pytest.mark.parametrize("argv", [
    ["compile", "x.pt", "--target", "nowhere", "--out", "y.snnc"],
    ["compile", "x.pt", "--target", "loihi"],
    ["simulate"],
    ["verify", "g.snnc", "--samples", "many"],
    ["export", "g.snnc", "--bogus"],
    ["inspect"],
    ["targets", "--no-such-flag"],
    ["train", "--config"],
    ["estimators", "--samples", "x"],
])
def test_a_command_line_that_does_not_parse_is_one_line_naming_the_command(argv, capsys):
    code, _, err = run_cli(argv, capsys)
    assert_one_line_refusal(code, err, f"snnc {argv[0]}: ")
    assert err.rstrip().endswith(f"(see snnc {argv[0]} --help)")


def test_help_still_prints_the_usage(capsys):
    with pytest.raises(SystemExit) as exc:
        run_cli(["compile", "--help"], capsys)
    assert exc.value.code == 0
    assert "usage: snnc compile" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["a\nb", "x\x1b[31mred", "c\rd", "e\u202ef", "g\x00h", "i\u2028j"])
def test_newlines_and_terminal_escapes_in_a_name_are_printed_escaped(name, tmp_path, capsys):
    code, _, err = run_cli(["inspect", str(tmp_path / name)], capsys)
    assert_one_line_refusal(code, err, "no such file")
    assert "\x1b" not in err and "\r" not in err and "\u202e" not in err and "\x00" not in err
    assert one_line(name) in err


def test_one_line_keeps_ordinary_text():
    assert one_line("lif0 µs ±5 'π'") == "lif0 µs ±5 'π'"
    assert one_line("a\nb\tc") == "a\\nb\\tc"


def test_a_warning_during_a_command_is_one_line(tmp_path):
    """Run as a user runs it (pytest records warnings itself, so in a subprocess)."""
    import subprocess
    import sys

    import numpy as np

    from snnc.compiler.ir import save
    from tests.runtime.test_check_warn import xylo_fan_out_65

    save(xylo_fan_out_65(), tmp_path / "wide.snnc")
    np.save(tmp_path / "x.npy", np.ones((5, 2), np.int64))
    proc = subprocess.run([sys.executable, "-m", "snnc.cli", "simulate", str(tmp_path / "wide.snnc"), "--input",
                           str(tmp_path / "x.npy"), "--check", "warn"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and "it/s" not in ln and "%|" not in ln]
    assert lines and all(ln.startswith("warning: ") and ln.endswith("(DesignRuleWarning)") for ln in lines), \
        proc.stderr
