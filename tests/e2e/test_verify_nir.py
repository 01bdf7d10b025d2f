"""`snnc verify F.snnc --checkpoint model.nir`: a graph compiled from a NIR file checked against
that file's float graph on the user's spikes (output agreement; accuracy with labels), gated as
compile gates it; the file must be the one the graph was compiled from (sha256)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from snnc.cli import main
from tests.compiler.test_nir_braille import bursty
from tests.fuzz.helpers import assert_one_line_refusal, run_cli

BRAILLE = Path(__file__).parents[1] / "data" / "nir" / "braille_noDelay_noBias_subtract.nir"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("vnir")
    x = bursty(40, 3, steps=64)
    np.savez(tmp / "x.npz", x_train=x[:20], x_test=x[20:])
    out = tmp / "b.snnc"
    assert main(["compile", str(BRAILLE), "--dt", "1e-4", "--target", "loihi", "--data", str(tmp / "x.npz"),
                 "--force", "--out", str(out)]) == 0
    return tmp, out


def test_verify_against_the_nir_files_float_graph(compiled, capsys):
    tmp, out = compiled
    code = main(["verify", str(out), "--checkpoint", str(BRAILLE), "--backends", "sim,lava", "--samples", "5",
                 "--json", str(tmp / "v.json")])
    r = json.loads((tmp / "v.json").read_text())
    fid = json.loads(out.with_suffix(".report.json").read_text())["fidelity"]["scores"]["deployed_agreement"]
    assert r["float_graph_agreement"] == fid          # compile's figure, on the same 20 test samples
    agree = min([fid["argmax"], *fid["spikes"].values()])
    assert r["gate"]["agreement"] == agree and code == (0 if agree >= 0.98 else 1)
    assert r["agreement"] == {"lava": 1.0}
    assert "NIR file's float graph: argmax agreement" in capsys.readouterr().out


def test_verify_refuses_another_nir_file(compiled, tmp_path, capsys):
    _, out = compiled
    other = tmp_path / "other.nir"
    other.write_bytes(BRAILLE.read_bytes() + b"\0")
    code, _, err = run_cli(["verify", out, "--checkpoint", other, "--backends", "sim,lava"], capsys)
    assert_one_line_refusal(code, err, "not the checkpoint this graph was compiled from")


def test_a_gate_lost_to_quantisation_names_loihis_precision_options(compiled, tmp_path, capsys):
    """8-bit weights lose the braille RNN's agreement to quantisation: compile exits 3 in one line
    that names the step and what to try (loihi's --weight-split and --v-margin)."""
    tmp, _ = compiled
    capsys.readouterr()
    code = main(["compile", str(BRAILLE), "--dt", "1e-4", "--target", "loihi", "--data", str(tmp / "x.npz"),
                 "--out", str(tmp_path / "b.snnc")])
    err = capsys.readouterr().err.strip()
    assert code == 3 and "\n" not in err and not (tmp_path / "b.snnc").exists()
    assert "largest step: quantisation and clipping" in err and "try: --weight-split all" in err
