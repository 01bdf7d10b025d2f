"""`verify --backends tflite`: an edge-int8 graph's .tflite model run by TensorFlow Lite itself.

LiteRT (`ai-edge-litert`, the TFLite runtime) loads the model `tflite_export.build` writes
and runs it with its reference kernels (`OpResolverType.BUILTIN_REF`): code snnc did not
write. Every layer's output is read back from the interpreter (all tensors preserved);
a Gemm fused into its Step's FULLY_CONNECTED has no tensor and is reported without one.
`tflite-opt` runs the same model on LiteRT's optimised kernels without delegates
(`BUILTIN_WITHOUT_DEFAULT_DELEGATES`; the default resolver would hand it to XNNPACK, which
rounds differently again).
"""
from __future__ import annotations

import numpy as np

from snnc.compiler.ir import Graph
from snnc.compiler.ir.dense import Step
from snnc.errors import BackendUnavailable, InputError
from snnc.runtime.dense import layer_order
from snnc.targets.edge_int8.tflite_conv import channel_major
from snnc.targets.edge_int8.tflite_export import build

BATCH = 1024   # samples per invoke: bounds the interpreter's tensors (an estimate of a comfortable size)


def interpreter_module():
    try:
        from ai_edge_litert import interpreter
    except ImportError as exc:
        raise BackendUnavailable(f"the tflite backend needs LiteRT (pip install ai-edge-litert==2.3.0): {exc}") \
            from None
    return interpreter


def run_reference(graph: Graph, padded) -> dict:
    """{layer: {"v": [B, 1, n]} (and "spikes" for Steps)} from LiteRT's reference kernels."""
    return run(graph, padded, "BUILTIN_REF")


def run_optimized(graph: Graph, padded) -> dict:
    """The same from LiteRT's optimised kernels (no delegate)."""
    return run(graph, padded, "BUILTIN_WITHOUT_DEFAULT_DELEGATES")


def run(graph: Graph, padded, resolver: str = "BUILTIN_REF") -> dict:
    x = np.asarray(padded)
    if x.ndim != 3 or x.shape[1] != 1:
        raise InputError(f"a dense graph's input must be [B, 1, N], got shape {x.shape}")
    model = build(graph)
    outs = [_invoke(model, x[i:i + BATCH, 0], resolver) for i in range(0, len(x), BATCH)]
    result = {}
    for layer in layer_order(graph):
        if model.layer_tensors[layer] is None:
            result[layer] = {}
            continue
        v = np.concatenate([channel_major(o[model.layer_tensors[layer]]) for o in outs])   # NHWC -> flat
        result[layer] = {"v": np.rint(v).astype(np.int64)[:, None, :]}
        if isinstance(graph.nodes[layer], Step):
            result[layer]["spikes"] = result[layer]["v"]
    return result


def _invoke(model, x: np.ndarray, resolver: str) -> dict[str, np.ndarray]:
    """Every named layer tensor after one invoke on x [B, N]."""
    lite = interpreter_module()
    interp = lite.Interpreter(model_content=model.content, experimental_preserve_all_tensors=True,
                              experimental_op_resolver_type=getattr(lite.OpResolverType, resolver))
    (inp,) = interp.get_input_details()
    interp.resize_tensor_input(inp["index"], [len(x), 1, 1, x.shape[1]])   # NHWC: tflite_export.act_shape
    interp.allocate_tensors()
    interp.set_tensor(inp["index"], x.astype(inp["dtype"])[:, None, None, :])
    interp.invoke()
    wanted = {t for t in model.layer_tensors.values() if t is not None}
    return {d["name"]: interp.get_tensor(d["index"]) for d in interp.get_tensor_details() if d["name"] in wanted}
