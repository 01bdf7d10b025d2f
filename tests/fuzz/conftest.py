"""Fixtures of the hostile-input fuzz suite (helpers in tests/fuzz/helpers.py)."""
from __future__ import annotations

import pytest

from tests.fuzz.helpers import small_loihi_graph, small_xylo_graph


@pytest.fixture(scope="session")
def graph_file(tmp_path_factory):
    from snnc.compiler.ir import save

    path = tmp_path_factory.mktemp("fuzz") / "g.snnc"
    save(small_loihi_graph(), path)
    return path


@pytest.fixture(scope="session")
def xylo_file(tmp_path_factory):
    from snnc.compiler.ir import save

    path = tmp_path_factory.mktemp("fuzzx") / "x.snnc"
    save(small_xylo_graph(), path)
    return path


@pytest.fixture(scope="session")
def tiny_kan_ckpt(tmp_path_factory):
    """A tiny KAN run (seconds): [2, 3, 1], 4 intervals, 2 epochs."""
    from snnc.cli import main

    tmp = tmp_path_factory.mktemp("kanopts")
    (tmp / "k.toml").write_text("[kan]\nwidths = [2, 3, 1]\nintervals = 4\norder = 2\n[data]\nn_train = 200\n"
                                "n_val = 50\nn_test = 50\n[train]\nschedule = [2]\nmax_iter = 5\nseed = 0\n")
    assert main(["train", "--config", str(tmp / "k.toml"), "--out", str(tmp / "run"), "--quiet"]) == 0
    return tmp / "run" / "checkpoint.pt"
