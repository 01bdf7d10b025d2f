"""IR nodes validate themselves; every node type survives a .snnc round trip;
corrupt or foreign files give one-line errors naming the file."""
import json
import zipfile

import numpy as np
import pytest

from snnc.compiler.ir import (NODE_TYPES, Conv2d, FloatLIF, Graph, Input, LoihiLIF, Output, Synapse, XyloIAF, load,
                              save)
from snnc.compiler.ir.dense import PWL, Gemm, Relu, Step
from snnc.compiler.ir.dense_conv import AvgPool, ConvGemm
from snnc.errors import FormatError, GraphError
from snnc.targets.loihi.lava_layers import SplitDense


def all_nodes_graph():
    g = Graph(target="ideal", metadata={"checkpoint_sha256": "abc"})
    g.add("input", Input(3))
    g.add("fc", Synapse(np.ones((4, 3), np.float32), -1, 1), ["input"])
    g.add("lif", FloatLIF(4, beta=0.9, vth=[1, 2, 3, 4], reset="zero"), ["fc"])
    g.add("out", Output(4), ["lif"])
    # nodes of other targets, unconnected, for the round trip only
    g.add("loihi_lif", LoihiLIF(2, du=[0, 4095], dv=7, vth=131071, bias_mant=-4096, bias_exp=7))
    g.add("xylo_iaf", XyloIAF(2, threshold=[1, 32767], bias=-5, dash_mem=15, dash_syn=[[1, 2], [3, 4]],
                              max_spikes=31))
    g.add("gemm", Gemm(np.ones((2, 3), np.float32), [0.5, -1]))   # dense layers (edge-int8, lowered KANs)
    g.add("gemm_int", Gemm([[1, -128]], [7], 1 << 30, -3, -5, 4, -128, 127, False))
    g.add("relu", Relu(2, zero_point=-3))
    g.add("step", Step(2, np.array([1, -1])))
    g.add("pwl", PWL(np.array([[0.0, 0.5, 1.0]], np.float32), np.ones((2, 1, 3), np.float32), bias=[0.5, 0]))
    g.add("pwl_int", PWL([[-3, 4]], [[[1, -2]]], [[[9]]], [7], 1 << 30, -3, -5, 4, -128, 127))
    g.add("conv", Conv2d(np.arange(8).reshape(2, 1, 2, 2), weight_exp=-2, delay=1, in_shape=(2, 3, 5),
                         stride=(1, 2), padding=(1, 0), dilation=(2, 1), groups=2))   # compiler/ir/conv.py
    g.add("conv_gemm", ConvGemm(np.arange(-4, 4).reshape(2, 1, 2, 2), in_shape=(1, 3, 5), stride=(1, 2),
                                padding="same", bias=[3, -4], multiplier=[1 << 30, 3], shift=[-3, 2],
                                input_zero_point=-5, output_zero_point=4))   # compiler/ir/dense_conv.py
    g.add("avg_pool", AvgPool(in_shape=(2, 4, 4), kernel=(2, 3), stride=(1, 2), padding="valid", integer_mode=True))
    g.add("split", SplitDense(np.array([[300, -30000]]), weight_exp=-2, delay=1, shift=7))   # loihi: two Dense
    return g


def test_every_node_type_round_trips(tmp_path):
    g = all_nodes_graph()
    assert {type(n).__name__ for n in g.nodes.values()} == set(NODE_TYPES) - {"Neuron"}
    g.add("int_syn", Synapse(np.array([[1, -2]]), 3, 0, 0))
    from snnc.compiler.ir import serialize
    doc, tensors = serialize.graph_to_dict(g)
    back = serialize.graph_from_dict(json.loads(json.dumps(doc)), tensors)
    for name, node in g.nodes.items():
        other = back.nodes[name]
        assert type(other) is type(node)
        for key, value in node.fields().items():
            np.testing.assert_array_equal(getattr(other, key), value, err_msg=f"{name}.{key}")
    assert back.edges == g.edges and back.metadata == g.metadata


def test_save_load_file(tmp_path):
    g = Graph(target="ideal")
    g.add("input", Input(3))
    g.add("fc", Synapse(np.ones((4, 3), np.float32)), ["input"])
    g.add("lif", FloatLIF(4), ["fc"])
    path = save(g, tmp_path / "g.snnc")
    back = load(path)
    assert list(back.nodes) == list(g.nodes) and back.target == "ideal"
    assert not list(tmp_path.glob(".*tmp")), "no temporary file left behind"


@pytest.mark.parametrize("corrupt,expect", [
    (lambda p: p.write_bytes(b"not a zip"), "not a valid .snnc file"),
    (lambda p: p.write_bytes(p.read_bytes()[:40]), "not a valid .snnc file"),
    (lambda p: _rewrite(p, lambda d: {**d, "format": "onnx"}), "not an snnc graph"),
    (lambda p: _rewrite(p, lambda d: {**d, "format_version": 99}), "format version 99"),
    (lambda p: _rewrite(p, lambda d: {**d, "nodes": d["nodes"] + [{"name": "x", "type": "Bogus", "fields": {}}]}),
     "unknown node type 'Bogus'"),
    (lambda p: _rewrite(p, _bad_du), "node 'lif'"),
])
def test_corrupt_files_give_one_line_errors(tmp_path, corrupt, expect):
    g = Graph(target="loihi")
    g.add("input", Input(2))
    g.add("dense", Synapse(np.array([[2, 4]]), 0, 1), ["input"])
    g.add("lif", LoihiLIF(1, du=1, dv=1, vth=1), ["dense"])
    path = save(g, tmp_path / "g.snnc")
    corrupt(path)
    with pytest.raises(FormatError) as info:
        load(path)
    msg = str(info.value)
    assert expect in msg and str(path) in msg and "\n" not in msg


def _bad_du(doc):
    for node in doc["nodes"]:
        if node["name"] == "lif":
            node["fields"]["du"] = 5000
    return doc


def _rewrite(path, edit):
    with zipfile.ZipFile(path) as zf:
        doc, tensors = json.loads(zf.read("graph.json")), zf.read("tensors.npz")
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("graph.json", json.dumps(edit(doc)))
        zf.writestr("tensors.npz", tensors)


def test_missing_file(tmp_path):
    with pytest.raises(FormatError, match="no such file"):
        load(tmp_path / "absent.snnc")


@pytest.mark.parametrize("make,expect", [
    (lambda: LoihiLIF(3, du=5000), "'du' must lie in [0, 4095]"),
    (lambda: LoihiLIF(3, vth=[1, 2]), "'vth' must be a scalar or shape (3,)"),
    (lambda: XyloIAF(2, threshold=0), "'threshold' must lie in [1, 32767]"),
    (lambda: XyloIAF(2, dash_syn=np.zeros((2, 3))), "'dash_syn' must have shape (2, 1 or 2)"),
    (lambda: Synapse(np.ones(3)), "must be 2-D"),
    (lambda: FloatLIF(2, reset="hard"), "'reset' must be 'soft' or 'zero'"),
])
def test_bad_parameters_name_themselves(make, expect):
    with pytest.raises(GraphError) as info:
        make()
    assert expect in str(info.value)
