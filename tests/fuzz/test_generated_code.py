"""A graph or file name never becomes code: the exported Lava program is built from
snnc's own source alone, whatever text the graph's metadata or the paths hold.

Each payload closes the program's docstring (or a string literal) and writes a
marker file; the marker must never appear, whether the program is exported,
run by `verify`'s lava-program backend or run by hand."""
from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from snnc.targets.loihi import lava_program as lava_export
from snnc.compiler.ir import load, save
from snnc.targets.loihi import lava_exec
from tests.backends import require
from tests.fuzz.helpers import run_cli, small_loihi_graph

MARKER = "pwned-marker"
PAYLOADS = [
    f'"""\nopen("{MARKER}", "w").write("1")\n"""',
    f"'''\nopen('{MARKER}', 'w').write('1')\n'''",
    f'x"); open("{MARKER}", "w").write("1"); ("',
    f'{{__import__("os").system("touch {MARKER}")}}',
]


def _hostile_graph(payload: str):
    """Payloads in every text the graph carries (typed keys such as `steps` must be integers:
    a string there is refused on save and load, tested below)."""
    g = small_loihi_graph()
    g.metadata.update(checkpoint=payload, source=payload, note=payload, data={"name": payload}, steps=6)
    return g


@pytest.mark.parametrize("key", ["steps", "pad_steps", "k", "seed", "data"])
def test_a_graph_whose_typed_metadata_holds_text_is_not_written(key, tmp_path):
    from snnc.errors import GraphError

    g = small_loihi_graph()
    g.metadata[key] = PAYLOADS[0]
    with pytest.raises(GraphError, match=f"graph metadata '{key}' must be"):
        save(g, tmp_path / "g.snnc")
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("payload", PAYLOADS)
def test_exported_program_holds_no_text_from_the_graph_or_its_path(payload, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    save(_hostile_graph(payload), tmp_path / "g.snnc")
    out = tmp_path / f"out{payload.replace('/', '_')}.py"
    code, _, err = run_cli(["export", tmp_path / "g.snnc", "--format", "lava", "--out", out], capsys)
    assert code == 0, err
    text = out.read_text()
    assert text == lava_export.program_text()  # the same program for every graph
    assert MARKER not in text and "pwned" not in text
    compile(text, str(out), "exec")
    with np.load(out.with_suffix(".npz"), allow_pickle=False) as f:
        assert str(f["info__source"]) == payload  # the text is data, read as data
        assert int(f["info__steps"]) == 6
    assert not (tmp_path / MARKER).exists()


@pytest.mark.lava
@pytest.mark.parametrize("payload", PAYLOADS[:2])
def test_running_the_program_of_a_hostile_graph_runs_no_payload(payload, tmp_path, monkeypatch):
    python = require("Lava", lava_exec.lava_python)
    monkeypatch.chdir(tmp_path)
    graph = _hostile_graph(payload)
    x = (np.random.default_rng(0).random((2, 6, 4)) < 0.5).astype(np.int64)
    out = lava_export.run_program(graph, x)  # what verify --backends lava-program runs
    assert out["lif0"]["spikes"].shape == (2, 6, 6)
    program = lava_export.export(graph, tmp_path / "prog")
    proc = subprocess.run([str(python), str(program), "--info"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "n_in: 4" in proc.stdout, proc.stderr
    assert not (tmp_path / MARKER).exists()


def test_a_checkpoint_whose_file_name_holds_python_compiles_and_exports_inert(loihi_ckpt, tmp_path,
                                                                             monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    ckpt = tmp_path / f'c"""\nopen("{MARKER}", "w").write("1")\n""".pt'
    shutil.copy(loihi_ckpt, ckpt)
    code, _, err = run_cli(["compile", ckpt, "--target", "loihi", "--out", tmp_path / "g.snnc"], capsys)
    assert code == 0, err
    assert MARKER in load(tmp_path / "g.snnc").metadata["checkpoint"]  # carried as data
    code, _, err = run_cli(["export", tmp_path / "g.snnc", "--format", "lava", "--out", tmp_path / "p"], capsys)
    assert code == 0, err
    assert (tmp_path / "p" / "program.py").read_text() == lava_export.program_text()
    assert not (tmp_path / MARKER).exists()


def _renamed(graph, names: dict):
    """The graph with nodes renamed (old -> new), through the generic serialiser."""
    from snnc.compiler.ir.serialize import graph_from_dict, graph_to_dict

    doc, tensors = graph_to_dict(graph)
    for entry in doc["nodes"]:
        entry["fields"] = {k: ({"tensor": v["tensor"]} if isinstance(v, dict) else v)
                           for k, v in entry["fields"].items()}
        entry["name"] = names.get(entry["name"], entry["name"])
    doc["edges"] = [[names.get(a, a), names.get(b, b)] for a, b in doc["edges"]]
    return graph_from_dict(doc, tensors)


MATH_NAMES = ["$\\frac{$", "$x^{$", "$$", "a$b\\$c$"]


def test_plots_draw_node_names_as_text_never_as_math(tmp_path, capsys):
    graph = small_loihi_graph()
    names = dict(zip(graph.neurons, MATH_NAMES))
    save(_renamed(graph, names), tmp_path / "g.snnc")
    np.save(tmp_path / "x.npy", (np.random.default_rng(0).random((2, 8, 4)) < 0.5).astype(np.int64))
    for fmt in ("png", "svg"):
        code, _, err = run_cli(["simulate", tmp_path / "g.snnc", "--input", tmp_path / "x.npy",
                                "--plot", tmp_path / f"p.{fmt}"], capsys)
        assert code == 0, err
    assert (tmp_path / "p.svg").read_text().rstrip().endswith("</svg>")
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
