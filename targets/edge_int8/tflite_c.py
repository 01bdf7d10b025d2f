"""`snnc export --format c`: the .tflite model as a C array for TensorFlow Lite Micro.

The file holds the flatbuffer bytes (`tflite_export.build`) as `const unsigned char
snnc_model[]` (16-byte aligned, as TFLite Micro's GetModel needs the buffer aligned) and
`const unsigned int snnc_model_len`, the way `xxd -i` writes a model. Its header comment
names the builtin ops to register in a `tflite::MicroMutableOpResolver` and the activation
memory: the most bytes of non-constant tensors alive at once when each op's inputs and
output are live from the op that writes them to the last op that reads them (16-byte
aligned each). That is what a lifetime-based arena plan needs at least; TFLite Micro adds
its own per-tensor and per-op bookkeeping to the arena, which is not measured here (no
TFLite Micro runs on this machine), so the figure is marked an estimate. Nothing from the
graph's names reaches the file: the comment holds op names and numbers only.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from snnc.compiler.ir import Graph
from snnc.errors import InputError
from snnc.io import atomic_path
from snnc.targets.edge_int8.tflite_export import build

ALIGN = 16   # bytes: TFLite Micro's kBufferAlignment (tensorflow/lite/micro/memory_helpers.h)
_BYTES = {"INT8": 1, "INT16": 2, "INT32": 4, "FLOAT32": 4}
_RESOLVER = {"FULLY_CONNECTED": "AddFullyConnected", "CONV_2D": "AddConv2D", "CAST": "AddCast", "ADD": "AddAdd",
             "MAXIMUM": "AddMaximum", "MINIMUM": "AddMinimum"}   # MicroMutableOpResolver's methods


def export(graph: Graph, path, **options) -> Path:
    if options:
        raise InputError(f"c export takes no options, got {', '.join(options)}")
    text = c_source(graph)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)
    return Path(path)


def c_source(graph: Graph) -> str:
    model = build(graph)
    data = np.frombuffer(model.content, np.uint8)
    rows = [", ".join(f"0x{b:02x}" for b in data[i:i + 12]) for i in range(0, len(data), 12)]
    ops = sorted(model.ops)
    header = [
        "/* snnc edge-int8 model for TensorFlow Lite Micro (TFLite flatbuffer, schema version 3).",
        f" * Builtin ops to register ({len(ops)}): {', '.join(ops)}",
        f" *   tflite::MicroMutableOpResolver<{len(ops)}> resolver; "
        + " ".join(f"resolver.{_RESOLVER.get(op, op)}();" for op in ops),
        f" * Activation memory: {activation_bytes(model.content)} bytes (estimate: the largest set of",
        " *   non-constant tensors alive at once, 16-byte aligned; TFLite Micro's arena adds its own",
        " *   bookkeeping, not measured here). Input and output are tensors 0 of the subgraph's lists.",
        " */",
    ]
    body = [f"alignas({ALIGN}) const unsigned char snnc_model[] = {{", *(f"  {r}," for r in rows), "};",
            f"const unsigned int snnc_model_len = {len(data)};"]
    return "\n".join([*header, "#include <stdalign.h>", *body]) + "\n"


def activation_bytes(content: bytes) -> int:
    """Peak bytes of the non-constant tensors alive at once (see the module docstring)."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(content, 0)
    sub, types = model.subgraphs[0], {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    const = {i for i, t in enumerate(sub.tensors) if t.buffer and model.buffers[t.buffer].data is not None}
    first, last = {i: -1 for i in sub.inputs}, {}
    for k, op in enumerate(sub.operators):
        for i in op.outputs:
            first.setdefault(i, k)
        for i in op.inputs:
            last[i] = k
    for i in sub.outputs:
        last[i] = len(sub.operators)
    size = {i: -(-int(np.prod(sub.tensors[i].shape)) * _BYTES[types[sub.tensors[i].type]] // ALIGN) * ALIGN
            for i in first if i not in const}
    return max(sum(b for i, b in size.items() if first[i] <= k <= last.get(i, first[i]))
               for k in range(len(sub.operators) + 1))
