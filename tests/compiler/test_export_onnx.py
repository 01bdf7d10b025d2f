"""ONNX export: integer idioms on both signs, the exported models against the event
simulator bit for bit on random graphs (wrap, clip, saturation, multi-spike,
negative exponents), the step model streamed, and one-line refusals."""
import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import snnc
from snnc.cli import main
from snnc.compiler.export import onnx as ox
from snnc.compiler.export.onnx_run import load_model
from snnc.compiler.export import onnx_kinds
from snnc.targets.loihi import onnx_kind as loihi_onnx
from snnc.targets.xylo import onnx_kind as xylo_onnx
from snnc.compiler.export.onnx_ops import Builder
from snnc.compiler.ir import FloatLIF, Graph, Input, LoihiLIF, Output, Synapse, save
from snnc.errors import BackendUnavailable, CompileError, FormatError
from snnc.targets import loihi, xylo
from tests.strategies import binary_input, random_lava_case, recurrent_loihi_graph, xylo_fanout_ok, xylo_params

# Fresh examples each run; print_blob prints a @reproduce_failure line that replays a failure anywhere.
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    print_blob=True)


def run_idiom(build, x, n_out=None):
    """A one-op-chain model on int64 x, run in onnxruntime."""
    b = Builder()
    b.op("Identity", build(b, "x"), out="y")
    vi = lambda n, k: onnx.helper.make_tensor_value_info(n, onnx.TensorProto.INT64, [k])  # noqa: E731
    g = onnx.helper.make_graph(b.nodes, "idiom", [vi("x", len(x))], [vi("y", n_out or len(x))], b.initializers)
    model = onnx.helper.make_model(g, opset_imports=[onnx.helper.make_opsetid("", ox.OPSET)])
    model.ir_version = 9
    onnx.checker.check_model(model, full_check=True)
    return ox.session(model).run(None, {"x": np.asarray(x, np.int64)})[0]


SIGNED = np.array([-70000, -4097, -4096, -129, -7, -2, -1, 0, 1, 2, 7, 129, 4095, 4096, 70000, 2**35 + 3, -(2**35) - 3])


def test_floor_shift_is_arithmetic_shift_on_both_signs():
    for k in (0, 1, 3, 12):
        np.testing.assert_array_equal(run_idiom(lambda b, x: b.floor_shift(x, k), SIGNED), SIGNED >> k)
    assert run_idiom(lambda b, x: b.floor_shift(x, 1), [-7])[0] == -4  # floor, where Div would give -3


def test_loihi_decay_truncates_toward_zero_and_wraps():
    for d in (0, 1, 100, 4095, 4096):
        got = run_idiom(lambda b, x: loihi_onnx._loihi_decay(b, x, d), SIGNED)
        np.testing.assert_array_equal(got, [loihi.decay12(int(v), d) for v in SIGNED])
    for bits in (16, 24, 32):
        np.testing.assert_array_equal(run_idiom(lambda b, x: b.wrap(x, bits), SIGNED), loihi.wrap(SIGNED, bits))


def test_matmul_is_exact_in_float64_below_2_53_and_int64_above():
    w = np.array([[1, -3], [1, 5]])
    small = np.array([-7, 2**20])
    got = run_idiom(lambda b, x: b.matmul(x, b.i64(w), onnx_kinds.sum_bound(w.T, 2**20)), small, 2)
    np.testing.assert_array_equal(got, small @ w)
    big = np.array([2**53 + 1, 1])  # odd sums above 2^53: float64 would round them
    got = run_idiom(lambda b, x: b.matmul(x, b.i64(w), onnx_kinds.sum_bound(w.T, 2**54)), big, 2)
    np.testing.assert_array_equal(got, big @ w)


def test_xylo_bitshift_decay_on_both_signs():
    values = np.array([-32768, -300, -17, -2, -1, 0, 1, 2, 17, 300, 32767])
    for dash in (0, 1, 4, 15):
        got = run_idiom(lambda b, x: xylo_onnx._bitshift_decay(b, x, dash), values)
        np.testing.assert_array_equal(got, [xylo.bitshift_decay(int(v), dash) for v in values])


def assert_same(graph, x, model=None):
    res = snnc.runtime.simulate(graph, x, record=("v",))
    out = ox.run_sequence(graph, x, model)
    for name in graph.neurons:
        np.testing.assert_array_equal(out[name]["spikes"], res.spikes[name], err_msg=f"spikes of {name}")
        np.testing.assert_array_equal(out[name]["v"], res.state[name]["v"], err_msg=f"v of {name}")
    return res


@pytest.mark.parametrize("w", [254, -255])
def test_loihi_wrap_and_clip_cases_are_exact(w):
    """u passes 2^23 within a few steps (Lava's literal wrap), v clips, vth 0 and max fire."""
    layers = [dict(weights=[[w], [w // 2]], weight_exp=7, du=0, dv=0, vth=2**17 - 1, bias_mant=4095, bias_exp=7),
              dict(weights=[[255, 255]], weight_exp=-8, du=4095, dv=1, vth=0)]
    graph = loihi.graph_from_lava_layers(layers, 1)
    res = assert_same(graph, np.ones((2, 40, 1), np.int64))
    assert res.totals["overflow_events"] > 0


def test_xylo_saturation_and_multi_spike_cases_are_exact():
    graph = xylo.graph_from_xylo(w_in=[[127, -128, 3]], w_rec=np.full((3, 3, 1), 100), w_out=[[127], [-128], [5]],
                                 threshold=[1, 7, 32767], threshold_out=1, weight_shift_in=7, weight_shift_rec=7,
                                 dash_mem=[0, 15, 3], dash_syn=15, bias=[-32768, 32767, 0])
    res = assert_same(graph, np.full((2, 30, 1), 200))
    assert res.totals["overflow_events"] > 0 and res.spikes["hidden"].max() == 31


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(1, 3), st.integers(1, 30))
def test_loihi_random_chains_equal_the_simulator(seed, B, T):
    layers, n_in, _ = random_lava_case(np.random.default_rng(seed), max_size=16, steps=T)
    graph = loihi.graph_from_lava_layers(layers, n_in)
    assert_same(graph, binary_input(seed, B, T, n_in, [0.05, 0.3, 1.0][seed % 3]))


@SETTINGS
@given(xylo_params(), st.integers(1, 3), st.integers(1, 25), st.sampled_from([1, 3, 20]))
def test_xylo_random_populations_equal_the_simulator(params, B, T, max_count):
    assume(xylo_fanout_ok(params))
    graph = xylo.graph_from_xylo(**params)
    x = np.random.default_rng(T).integers(0, max_count + 1, (B, T, params["w_in"].shape[0]))
    assert_same(graph, x)


def test_xylo_unsaturated_sums_become_matmuls_and_stay_exact():
    rng = np.random.default_rng(0)
    params = dict(w_in=rng.integers(-3, 4, (4, 6, 2)), w_rec=rng.integers(-2, 3, (6, 6, 2)),
                  w_out=rng.integers(-3, 4, (6, 3)), threshold=5, threshold_out=7, dash_mem=2,
                  dash_syn=[[1, 3]] * 6, dash_syn_out=2)
    graph = xylo.graph_from_xylo(**params)
    hidden = graph.nodes["hidden"]
    caps = [(s, 15 if src == "input" else 31) for _, s, src in graph.incoming("hidden")]
    assert xylo_onnx.no_saturation(hidden, caps).all()
    model = ox.build(graph)
    assert any(n.op_type == "MatMul" for n in model.graph.node[-1].attribute[0].g.node)
    assert_same(graph, rng.integers(0, 16, (2, 30, 4)), model)
    caps[0] = (Synapse(np.full((6, 4), 127), 7, 0, 0), 15)
    assert not xylo_onnx.no_saturation(hidden, caps)[0]


@SETTINGS
@given(st.integers(0, 10_000), st.integers(1, 20), st.sampled_from(["soft", "zero"]),
       st.sampled_from([0.0, 0.5, 0.75]), st.sampled_from([1, 3, 31]), st.sampled_from([0, 1, 2]))
def test_ideal_float_equals_the_simulator(seed, T, reset, alpha, max_spikes, delay):
    rng = np.random.default_rng(seed)
    g = Graph(target="ideal")
    g.add("input", Input(5))
    g.add("fc0", Synapse(rng.normal(0, 1, (7, 5)).astype(np.float32), -2, delay), ["input"])
    g.add("lif0", FloatLIF(7, beta=0.875, vth=0.3, bias=0.05, reset=reset, alpha=alpha, max_spikes=max_spikes),
          ["fc0"])
    g.add("rec0", Synapse(rng.integers(-2, 3, (7, 7)).astype(np.float32), -3, 1), ["lif0"])
    g.connect("rec0", "lif0")
    g.add("output", Output(7), ["lif0"])
    assert_same(g, binary_input(seed, 2, T, 5, 0.5).astype(np.float32))


def test_two_inputs_take_their_columns_in_graph_order():
    rng = np.random.default_rng(4)
    g = Graph(target="loihi")
    g.add("a", Input(3))
    g.add("b", Input(2))
    g.add("da", Synapse(loihi.effective_weights(rng.integers(-256, 255, (4, 3))), 2, 1), ["a"])
    g.add("db", Synapse(loihi.effective_weights(rng.integers(0, 255, (4, 2))), -3, 1), ["b"])
    g.add("lif0", LoihiLIF(4, du=10, dv=200, vth=5), ["da", "db"])
    g.add("output", Output(4), ["lif0"])
    assert_same(g, binary_input(4, 2, 20, 5, 0.5))


def stream(graph, x):
    """The step model fed step by step from the reset state: per-step outputs and states."""
    model = ox.build(graph, step=True)
    sess = ox.session(model)
    names = [o.name for o in sess.get_outputs()]
    state = {i.name: np.zeros([x.shape[0]] + i.shape[1:], np.float32 if i.type == "tensor(float)" else np.int64)
             for i in sess.get_inputs() if i.name != "input"}
    trace = []
    for t in range(x.shape[1]):
        out = dict(zip(names, sess.run(None, {"input": x[:, t].astype(np.int32), **state})))
        state = {k: out["next." + k[len("state."):]] for k in state}
        trace.append(out)
    return {k: np.stack([o[k] for o in trace], axis=1) for k in trace[0]}


@pytest.mark.parametrize("seed", [1, 2])
def test_step_model_streams_the_same_states(seed):
    graph = recurrent_loihi_graph(seed)
    x = binary_input(seed, 2, 25, 6, 0.4)
    res = snnc.runtime.simulate(graph, x, record=("u", "v"))
    out = stream(graph, x)
    for n in graph.neurons:
        np.testing.assert_array_equal(out[f"{n}.spikes"], res.spikes[n])
        np.testing.assert_array_equal(out[f"next.{n}.u"], res.state[n]["u"])
        np.testing.assert_array_equal(out[f"next.{n}.v"], res.state[n]["v"])
    np.testing.assert_array_equal(out["next.lif0.history"][:, :, 0], res.spikes["lif0"])


def test_xylo_step_model_streams_synaptic_states():
    rng = np.random.default_rng(5)
    graph = xylo.graph_from_xylo(w_in=rng.integers(-128, 128, (3, 8, 2)), w_rec=rng.integers(-128, 128, (8, 8, 2)),
                                 w_out=rng.integers(-128, 128, (8, 2)), threshold=rng.integers(1, 60, 8),
                                 threshold_out=30, weight_shift_in=5, weight_shift_rec=3,
                                 dash_mem=rng.integers(0, 16, 8), dash_syn=rng.integers(0, 16, (8, 2)), bias=-20)
    x = rng.integers(0, 20, (2, 20, 3))
    res = snnc.runtime.simulate(graph, x, record=("v", "i_syn"))
    out = stream(graph, x)
    for n in graph.neurons:
        np.testing.assert_array_equal(out[f"{n}.spikes"], res.spikes[n])
        np.testing.assert_array_equal(out[f"next.{n}.v"], res.state[n]["v"])
        for k in range(graph.nodes[n].n_syn):
            np.testing.assert_array_equal(out[f"next.{n}.i_syn{k}"], res.state[n]["i_syn"][..., k])


def test_model_is_checked_and_states_its_opset(tmp_path):
    path = ox.export(recurrent_loihi_graph(0), tmp_path / "g.onnx")
    model = load_model(path)
    assert [o.version for o in model.opset_import] == [18]
    assert {p.key: p.value for p in model.metadata_props}["snnc.target"] == "loihi"
    assert [o.name for o in model.graph.output] == ["lif0.spikes", "lif0.v", "lif1.spikes", "lif1.v"]


def cli(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_graph_it_cannot_express_is_one_line_and_nothing_written(tmp_path, capsys, monkeypatch):
    graph = recurrent_loihi_graph(0)
    save(graph, tmp_path / "g.snnc")
    monkeypatch.delitem(onnx_kinds.LOWERINGS, "LoihiLIF")
    with pytest.raises(CompileError, match="node 'lif0'"):
        ox.build(graph)
    code, _, err = cli(["export", str(tmp_path / "g.snnc"), "--format", "onnx", "--out", str(tmp_path / "g.onnx")],
                       capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "node 'lif0'" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.snnc"]


def test_corrupt_onnx_is_one_line_and_nothing_written(tmp_path, capsys):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage" * 10)
    np.save(tmp_path / "x.npy", np.zeros((1, 3, 6), np.int32))
    with pytest.raises(FormatError, match="bad.onnx"):
        load_model(bad)
    code, _, err = cli(["export", str(bad), "--run", str(tmp_path / "x.npy"), "--out", str(tmp_path / "y.npz")],
                       capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "not a valid ONNX model" in err
    assert not (tmp_path / "y.npz").exists()


def test_cli_exports_and_runs_the_sequence_model(tmp_path, capsys):
    graph = recurrent_loihi_graph(3)
    save(graph, tmp_path / "g.snnc")
    x = binary_input(3, 2, 10, 6, 0.5)
    np.save(tmp_path / "x.npy", x)
    assert cli(["export", str(tmp_path / "g.snnc"), "--format", "onnx", "--out", str(tmp_path / "g.onnx")],
               capsys)[0] == 0
    assert cli(["export", str(tmp_path / "g.onnx"), "--run", str(tmp_path / "x.npy"), "--out",
                str(tmp_path / "y.npz")], capsys)[0] == 0
    np.testing.assert_array_equal(np.load(tmp_path / "y.npz")["lif1.spikes"],
                                  snnc.runtime.simulate(graph, x).spikes["lif1"])


def test_missing_exporter_module_is_one_line(tmp_path, capsys, monkeypatch):
    from snnc.compiler import export

    monkeypatch.setitem(export.FORMATS, "lava", "snnc.compiler.export.no_such_module")
    with pytest.raises(BackendUnavailable, match="'lava' is not available"):
        export.exporter("lava")
    save(recurrent_loihi_graph(0), tmp_path / "g.snnc")
    code, _, err = cli(["export", str(tmp_path / "g.snnc"), "--format", "lava", "--out", str(tmp_path / "p")], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and not (tmp_path / "p").exists()


def test_verify_runs_onnx_as_a_backend():
    from snnc.evaluation.verify import verify

    rng = np.random.default_rng(0)
    layers = [dict(weights=rng.integers(-100, 120, (20, 64)), du=500, dv=300, vth=800,
                   rec_weights=rng.integers(-50, 50, (20, 20)), rec_weight_exp=-1),
              dict(weights=rng.integers(-100, 120, (10, 20)), weight_exp=-2, du=100, dv=4095, vth=200)]
    graph = loihi.graph_from_lava_layers(layers, 64)
    data = {"name": "digits", "steps": 8, "encoding": "rate"}
    report = verify(graph, data, backends=("sim", "onnx"), samples=60, progress=False)
    assert report["agreement"]["onnx"] == 1.0 and report["agreement_samples"]["onnx"] == 60
