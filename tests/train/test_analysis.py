"""`snnc estimators`: exact enumeration of the tiny network and the bias/variance table."""
import json
import math

import pytest
import torch

from snnc.cli import main
from snnc.train import analysis
from snnc.train.estimators import ESTIMATORS


def test_enumeration_is_the_sampled_model():
    net = analysis.make_net(0)
    n = 20000
    W1n = net.W1.expand(n, -1, -1)
    loss = analysis.sampled_loss(net, W1n, "analytic", {}, torch.Generator().manual_seed(1))
    exact = analysis.expected_loss(net, net.W1).item()
    assert abs(loss.mean().item() - exact) < 4 * loss.std().item() / math.sqrt(n)


def test_exact_gradient_matches_finite_differences():
    net = analysis.make_net(0)
    g = analysis.exact_gradient(net)
    h, E = 1e-6, torch.zeros_like(net.W1)
    E[2, 1] = h
    fd = (analysis.expected_loss(net, net.W1 + E) - analysis.expected_loss(net, net.W1 - E)) / (2 * h)
    assert g[2, 1].item() == pytest.approx(fd.item(), rel=1e-6)


def test_cli_rows_schema_finiteness_and_bias_ordering(tmp_path):
    out, png = tmp_path / "rows.json", tmp_path / "tradeoff.png"
    assert main(["estimators", "--json", str(out), "--plot", str(png), "--draws", "2000"]) == 0
    rows = json.loads(out.read_text())
    assert {r["estimator"] for r in rows} == set(ESTIMATORS)
    for r in rows:
        assert {"estimator", "params", "bias", "cosine", "variance"} <= set(r)
        assert all(math.isfinite(r[key]) for key in ("bias", "cosine", "variance"))
    st = next(r["bias"] for r in rows if r["estimator"] == "st")
    assert all(r["bias"] < st for r in rows if r["estimator"] in ("analytic", "iw"))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_bad_draws_is_one_line_error(tmp_path, capsys):
    assert main(["estimators", "--json", str(tmp_path / "r.json"), "--draws", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--draws" in err and "\n" not in err
