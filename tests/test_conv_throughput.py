"""benchmarks/conv_throughput.py: every row runs and is checked equal to snnc's spikes on a small
image (the script stops on any mismatch). Nothing here times anything."""
import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def test_every_row_runs_and_agrees_on_a_small_image(capsys):
    sys.path.insert(0, str(BENCH))   # the script imports benchmarks/common.py
    spec = importlib.util.spec_from_file_location("bench_conv_throughput", BENCH / "conv_throughput.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--batch", "3", "--steps", "8", "--image", "12", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "torch dense stepper" in out and "snnc event-driven, one thread" in out
