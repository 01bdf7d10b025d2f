"""The dense executor: float Gemm/Relu/Step graphs on `ideal` against numpy in float64,
integer ones on `edge-int8` through simulate and deploy, the .snnc round trip of every
dense node, per-inference operation counts, and one-line input errors."""
import numpy as np
import pytest

import snnc
from snnc.compiler.ir import FloatLIF, Graph, Input, Output, Synapse, load, save
from snnc.compiler.ir.dense import Gemm, Relu, Step
from snnc.errors import GraphError, InputError
from snnc.runtime import deploy
from snnc.runtime.per_inference import energy


def float_graph(rng) -> Graph:
    g = Graph("ideal")
    g.add("input", Input(3))
    g.add("fc0", Gemm(rng.normal(size=(5, 3)).astype(np.float32), rng.normal(size=5).astype(np.float32)), ["input"])
    g.add("relu0", Relu(5), ["fc0"])
    g.add("fc1", Gemm(rng.normal(size=(4, 5)).astype(np.float32), rng.normal(size=4).astype(np.float32)), ["relu0"])
    g.add("step1", Step(4, np.float32([0.0, 0.5, -0.5, 1.0])), ["fc1"])
    g.add("fc2", Gemm(rng.normal(size=(2, 4)).astype(np.float32)), ["step1"])
    g.add("output", Output(2, read="v", step=-1, gain=2.0, offset=np.float32([1.0, -1.0])), ["fc2"])
    g.metadata["steps"] = 1
    return g


def numpy_reference(g: Graph, x: np.ndarray) -> np.ndarray:
    n = g.nodes
    h = np.maximum(x @ n["fc0"].weights.T.astype(np.float64) + n["fc0"].bias, 0).astype(np.float32)
    a = (h.astype(np.float64) @ n["fc1"].weights.T + n["fc1"].bias).astype(np.float32)
    s = (a > n["step1"].threshold).astype(np.float64)
    return (s @ n["fc2"].weights.T.astype(np.float64)).astype(np.float32)


def test_float_graph_matches_numpy_and_decodes():
    rng = np.random.default_rng(0)
    g, x = float_graph(rng), rng.normal(size=(50, 1, 3))
    values, res = deploy.run(g, x)
    expected = numpy_reference(g, x[:, 0])
    assert np.array_equal(res.state["fc2"]["v"][:, 0], expected)
    np.testing.assert_allclose(values, 2.0 * expected + [1.0, -1.0], rtol=1e-6)
    assert res.spikes["step1"].shape == (50, 1, 4) and set(np.unique(res.spikes["step1"])) <= {0.0, 1.0}


def test_unbatched_input_keeps_its_shape():
    g = float_graph(np.random.default_rng(1))
    res = snnc.runtime.simulate(g, np.ones((1, 3)))
    assert res.batch is None and res.state["fc2"]["v"].shape == (1, 2)


@pytest.mark.parametrize("graph", ["float", "int"])
def test_round_trip_of_every_dense_node(tmp_path, graph):
    rng = np.random.default_rng(2)
    g = float_graph(rng) if graph == "float" else int_graph()
    save(g, tmp_path / "g.snnc")
    back = load(tmp_path / "g.snnc")
    x = rng.normal(size=(10, 1, 3)) if graph == "float" else rng.integers(-128, 128, (10, 1, 3))
    assert [type(n).__name__ for n in back.nodes.values()] == [type(n).__name__ for n in g.nodes.values()]
    assert np.array_equal(deploy.run(back, x)[0], deploy.run(g, x)[0])


def int_graph() -> Graph:
    g = Graph("edge-int8")
    g.add("input", Input(3))
    g.add("fc0", Gemm([[1, -2, 3], [4, 5, -6], [7, -8, 9], [0, 1, 1]], [10, -10, 0, 5], [1 << 30] * 4,
                      [0, -1, -2, 1], -3, 4, -128, 127), ["input"])
    g.add("relu0", Relu(4, zero_point=4), ["fc0"])
    g.add("fc1", Gemm([[1, 1, 1, 1], [-1, 2, -3, 4]], [0, 7], requantise=False, input_zero_point=4), ["relu0"])
    g.add("output", Output(2, read="v", gain=0.5), ["fc1"])
    g.metadata["steps"] = 1
    return g


def test_integer_graph_by_hand():
    """x - zp = [4, 5, 6]; acc = [22, -5, 42, 16]; x 0.5 with shifts [0, -1, -2, 1]:
    22 -> 11; -5 -> -2.5 -> -2 (high mul: ties up) -> /2 = -1; 42 -> 21 -> /4 = 5.25 -> 5;
    16 -> 32 (left) -> 16; + zp 4 = [15, 3, 9, 20]; ReLU at 4 -> [15, 4, 9, 20];
    fc1 (zp 4): [11, 0, 5, 16] -> [32, -11 - 15 + 64 + 7 = 45]; decoded x 0.5."""
    values, res = deploy.run(int_graph(), np.array([[[1, 2, 3]]]))
    assert res.state["fc0"]["v"][0, 0].tolist() == [15, 3, 9, 20]
    assert res.state["relu0"]["v"][0, 0].tolist() == [15, 4, 9, 20]
    assert res.state["fc1"]["v"][0, 0].tolist() == [32, 45]
    assert values.tolist() == [[16.0, 22.5]]


def test_operation_counts_and_energy_per_inference():
    g = int_graph()
    res = snnc.runtime.simulate(g, np.zeros((7, 1, 3), np.int64))   # counters: the batch of 7
    assert res.stats["fc0"]["macs"] == 7 * 12 and res.stats["fc0"]["mults_int32"] == 7 * 4
    assert res.stats["fc0"]["adds"] == 7 * 4 * 6 and res.stats["fc0"]["bytes_read"] == 7 * (2 * 12 + 12 + 4 * 9)
    assert res.stats["fc1"]["mults_int32"] == 0 and res.stats["relu0"]["adds"] == 7 * 4
    table = snnc.targets.get("edge-int8").energy
    per_inf = sum(res.totals[c] / 7 * table[t].joules for t, c in
                  {"mac_int8": "macs_int8", "add_int32": "adds", "mul_int32": "mults_int32",
                   "sram_read_byte": "bytes_read"}.items())
    assert res.energy["per_inference_j"] == pytest.approx(per_inf)
    assert res.energy["total_j"] == pytest.approx(7 * per_inf)
    e = energy(g, res.spikes)
    assert e["energy_per_inference_j"]["mean"] == pytest.approx(per_inf) and e["energy_per_inference_j"]["std"] == 0


def test_analog_input_is_quantised_on_the_host():
    g = int_graph()
    g.metadata["input_quant"] = {"scale": 0.5, "zero_point": -3, "bits": 8}
    x = np.array([[[2.0, 2.5, 3.0]], [[100.0, -100.0, 0.24]]])   # -> [1, 2, 3] (2.5 / 0.5 = 5 exactly), clipped
    assert deploy.pad_input(g, x).tolist() == [[[1, 2, 3]], [[127, -128, -3]]]
    assert np.array_equal(deploy.run(g, x)[0][0], deploy.run(g, np.array([[[1, 2, 3]]]))[0][0])


@pytest.mark.parametrize("x, match", [
    (np.ones((2, 2, 3)), "one step per sample"),
    (np.ones((2, 1, 4)), "4 channels but the graph's input expects 3"),
    (np.full((2, 1, 3), 0.5), "fractional"),
    (np.full((2, 1, 3), 128), r"\[-128, 127\]"),
])
def test_bad_input_is_one_line(x, match):
    with pytest.raises(InputError, match=match) as exc:
        snnc.runtime.simulate(int_graph(), x)
    assert "\n" not in str(exc.value)


def test_dense_layers_and_neurons_do_not_mix():
    g = int_graph()
    g.add("syn", Synapse(np.ones((2, 3), np.float32)), ["input"])
    g.add("lif", FloatLIF(2), ["syn"])
    with pytest.raises(GraphError, match="mixes dense layers"):
        snnc.runtime.simulate(g, np.zeros((1, 1, 3), np.int64))


def test_checker_names_a_bad_dense_edge():
    g = Graph("ideal")
    g.add("input", Input(3))
    g.add("fc", Gemm(np.ones((2, 4), np.float32)), ["input"])
    with pytest.raises(GraphError, match="Gemm 'fc' takes 4 values but source 'input' gives 3"):
        snnc.compiler.ir.check_graph(g)
