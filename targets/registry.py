"""Target registry: each target file calls `register` once at import, and
`register_kind` for each neuron kind it runs."""
from __future__ import annotations

from snnc.compiler.ir.nodes import TARGET_NAMES
from snnc.errors import GraphError, SnncError
from snnc.targets.base import NeuronKind, Target

_TARGETS: dict[str, Target] = {}
_KINDS: dict[type, NeuronKind] = {}


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
