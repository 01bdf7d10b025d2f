"""Exporters: a compiled graph in another tool's format, each module imported on use.

Every exporter module has `export(graph, path, **options) -> Path`, writes
atomically (nothing is left behind when it fails) and raises one SnncError
naming the node a format cannot express.
"""
from __future__ import annotations

import importlib
from pathlib import Path

from snnc.errors import BackendUnavailable, InputError
from snnc.targets import all_targets

def _formats() -> dict[str, str]:
    """The generic writers, then each chip's own (`Target.exports`: the Lava program is loihi's)."""
    generic = {"onnx": "snnc.compiler.export.onnx", "nir": "snnc.compiler.export.nir",
               "onnx-edge": "snnc.compiler.export.onnx_edge"}   # dense graphs (edge-int8, ideal); `onnx` picks it
    return {**generic, **{fmt: module for spec in all_targets().values() for fmt, module in spec.exports.items()}}


FORMATS = _formats()   # format -> writer module, imported on use


def exporter(fmt: str):
    """The exporter module of `fmt`; one-line errors for an unknown or absent one."""
    if fmt not in FORMATS:
        raise InputError(f"export format '{fmt}' unknown (choose from {', '.join(FORMATS)})")
    try:
        return importlib.import_module(FORMATS[fmt])
    except ModuleNotFoundError as exc:
        if exc.name == FORMATS[fmt]:
            raise BackendUnavailable(f"export format '{fmt}' is not available: module {FORMATS[fmt]} "
                                     "is not in this installation") from None
        raise BackendUnavailable(f"export format '{fmt}' needs the package '{exc.name}', which is not "
                                 f"installed ({exc})") from exc


def export(graph, path, fmt: str, **options) -> Path:
    """Write `graph` to `path` in format `fmt` (see each module for its options)."""
    from snnc.runtime.dense import is_dense

    if fmt == "onnx" and is_dense(graph):  # Gemm/PWL/Relu/Step pipelines: integer requantisation model
        return exporter("onnx-edge").export(graph, path, **options)
    return exporter(fmt).export(graph, path, **options)


def run_onnx(graph, padded) -> dict:
    """`verify`'s onnx backend (`Target.executors`): the exported model under onnxruntime,
    {population: {"spikes", "v"}} on padded x [B, T, N]."""
    from snnc.runtime.dense import is_dense

    if is_dense(graph):  # Gemm/PWL/Relu/Step pipelines: the integer model of compiler/export/onnx_edge.py
        from snnc.compiler.export.onnx_edge import run_model
        return run_model(graph, padded)
    from snnc.compiler.export.onnx import run_sequence
    return run_sequence(graph, padded)
