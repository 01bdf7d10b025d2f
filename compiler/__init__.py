"""Compiler: integer graph IR, frontend, passes and exporters."""
from snnc.compiler import ir  # noqa: F401
