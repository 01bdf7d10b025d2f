"""benchmarks/sim_scaling.py: rows checked equal on a tiny chain, crossovers read from the ratios, the plot.

Nothing here times anything: the script's numbers are measured when it runs, not asserted.
"""
import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(scope="module")
def scaling():
    sys.path.insert(0, str(BENCH))   # the script imports benchmarks/common.py
    spec = importlib.util.spec_from_file_location("bench_sim_scaling", BENCH / "sim_scaling.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _points(ratios, xs=(1, 10, 100)):
    return [{"sweep": "batch", "x": x, "seconds": {"snnc": 1.0, "numpy dense": r, "snnc twin": 1.0,
                                                   "snnTorch twin": 2.0, "snnc twin off lattice": 1.5}}
            for x, r in zip(xs, ratios)]


def test_every_row_runs_and_agrees_on_a_tiny_chain(scaling):
    layers, spikes = scaling.chain((24, 16, 8), 12, 0.3, vth_per_fan_in=True)
    assert layers[0]["vth"] == round(3000 * 24 / 700)
    p = scaling.point(layers, spikes[None].repeat(2, axis=0), repeats=1)   # check() stops on any mismatch
    assert set(p["seconds"]) == set(scaling.ROWS) and p["synaptic_events"] > 0


def test_crossover_is_where_the_ratio_crosses_one(scaling):
    x0, x1, at, winner = scaling.crossover_at(_points((4.0, 2.0, 0.5)), "numpy dense", "snnc")
    assert (x0, x1, winner) == (10, 100, "numpy dense") and at == pytest.approx(10 ** 1.5)   # log 2 -> log 0.5: halfway in log x
    assert "none in the grid: snnc wins at every point (4.00x, 2.00x, 1.50x)" in scaling.crossover(
        _points((4.0, 2.0, 1.5)), "numpy dense", "snnc")
    assert scaling.crossover_at(_points((0.5, 2.0)), "numpy dense", "snnc")[3] == "snnc"


def test_a_size_that_does_not_fit_says_why(scaling, monkeypatch, capsys):
    monkeypatch.setattr(scaling, "available_bytes", lambda: 2**30)
    rows = scaling.size_sweep({"synapses": (1e8,)}, repeats=1)
    assert "needs about 5.6 GiB, 1.0 GiB available" in rows[0]["skipped"]
    assert "not run: needs about 5.6 GiB" in capsys.readouterr().out


def test_plot_draws_every_sweep(scaling, tmp_path):
    points = _points((4.0, 2.0, 0.5)) + [{**p, "sweep": "size, batch 1"} for p in _points((3.0, 3.0, 3.0))]
    scaling.plot(points + [{"sweep": "size, batch 1", "x": 1e8, "skipped": "too big"}], tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 10_000
