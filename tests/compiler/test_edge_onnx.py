"""Integer ONNX export of dense graphs == the simulator, bit for bit, under onnxruntime:
random chains over the whole legal parameter range (every shift, zero multipliers,
the largest ones, int8 and int16 clamps, biases that make the int32 accumulator
wrap, inputs at the int8 edges), and the exported file through `snnc export`."""
import numpy as np
import onnx
import pytest

from snnc.compiler.export import export
from snnc.compiler.export.onnx_edge import build, run_model
from snnc.compiler.ir import Graph, Input, Output
from snnc.compiler.ir.dense import Gemm, Relu, Step
from snnc.runtime import dense
from snnc.targets import edge_int8
from tests.backends import fresh_seed

FRESH_SEED = fresh_seed()  # a new seed each run; SNNC_TEST_SEED=N replays one


def random_gemm(rng, n_out, n_in, zp_in, last):
    mult = rng.choice([0, 1, 1 << 30, 2**31 - 1, *rng.integers(0, 2**31, 3)], n_out)
    act = [(-128, 127), (-32767, 32767), (-5, 20)][rng.integers(3)]
    zp_out = int(rng.integers(act[0], act[1] + 1)) if act[0] != -32767 else 0
    bias = rng.integers(-(2**31), 2**31, n_out) >> rng.integers(0, 31)
    edge = rng.random(n_out) < 0.25      # biases at the int32 edges: the accumulator wraps
    bias[edge] = rng.choice([-1, 1], edge.sum()) * (2**31 - 1 - rng.integers(0, 1000, edge.sum()))
    return Gemm(rng.integers(-128, 128, (n_out, n_in)), bias, mult, rng.integers(-31, 31, n_out), zp_in, zp_out,
                *act, requantise=bool(last or rng.random() < 0.7))


def random_chain(rng) -> Graph:
    """Input (int8, or int16 in a third of the cases) -> (Gemm [-> Relu | -> Step])* -> Output, sizes 1..9."""
    g, n = Graph("edge-int8"), int(rng.integers(1, 10))
    prev = g.add("input", Input(n))
    wide = rng.random() < 1 / 3
    if wide:
        g.metadata["input_quant"] = {"scale": 1.0, "zero_point": 0, "bits": 16}
    for k in range(int(rng.integers(1, 4))):
        m = int(rng.integers(1, 10))
        zp_in = 0 if wide and k == 0 else int(rng.integers(-128, 128))
        prev = g.add(f"fc{k}", random_gemm(rng, m, n, zp_in, False), [prev])
        after = rng.integers(3)
        if after == 1:
            prev = g.add(f"relu{k}", Relu(m, zero_point=int(rng.integers(-200, 200))), [prev])
        elif after == 2:
            prev = g.add(f"step{k}", Step(m, rng.integers(-(2**31), 2**31, m)), [prev])
        n = m
    g.add("output", Output(n, read="v"), [prev])
    return g


def inputs(rng, g: Graph) -> np.ndarray:
    lo, hi = edge_int8.input_range(g)
    n = g.nodes["input"].size
    x = rng.integers(lo, hi + 1, (64, 1, n))
    x[:10] = rng.choice(np.array([lo, hi, 0, -1, 1]), (10, 1, n))
    return x


@pytest.mark.parametrize("seed", [0, 1, pytest.param(FRESH_SEED, id="fresh")])
def test_random_edge_graphs_match_onnxruntime(seed):
    rng = np.random.default_rng(seed)
    for case in range(12):
        g = random_chain(rng)
        x = inputs(rng, g)
        ours = dense.run(g, x[:, 0])
        theirs = run_model(g, x)
        for layer, values in ours.items():
            where = np.argwhere(values != theirs[layer]["v"][:, 0])
            assert where.size == 0, (f"seed {seed} case {case} layer {layer} differs first at (sample, unit) "
                                     f"{tuple(where[0])}: sim {values[tuple(where[0])]}, "
                                     f"onnxruntime {theirs[layer]['v'][:, 0][tuple(where[0])]}")


def test_saturation_and_wrap_are_exercised():
    """The random cases do reach the clamps, the left-shift saturation and the int32 wrap."""
    rng = np.random.default_rng(0)
    clamped = wrapped = 0
    for _ in range(12):
        g = random_chain(rng)
        x = inputs(rng, g)
        out = dense.run(g, x[:, 0])
        for name, node in g.of_type(Gemm).items():
            src = out.get(g.predecessors(name)[0], x[:, 0])
            exact = (src - node.input_zero_point) @ node.weights.T + node.bias
            wrapped += int(np.any(np.abs(exact) > 2**31 - 1))
            clamped += int(node.requantise and np.any((out[name] == node.act_min) | (out[name] == node.act_max)))
    assert clamped > 0 and wrapped > 0


def test_model_uses_no_float_requantisation():
    g = random_chain(np.random.default_rng(3))
    ops = {n.op_type for n in build(g).graph.node}
    assert not ops & {"QLinearMatMul", "QuantizeLinear", "DequantizeLinear", "MatMulInteger"}
    assert {"Mul", "Div", "Mod", "Where"} <= ops


def test_export_writes_the_dense_model(tmp_path):
    g = random_chain(np.random.default_rng(5))
    path = export(g, tmp_path / "edge.onnx", "onnx")
    model = onnx.load(str(path))
    props = {p.key: p.value for p in model.metadata_props}
    assert props["snnc.target"] == "edge-int8" and props["snnc.model"] == "dense"
    x = inputs(np.random.default_rng(6), g)
    last = [n for n in g.nodes if n != "output"][-1]
    assert np.array_equal(run_model(g, x, model)[last]["v"][:, 0], dense.run(g, x[:, 0])[last])


def test_float_dense_graph_exports_too():
    rng = np.random.default_rng(2)
    g = Graph("ideal")
    g.add("input", Input(3))
    g.add("fc", Gemm(rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=4).astype(np.float32)), ["input"])
    g.add("relu", Relu(4), ["fc"])
    g.add("output", Output(4, read="v"), ["relu"])
    x = rng.normal(size=(20, 1, 3)).astype(np.float32)
    np.testing.assert_allclose(run_model(g, x)["relu"]["v"][:, 0], dense.run(g, x[:, 0])["relu"], rtol=1e-6)
