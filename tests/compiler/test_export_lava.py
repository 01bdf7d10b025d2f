"""The exported Lava program (a .py and an .npz, run in .venv-lava) gives the simulator's
spikes and readout v, bit for bit, on 100 digits test samples in one Lava runtime."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest

from snnc.evaluation.compiled import compile_checkpoint
from snnc.targets.loihi import lava_program as lava_export
from snnc.compiler.ir import FloatLIF, Graph, Input, Output, Synapse
from snnc.errors import FormatError
from snnc.runtime import deploy
from snnc.targets.loihi import lava_exec
from snnc.evaluation.datasets import load_split
from snnc.evaluation.verify import verify
from tests.backends import require


@pytest.fixture(scope="module")
def loihi_graph(loihi_ckpt):
    return compile_checkpoint(loihi_ckpt, "loihi", evaluate=False).graph


@pytest.mark.lava
def test_program_gives_the_simulators_spikes_v_and_logits_on_100_samples(loihi_graph):
    require("Lava", lava_exec.lava_python)
    x, _ = load_split(loihi_graph.metadata["data"], "test", limit=100)
    logits, sim = deploy.run(loihi_graph, x)
    out = lava_export.run_program(loihi_graph, deploy.pad_input(loihi_graph, x), record=("v", "u"))
    assert len(x) == 100
    for pop in loihi_graph.neurons:
        assert out[pop]["spikes"].shape == sim.spikes[pop].shape
        np.testing.assert_array_equal(out[pop]["spikes"], sim.spikes[pop])
        np.testing.assert_array_equal(out[pop]["v"], sim.state[pop]["v"])
        assert out[pop]["u"].shape == sim.spikes[pop].shape
    assert sum(int(s.sum()) for s in sim.spikes.values()) > 0
    np.testing.assert_array_equal(out["logits"], logits)


@pytest.mark.lava
def test_verify_backend_lava_program_agrees(loihi_graph):
    require("Lava", lava_exec.lava_python)
    r = verify(loihi_graph, loihi_graph.metadata["data"], None, ("sim", "lava-program"), 20, progress=False)
    assert r["agreement"] == {"lava-program": 1.0} and r["agreement_samples"]["lava-program"] == 20


def test_export_writes_a_standalone_program_and_plain_arrays(loihi_graph, tmp_path):
    program = lava_export.export(loihi_graph, tmp_path / "digits")
    assert program == tmp_path / "digits" / "program.py"
    text = program.read_text()
    compile(text, str(program), "exec")
    assert "snnc" not in "".join(ln for ln in text.splitlines() if ln.startswith(("import", "from")))
    assert 'Loihi2SimCfg(\n        select_tag="fixed_pt"' in text
    with np.load(program.with_suffix(".npz"), allow_pickle=False) as f:
        assert list(f["populations"]) == ["lif0", "readout"]
        assert f["dense0__weights"].shape == (48, 64) and f["pop0__du"].shape == (48,)
    assert lava_export.export(loihi_graph, tmp_path / "x.py") == tmp_path / "x.py"


def _not_a_chain() -> Graph:
    g = Graph(target="ideal")
    g.add("input", Input(3))
    g.add("fc", Synapse(np.ones((2, 3), np.float32), delay=0), ["input"])
    g.add("lif", FloatLIF(2), ["fc"])
    g.add("output", Output(2), ["lif"])
    return g


def test_a_graph_lava_cannot_run_is_refused_in_one_line_and_nothing_is_written(tmp_path):
    with pytest.raises(FormatError, match="cannot export to a Lava program: graph is compiled for 'ideal'"):
        lava_export.export(_not_a_chain(), tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.lava
def test_program_refuses_non_binary_spikes_in_one_line(loihi_graph, tmp_path):
    python = require("Lava", lava_exec.lava_python)
    program = lava_export.export(loihi_graph, tmp_path)
    np.savez(tmp_path / "spikes.npz", spikes=np.full((1, 10, 64), 2))
    proc = subprocess.run([str(python), str(program), str(tmp_path / "spikes.npz"), str(tmp_path / "o.npz")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and proc.stderr.strip() == "error: Lava's RingBuffer -> Dense input spikes must be 0/1"


def test_snnc_export_writes_lava_and_nir_and_refuses_in_one_line(loihi_graph, tmp_path, capsys):
    import nir

    from snnc.cli import main
    from snnc.compiler.ir import save

    save(loihi_graph, tmp_path / "g.snnc")
    save(_not_a_chain(), tmp_path / "ideal.snnc")
    assert main(["export", str(tmp_path / "g.snnc"), "--format", "lava", "--out", str(tmp_path / "lava")]) == 0
    assert (tmp_path / "lava" / "program.py").is_file() and (tmp_path / "lava" / "program.npz").is_file()
    assert main(["export", str(tmp_path / "g.snnc"), "--format", "nir", "--out", str(tmp_path / "g.nir")]) == 0
    assert "lif0" in nir.read(tmp_path / "g.nir").nodes
    capsys.readouterr()
    assert main(["export", str(tmp_path / "ideal.snnc"), "--format", "lava", "--out", str(tmp_path / "bad")]) == 2
    assert capsys.readouterr().err.strip() == ("error: cannot export to a Lava program: graph is compiled for "
                                               "'ideal', not 'loihi'")
    assert not (tmp_path / "bad").exists()
