"""The toy chip's executor: its graph exported to ONNX and run by onnxruntime."""
from __future__ import annotations


def run(graph, padded) -> dict:
    from snnc.compiler.export import run_onnx

    return run_onnx(graph, padded)
