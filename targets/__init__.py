"""Targets: one file each, registering itself; this package imports every one.

Adding a target is adding one module here that calls `registry.register`.
Each target file also owns its neuron kinds: the IR node class, its state,
its parameter ranges, its arithmetic and how both simulators run it
(`registry.register_kind`). Import errors are not caught: a broken target
file fails loudly.
"""
import importlib
import pkgutil

from snnc.targets.registry import all_targets, get, kind_of, register, register_kind

_NOT_TARGETS = {"base", "registry", "kernel", "cli"}

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _module not in _NOT_TARGETS:
        importlib.import_module(f"{__name__}.{_module}")

from snnc.targets import ideal, loihi, xylo  # noqa: E402  (named for `from snnc.targets import loihi`)

__all__ = ["ideal", "loihi", "xylo", "all_targets", "get", "kind_of", "register", "register_kind"]
