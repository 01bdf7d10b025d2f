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


CONFIGS = __import__("pathlib").Path(__file__).resolve().parents[2] / "configs"


def test_rows_carry_the_paper_names_and_the_training_configuration(tmp_path):
    out = tmp_path / "rows.json"
    config = CONFIGS / "digits_sbnn.toml"
    assert main(["estimators", "--json", str(out), "--draws", "50", "--config", str(config)]) == 0
    rows = json.loads(out.read_text())
    from snnc.train.config import load
    from snnc.train.estimators import PAPER_NAMES

    method = load(config).method
    first = rows[0]
    assert first["training"] is True and first["config"] == str(config)
    assert first["estimator"] == method.estimator and first["noise"] == method.noise
    assert first["params"] == {"tau": method.tau, "k": method.k, "relaxation": method.relaxation}
    assert all(r["paper_name"] == PAPER_NAMES[r["estimator"]] for r in rows)
    assert sum(bool(r.get("training")) for r in rows) == 1


def test_config_noise_family_reaches_the_net_and_the_grid(tmp_path):
    cfg = tmp_path / "logistic.toml"
    cfg.write_text("[method]\nestimator = 'iw'\nnoise = 'logistic'\nk = 4\ntau = 0.3\n")
    estimator, params, noise = analysis.training_row(cfg)
    assert (estimator, params["k"], params["tau"], noise) == ("iw", 4, 0.3, "logistic")
    grid, noise, trained = analysis.grid_of(cfg)
    assert trained and grid[0] == (estimator, params) and noise == "logistic"
    assert "gumbel_rao" not in {e for e, _ in grid}  # closed form for Gaussian noise only


def test_logistic_enumeration_is_the_sampled_model():
    net = analysis.make_net(0, noise="logistic")
    n = 20000
    loss = analysis.sampled_loss(net, net.W1.expand(n, -1, -1), "analytic", {},
                                 torch.Generator().manual_seed(2))
    exact = analysis.expected_loss(net, net.W1).item()
    assert abs(loss.mean().item() - exact) < 4 * loss.std().item() / math.sqrt(n)
    gaussian = analysis.expected_loss(analysis.make_net(0), net.W1).item()
    assert abs(exact - gaussian) > 10 * loss.std().item() / math.sqrt(n)  # the family matters


def test_sg_config_has_no_estimator(tmp_path, capsys):
    cfg = tmp_path / "sg.toml"
    cfg.write_text("[method]\nname = 'sg'\n")
    assert main(["estimators", "--json", str(tmp_path / "r.json"), "--config", str(cfg)]) == 2
    err = capsys.readouterr().err.strip()
    assert "method.name" in err and "\n" not in err
