"""ideal's compile flow: the float graph as it is, checked."""
from __future__ import annotations

from snnc.compiler.passes import DesignRules


def flow():
    return [], [DesignRules()]
