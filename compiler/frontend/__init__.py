"""Frontends: a trained checkpoint (or another tool's file) -> float front-level graph."""
from snnc.compiler.frontend.checkpoint import float_net
from snnc.compiler.frontend.record import FloatNet

__all__ = ["FloatNet", "float_net"]  # NIR files: snnc.compiler.frontend.nir (read_nir, compile_nir)
# KAN checkpoints: snnc.compiler.frontend.kan (kan_float_net: the exact Gemm + Relu lowering)
