"""Hostile NIR files through `snnc compile` and hostile node names through `snnc export --format nir`:
whatever has no exact IR form is one `error:` line, exit status 2, nothing written; what has one
(a nested graph whose renamed node meets an outer name, a Delay on `ideal`, complex weights with a
zero imaginary part) compiles exactly."""
from __future__ import annotations

import json

import nir
import numpy as np
import pytest

from snnc.compiler.export import nir as nir_export
from snnc.compiler.frontend.nir import MAX_CALIBRATE, MAX_DELAY_STEPS, MAX_STEPS, compile_nir, graph_from_nir, read_nir
from snnc.compiler.ir import Graph
from snnc.errors import FormatError
from tests.fuzz.helpers import assert_one_line_refusal, run_cli, small_loihi_graph

DT = 1e-4


def _lif(n):
    tau = np.full(n, DT / (1 - 0.875))
    return nir.LIF(tau=tau, r=tau / DT, v_leak=np.zeros(n), v_threshold=np.ones(n), v_reset=np.zeros(n))


def _graph(metadata=None, w1=None) -> nir.NIRGraph:
    """input(4) -> fc1 -> lif1(6) -> fc2 -> lif2(3) -> output."""
    rng = np.random.default_rng(0)
    w1 = rng.normal(0, 0.5, (6, 4)).astype(np.float32) if w1 is None else w1
    nodes = {"input": nir.Input({"input": np.array([4])}), "fc1": nir.Linear(w1), "lif1": _lif(6),
             "fc2": nir.Linear(rng.normal(0, 0.5, (3, 6)).astype(np.float32)), "lif2": _lif(3),
             "output": nir.Output({"output": np.array([3])})}
    edges = [("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"), ("lif2", "output")]
    return nir.NIRGraph(nodes, edges, metadata={"dt": 1e-4, **(metadata or {})}, type_check=False)


def _snnc_meta(**fields) -> dict:
    return {"snnc": json.dumps(fields)}


def _delayed(delay) -> nir.NIRGraph:
    """fc2 -> Delay 'd' -> lif2."""
    g = _graph()
    g.nodes["d"] = nir.Delay(np.full(3, delay))
    g.edges = [e for e in g.edges if e != ("fc2", "lif2")] + [("fc2", "d"), ("d", "lif2")]
    return g


def _write(g, path):
    nir.write(path, g)
    return path


def _compile_refused(tmp_path, capsys, g, needle, calibrate=8):
    path = _write(g, tmp_path / "m.nir")
    out = tmp_path / "m.snnc"
    code, _, err = run_cli(["compile", path, "--target", "loihi", "--calibrate", calibrate, "--out", out], capsys)
    assert_one_line_refusal(code, err, needle)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.nir"], "nothing written on a refusal"


# --- silent miscompiles: now exact, or one line ---------------------------------------


def test_nested_graph_renamed_node_meeting_an_outer_name_keeps_both_populations(tmp_path):
    """The subgraph 'lif1' has two neurons, 'lif' and 'other': 'other' would become 'lif1_other',
    the name of an outer population, which used to vanish; now the inner one is 'lif1_other_1'."""
    sub = nir.NIRGraph({"input": nir.Input({"input": np.array([6])}), "lif": _lif(6), "other": _lif(6),
                        "output": nir.Output({"output": np.array([6])})},
                       [("input", "lif"), ("lif", "other"), ("other", "output")], type_check=False)
    g = _graph()
    g.nodes["lif1"] = sub
    g.nodes["lif1_other"] = _lif(3)   # outer: fed by fc2, read by the Output
    del g.nodes["lif2"]
    g.edges = [("input", "fc1"), ("fc1", "lif1.input"), ("lif1.output", "fc2"), ("fc2", "lif1_other"),
               ("lif1_other", "output")]
    floats = graph_from_nir(read_nir(_write(g, tmp_path / "nested.nir")))
    assert set(floats.neurons) == {"lif1_lif", "lif1_other_1", "lif1_other"}
    assert floats.nodes["lif1_other"].size == 3 and floats.nodes["lif1_other_1"].size == 6
    assert floats.predecessors("fc2") == ["lif1_other_1"] and floats.successors("fc2") == ["lif1_other"]
    c = compile_nir(tmp_path / "nested.nir", "loihi", calibrate=8, calibrate_random=True)
    assert len(c.graph.neurons) == 3


def test_dt_zero_is_refused_not_all_zero_weights(tmp_path, capsys):
    _compile_refused(tmp_path, capsys, _graph({"dt": 0.0}), "NIR metadata 'dt': expected a time step in seconds")


def test_a_delay_on_loihi_is_refused_and_compiled_exactly_on_ideal(tmp_path, capsys):
    _compile_refused(tmp_path, capsys, _delayed(3 * DT), "NIR node 'd': a Delay of 3 step(s) into 'lif2' has no "
                     "form on 'loihi'")
    path = _write(_delayed(3 * DT), tmp_path / "ideal.nir")
    assert compile_nir(path, "ideal", calibrate=4).graph.nodes["fc2"].delay == 3


@pytest.mark.parametrize("edges, needle", [
    ([("self", "self")], "NIR node 'self': an edge to itself"),                    # a Linear alone in a loop
    ([("fc1", "self"), ("self", "self"), ("self", "lif1")], "NIR node 'self': an edge to itself"),
])
def test_a_linear_self_loop_is_refused(edges, needle, tmp_path, capsys):
    g = _graph()
    g.nodes["self"] = nir.Linear(np.eye(6, dtype=np.float32) * 0.5)
    g.edges += edges
    _compile_refused(tmp_path, capsys, g, needle)


def test_a_cycle_of_weightless_nodes_is_refused(tmp_path, capsys):
    g = _graph()
    g.nodes["f"], g.nodes["f2"] = nir.Flatten({"input": np.array([6])}), nir.Flatten({"input": np.array([6])})
    g.edges = [e for e in g.edges if e != ("fc1", "lif1")] + [("fc1", "f"), ("f", "f2"), ("f2", "f"), ("f", "lif1")]
    _compile_refused(tmp_path, capsys, g, "on a cycle with no neuron in it")


def test_complex_weights_are_refused_unless_their_imaginary_part_is_zero(tmp_path, capsys):
    w = np.random.default_rng(0).normal(0, 0.5, (6, 4))
    _compile_refused(tmp_path, capsys, _graph(w1=(w + 1e-3j).astype(np.complex64)),
                     "NIR node 'fc1': weight: complex values with a nonzero imaginary part")
    real = graph_from_nir(read_nir(_write(_graph(w1=w.astype(np.float32)), tmp_path / "r.nir")))
    zero_imag = graph_from_nir(read_nir(_write(_graph(w1=(w + 0j).astype(np.complex64)), tmp_path / "c.nir")))
    np.testing.assert_array_equal(zero_imag.nodes["fc1"].weights, real.nodes["fc1"].weights)


# --- tracebacks: now one line ------------------------------------------------------------


@pytest.mark.parametrize("metadata, needle", [
    ({"dt": "abc"}, "NIR metadata 'dt': expected a time step in seconds (a finite number > 0), got 'abc'"),
    ({"dt": float("nan")}, "NIR metadata 'dt'"),
    ({"dt": -1e-4}, "NIR metadata 'dt'"),
    ({"dt": np.array([1e-4, 2e-4])}, "NIR metadata 'dt'"),
    (_snnc_meta(steps=-5), f"NIR metadata 'snnc' field 'steps': expected an integer in 1..{MAX_STEPS}, got -5"),
    (_snnc_meta(steps="x"), "field 'steps': expected an integer"),
    (_snnc_meta(steps=1e12), "field 'steps': expected an integer"),
    (_snnc_meta(steps=10**12), "field 'steps': expected an integer"),
    (_snnc_meta(steps=0), "field 'steps': expected an integer"),
    (_snnc_meta(data="digits"), "NIR metadata 'snnc' field 'data': expected a data config naming a data set"),
    (_snnc_meta(data={"name": "nope"}), "field 'data': unknown data set 'nope'"),
    (_snnc_meta(data={"name": "digits", "steps": -3}), "field 'data': data.steps: must be > 0"),
    (_snnc_meta(output=5), "NIR metadata 'snnc' field 'output'"),
    (_snnc_meta(output={"read": "v", "step": 0, "gain": "abc", "offset": [0, 0, 0]}), "field 'output'"),
    ({"snnc": json.dumps([1, 2])}, "NIR metadata 'snnc': expected a JSON object, got a JSON list"),
    ({"snnc": "{bad json"}, "NIR metadata 'snnc': not valid JSON"),
    ({"snnc": "[" * 100_000}, "NIR metadata 'snnc': not valid JSON"),
])
def test_bad_metadata_is_one_line(metadata, needle, tmp_path, capsys):
    _compile_refused(tmp_path, capsys, _graph(metadata), needle)


@pytest.mark.parametrize("delay, needle", [
    (float("nan"), "NIR node 'd': delay must be finite seconds >= 0"),
    (-DT, "NIR node 'd': delay must be finite seconds >= 0"),
    (1.5 * DT, "NIR node 'd': a delay of 1.5 steps of dt = 0.0001 s; the IR delays by whole steps"),
    # 1e30 s would be 1e34 steps, an integer far above 2^53 in the graph: refused with the limit
    (1e30, f"NIR node 'd': a delay of 1e+30 s is more than {MAX_DELAY_STEPS} steps of dt = 0.0001 s"),
])
def test_bad_delays_are_one_line(delay, needle, tmp_path, capsys):
    _compile_refused(tmp_path, capsys, _delayed(delay), needle)


def test_delay_with_dt_zero_is_one_line(tmp_path, capsys):
    g = _delayed(3 * DT)
    g.metadata = {"dt": 0}
    _compile_refused(tmp_path, capsys, g, "NIR metadata 'dt'")


def test_a_zero_delay_is_no_delay(tmp_path):
    graph = graph_from_nir(read_nir(_write(_delayed(0.0), tmp_path / "d0.nir")))
    assert graph.nodes["fc2"].delay == 0


def test_delays_on_a_recurrent_edge_or_into_the_output_are_refused(tmp_path, capsys):
    g = _graph()
    g.nodes["d"], g.nodes["wr"] = nir.Delay(np.full(6, 2 * DT)), nir.Linear(np.eye(6, dtype=np.float32) * 0.1)
    g.edges += [("lif1", "wr"), ("wr", "d"), ("d", "lif1")]
    _compile_refused(tmp_path, capsys, g, "NIR node 'd': a Delay on the recurrent edge 'lif1' -> 'lif1'")
    g = _graph()
    g.nodes["d"] = nir.Delay(np.full(3, 2 * DT))
    g.edges = [e for e in g.edges if e != ("lif2", "output")] + [("lif2", "d"), ("d", "output")]
    _compile_refused(tmp_path, capsys, g, "NIR node 'd': a Delay straight into the Output")


@pytest.mark.parametrize("weight, needle", [
    (np.full((6, 4), b"1.0"), "NIR node 'fc1': weight: expected real numbers, got bytes"),
    (np.zeros((6, 4), dtype=[("a", "f4"), ("b", "f4")]), "NIR node 'fc1': weight: expected real numbers, got records"),
    (np.full((6, 4), np.inf), "NIR node 'fc1': weights must be finite"),
    (np.full((6, 4), 1e300), "exceed float32's range"),
])
def test_bad_weights_are_one_line(weight, needle, tmp_path, capsys):
    _compile_refused(tmp_path, capsys, _graph(w1=weight), needle)


def test_bad_neuron_parameters_are_one_line(tmp_path, capsys):
    g = _graph()
    g.nodes["lif1"] = nir.LIF(tau=np.full(6, 8e-4) + 1j, r=np.full(6, 8.0), v_leak=np.zeros(6),
                              v_threshold=np.ones(6), v_reset=np.zeros(6))
    _compile_refused(tmp_path, capsys, g, "NIR node 'lif1': parameter 'tau': complex values")
    g.nodes["lif1"] = _lif(6)
    g.nodes["lif1"].v_threshold = np.full(6, 1e300)
    _compile_refused(tmp_path, capsys, g, "NIR node 'lif1': parameters must be finite and within float32's range")


@pytest.mark.parametrize("calibrate", [-5, 0, 10**9])
def test_calibrate_out_of_range_is_one_line(calibrate, tmp_path, capsys):
    _compile_refused(tmp_path, capsys, _graph(), f"--calibrate (calibration samples): expected an integer in "
                     f"1..{MAX_CALIBRATE}, got {calibrate}", calibrate=calibrate)


def test_graph_shapes_that_would_hang_or_recurse_are_one_line(tmp_path, capsys):
    g, prev = _graph(), "fc1"
    for i in range(300):  # a chain of Flatten nodes deeper than the limit
        g.nodes[f"c{i}"] = nir.Flatten({"input": np.array([6])})
        g.edges.append((prev, f"c{i}"))
        prev = f"c{i}"
    g.edges = [e for e in g.edges if e != ("fc1", "lif1")] + [(prev, "lif1")]
    _compile_refused(tmp_path, capsys, g, "Flatten/Delay/weight nodes in a row (snnc's limit)")
    g, prev = _graph(), ["fc1"]
    for i in range(20):  # 2^20 paths through a lattice of Flatten nodes
        for s in "ab":
            g.nodes[f"f{i}{s}"] = nir.Flatten({"input": np.array([6])})
            g.edges += [(p, f"f{i}{s}") for p in prev]
        prev = [f"f{i}a", f"f{i}b"]
    g.edges = [e for e in g.edges if e != ("fc1", "lif1")] + [(p, "lif1") for p in prev]
    _compile_refused(tmp_path, capsys, g, "paths from one population to the next")
    g = _graph()
    g.edges.append(("fc1", "lif1"))
    _compile_refused(tmp_path, capsys, g, "NIR edge fc1 -> lif1: given twice")


# --- export: node names NIR's HDF5 file cannot hold ---------------------------------------


def _renamed(graph, old, new) -> Graph:
    nodes = {(new if k == old else k): v for k, v in graph.nodes.items()}
    edges = [tuple(new if x == old else x for x in e) for e in graph.edges]
    return Graph(graph.target, nodes, edges, dict(graph.metadata))


@pytest.mark.parametrize("name, why", [("", "is empty"), ("a\0b", "contains NUL"), ("a/b", "contains '/'"),
                                       (".", "is '.'"), ("\udcff", "is not valid UTF-8")])
def test_export_refuses_names_nir_cannot_hold(name, why, tmp_path):
    with pytest.raises(FormatError, match=f"cannot export node .* to NIR: its name {why}"):
        nir_export.export(_renamed(small_loihi_graph(), "lif0", name), tmp_path / "m.nir")
    assert list(tmp_path.iterdir()) == []


def test_no_snnc_file_holds_an_empty_node_name_for_export_to_meet(tmp_path):
    """The CLI's export reads a .snnc: save (and load, tests/fuzz/test_values.py) refuse the name."""
    from snnc.compiler.ir import save
    from snnc.errors import GraphError

    with pytest.raises(GraphError, match="node name '' must be a non-empty string"):
        save(_renamed(small_loihi_graph(), "lif0", ""), tmp_path / "g.snnc")
    assert list(tmp_path.iterdir()) == []


def test_export_delay_node_name_does_not_overwrite_a_node(tmp_path):
    """A loihi synapse 'dense0' (delay 1) exports a Delay; a population named 'dense0_delay' keeps its name."""
    graph = _renamed(small_loihi_graph(), "lif0", "dense0_delay")
    ng = nir.read(nir_export.export(graph, tmp_path / "m.nir"))
    kinds = {k: type(v).__name__ for k, v in ng.nodes.items()}
    assert kinds["dense0_delay"] in ("LIF", "CubaLIF") and kinds["dense0_delay_1"] == "Delay"
    assert ("dense0", "dense0_delay_1") in [tuple(e) for e in ng.edges]
