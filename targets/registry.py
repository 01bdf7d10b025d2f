"""Target registry: each target file calls `register` once at import, and
`register_kind` for each neuron kind it runs."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from snnc.compiler.ir.nodes import TARGET_NAMES
from snnc.errors import DesignRuleError, GraphError, SnncError
from snnc.targets.base import NeuronKind, Target

_TARGETS: dict[str, Target] = {}
_KINDS: dict[type, NeuronKind] = {}
_CONVS: dict[str, "ConvArithmetic"] = {}


@dataclass(frozen=True)
class ConvArithmetic:
    """How a target computes a Conv2d synapse (compiler/ir/conv.py), written in its own file:
    kernel(node) -> the kernel its sums use (int64 or float64, (C_out, C_in/g, kh, kw));
    output(sums) -> None, in place on the conv's sums of one step (or [B, T, n]): what its conv
    process does to them (Loihi: a 24-bit wrap); joined_exp(node) -> the weight_exp the neuron
    kind then applies when it joins the sums into its input, as it does a Dense's."""

    kernel: Callable
    output: Callable
    joined_exp: Callable


def register_conv(target: str, arithmetic: ConvArithmetic) -> ConvArithmetic:
    """Declare that `target` runs Conv2d synapses, and how."""
    _CONVS[target] = arithmetic
    return arithmetic


def conv_arithmetic(target: str, node: str = "?") -> ConvArithmetic:
    """The conv arithmetic of `target`; DesignRuleError 'conv-support' naming `node` where it has none."""
    if target not in _CONVS:
        raise DesignRuleError("conv-support", node, f"target '{target}' has no convolution "
                              f"(Conv2d runs on: {', '.join(sorted(_CONVS)) or 'none'})")
    return _CONVS[target]


def register(target: Target) -> Target:
    if target.name in _TARGETS:
        raise SnncError(f"target '{target.name}' registered twice")
    _TARGETS[target.name] = target
    TARGET_NAMES.add(target.name)   # graphs for it load
    return target


def unregister(name: str) -> None:
    """Remove a target (a chip added for a while: a plugin or a test); its graphs no longer load."""
    _TARGETS.pop(name, None)
    TARGET_NAMES.discard(name)


def get(name: str) -> Target:
    if name not in _TARGETS:
        raise SnncError(f"unknown target '{name}' (known: {', '.join(sorted(_TARGETS))})")
    return _TARGETS[name]


def all_targets() -> dict[str, Target]:
    return dict(_TARGETS)


def targets_for(graph_kind: str) -> tuple[str, ...]:
    """Names of the targets whose graphs include `graph_kind` ("spiking", "dense")."""
    return tuple(name for name, t in _TARGETS.items() if graph_kind in t.graphs)


def resolve(ref: str):
    """The object a "module:attribute" reference of a target record names (imported on use)."""
    import importlib

    module, _, attribute = ref.partition(":")
    return getattr(importlib.import_module(module), attribute)


def executors() -> dict[str, tuple[str, ...]]:
    """Every executor and round-trip backend of some target, and the targets it runs."""
    found: dict[str, tuple[str, ...]] = {}
    for name, target in _TARGETS.items():
        for backend in (*target.executors, *target.round_trips):
            found[backend] = found.get(backend, ()) + (name,)
    return found


def register_kind(kind: NeuronKind) -> NeuronKind:
    """Make `kind.node` runnable: the simulators, `inspect` and `record` find it here."""
    if kind.node in _KINDS:
        raise SnncError(f"neuron kind '{kind.name}' registered twice")
    _KINDS[kind.node] = kind
    return kind


def kinds() -> list[NeuronKind]:
    """Every registered neuron kind, in registration order."""
    return list(_KINDS.values())


def kind_of(node) -> NeuronKind:
    """The registered kind of a neuron node (GraphError for a class no target runs)."""
    kind = _KINDS.get(type(node))
    if kind is None:
        raise GraphError(f"{type(node).__name__} is no registered neuron kind "
                         f"(known: {', '.join(k.name for k in _KINDS.values())})")
    return kind


def state_names() -> list[str]:
    """Every state variable name (and alias) some kind records, in registration order."""
    names: dict[str, None] = {}
    for kind in _KINDS.values():
        for var, sv in kind.state.items():
            names.update(dict.fromkeys((var, *sv.aliases)))
    return list(names)
