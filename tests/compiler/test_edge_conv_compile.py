"""A 1-step binary conv checkpoint (model.shortcut = "none", analog input, theta = 0) on edge-int8: its dense
form (ConvGemm -> Step per conv unit, the GAP readout folded into a Gemm) reproduces the PyTorch model, the
quantised graph keeps int32 sums for every Step, and the exported ONNX and TFLite models (LiteRT's reference
kernels) agree with the simulator on the whole test split; geometries TFLite cannot pad are refused."""
from __future__ import annotations

import numpy as np
import pytest

from snnc.compiler.ir import Conv2d
from snnc.compiler.ir.dense import Step
from snnc.compiler.ir.dense_conv import ConvGemm
from snnc.compiler.passes.dense_layers import _conv_gemm
from snnc.errors import CompileError
from snnc.evaluation.compiled import compile_checkpoint
from snnc.evaluation.verify import verify
from snnc.train import config as config_mod
from snnc.train.trainer import run
from tests.backends import require


@pytest.fixture(scope="module")
def conv_ckpt(tmp_path_factory):
    out = tmp_path_factory.mktemp("binary_conv")
    run(config_mod.from_dict({
        "data": {"name": "digits", "steps": 1, "encoding": "direct"},
        "model": {"name": "resnet", "neuron": "binary", "theta": 0.0, "widths": [6], "blocks": [1],
                  "downsample": 1, "shortcut": "none", "image_shape": [1, 8, 8], "affine": "channel_positive"},
        "loss": {"kl_weight": 0.0},
        "train": {"epochs": 3, "batch_size": 64, "lr": 5e-3, "seed": 0, "threads": 1, "eval_samples": 0}}),
        out, progress=False)
    return out / "checkpoint.pt"


def test_binary_conv_net_on_edge_int8_agrees_with_onnx_and_litert(conv_ckpt):
    from snnc.targets.edge_int8 import tflite_exec

    require("LiteRT", tflite_exec.interpreter_module)
    c = compile_checkpoint(conv_ckpt, "edge-int8")
    kinds = [type(n).__name__ for n in c.graph.nodes.values()]
    assert kinds == ["Input", "ConvGemm", "Step", "ConvGemm", "Step", "ConvGemm", "Step", "Gemm", "Output"]
    convs = list(c.graph.of_type(ConvGemm).values())
    assert all(conv.integer and not conv.requantise and conv.padding == "same" for conv in convs)
    assert convs[0].input_zero_point == c.graph.metadata["input_quant"]["zero_point"] != 0   # analog int8 input
    assert c.graph.metadata["input_quant"]["scale"] != 1.0
    for step in c.graph.of_type(Step).values():
        assert step.integer
    acc = c.report["accuracy"]
    assert acc["float_graph"]["accuracy"] == acc["float_torch"]["accuracy"]   # the dense form is exact
    assert abs(acc["deployed"]["accuracy"] - acc["float_torch"]["accuracy"]) <= 0.05   # 3 epochs: barely trained
    report = verify(c.graph, c.front.data, conv_ckpt, backends=("sim", "onnx", "tflite"), samples=10**6,
                    progress=False)
    assert report["agreement"] == {"onnx": 1.0, "tflite": 1.0}
    assert report["agreement_samples"]["tflite"] == acc["samples"]


def test_padding_tflite_cannot_express_is_refused_naming_the_synapse():
    w = np.ones((2, 1, 3, 3), np.float32)
    ok = _conv_gemm("stem_conv", Conv2d(w, delay=0, in_shape=(1, 7, 7), stride=2, padding=1), w, np.zeros(32))
    assert ok.padding == "same"    # odd image: SAME pads 1 before it, as PyTorch
    with pytest.raises(CompileError, match="synapse 'b0_1_conv'.*neither TFLite's VALID nor its SAME"):
        _conv_gemm("b0_1_conv", Conv2d(w, delay=0, in_shape=(1, 8, 8), stride=2, padding=1), w, np.zeros(32))
