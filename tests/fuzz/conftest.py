"""Fixtures of the hostile-input fuzz suite (helpers in tests/fuzz/helpers.py)."""
from __future__ import annotations

import pytest

from tests.fuzz.helpers import small_loihi_graph, small_xylo_graph, train_tiny_kan


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
    return train_tiny_kan(tmp_path_factory.mktemp("kanopts"))
