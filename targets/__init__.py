"""Targets: one file each; importing this package registers all of them."""
from snnc.targets import ideal, loihi, xylo  # noqa: F401  (explicit: each registers itself)
from snnc.targets.registry import all_targets, get, register

__all__ = ["ideal", "loihi", "xylo", "all_targets", "get", "register"]
