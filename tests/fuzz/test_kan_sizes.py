"""KAN compile options at their documented limits run in bounded memory or are one line."""
from __future__ import annotations

import pytest

from tests.fuzz.helpers import assert_one_line_refusal, cli_in_child, run_cli, train_tiny_kan


@pytest.fixture(scope="module")
def order3_ckpt(tmp_path_factory):
    return train_tiny_kan(tmp_path_factory.mktemp("kan3"), order=3)


def test_4096_segments_compile_as_pwl_in_bounded_memory(order3_ckpt, tmp_path):
    (row,) = cli_in_child([["compile", order3_ckpt, "--target", "edge-int8", "--pwl-segments", "4096",
                            "--calibrate", "100", "--out", tmp_path / "k.snnc"]])
    assert row["code"] == 0, row["err"]
    assert row["err"].startswith("warning: order-3 splines approximated by 4096 linear pieces")
    assert row["peak"] < 1 << 30, f"peak RSS {row['peak'] >> 20} MiB (it took 24 GB before the fix)"


def test_4096_segments_in_the_gemm_form_are_one_line(order3_ckpt, tmp_path, capsys):
    code, _, err = run_cli(["compile", order3_ckpt, "--target", "edge-int8", "--pwl-segments", "4096",
                            "--kan-lowering", "gemm", "--calibrate", "100", "--out", tmp_path / "k.snnc"], capsys)
    assert_one_line_refusal(code, err, "the Gemm lowering needs a 8194 x 8194 matrix")
    assert not any(tmp_path.iterdir())
