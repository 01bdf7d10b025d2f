"""The .tflite flatbuffer written with LiteRT's own generated schema (object API) and `flatbuffers`,
no TensorFlow: tensors (with their quantisation), operators and their codes, one subgraph."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

NUMPY_TYPES = {"INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "FLOAT32": np.float32}   # TensorType -> dtype


def schema():
    from ai_edge_litert import schema_py_generated as schema   # LiteRT's generated flatbuffer API
    return schema


@dataclass
class Writer:
    """The flatbuffer's tables as the object API holds them; tensors and operators appended."""

    schema: object
    model: object = None
    tensors: list = field(default_factory=list)
    operators: list = field(default_factory=list)
    codes: dict = field(default_factory=dict)

    def __post_init__(self):
        s = self.schema
        self.model = s.ModelT()
        self.model.version, self.model.buffers, self.model.operatorCodes = 3, [s.BufferT()], []
        self.model.description = "snnc edge-int8 graph"

    def tensor(self, name: str, shape, dtype: str, data=None, scale=None, zero_point=None) -> int:
        s = self.schema
        t = s.TensorT()
        t.name, t.shape, t.type, t.buffer = name, [int(d) for d in shape], getattr(s.TensorType, dtype), 0
        if data is not None:
            buf = s.BufferT()
            buf.data = np.ascontiguousarray(data, NUMPY_TYPES[dtype]).tobytes()
            self.model.buffers.append(buf)
            t.buffer = len(self.model.buffers) - 1
        if scale is not None:
            q = s.QuantizationParametersT()
            q.scale = [float(v) for v in np.atleast_1d(np.asarray(scale, np.float32))]
            q.zeroPoint = [int(v) for v in np.broadcast_to(np.atleast_1d(zero_point), (len(q.scale),))]
            q.quantizedDimension = 0
            t.quantization = q
        self.tensors.append(t)
        return len(self.tensors) - 1

    def op(self, code: str, inputs: list[int], outputs: list[int], options: tuple | None = None) -> None:
        s = self.schema
        builtin = getattr(s.BuiltinOperator, code)
        if code not in self.codes:
            c = s.OperatorCodeT()
            c.builtinCode, c.deprecatedBuiltinCode, c.version = builtin, min(builtin, 127), 1
            self.model.operatorCodes.append(c)
            self.codes[code] = len(self.model.operatorCodes) - 1
        o = s.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = self.codes[code], inputs, outputs
        if options is not None:
            o.builtinOptionsType, o.builtinOptions = options
        self.operators.append(o)

    def finish(self, inputs: list[int], outputs: list[int]) -> bytes:
        import flatbuffers

        sub = self.schema.SubGraphT()
        sub.tensors, sub.operators, sub.inputs, sub.outputs, sub.name = \
            self.tensors, self.operators, inputs, outputs, "main"
        self.model.subgraphs = [sub]
        builder = flatbuffers.Builder(1024)
        builder.Finish(self.model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())
