"""Target registry: each target file calls `register` once at import."""
from __future__ import annotations

from snnc.errors import SnncError
from snnc.targets.base import Target

_TARGETS: dict[str, Target] = {}


def register(target: Target) -> Target:
    if target.name in _TARGETS:
        raise SnncError(f"target '{target.name}' registered twice")
    _TARGETS[target.name] = target
    return target


def get(name: str) -> Target:
    if name not in _TARGETS:
        raise SnncError(f"unknown target '{name}' (known: {', '.join(sorted(_TARGETS))})")
    return _TARGETS[name]


def all_targets() -> dict[str, Target]:
    return dict(_TARGETS)
