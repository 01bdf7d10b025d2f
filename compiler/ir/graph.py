"""The integer graph: named nodes and directed edges, compiled for one target."""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from snnc.compiler.ir.nodes import Input, Neuron, Node, Output, Synapse
from snnc.errors import GraphError

_STAMPS = itertools.count(1)  # a fresh stamp per change of any edge list: a cached index is valid while it holds


class EdgeList(list):
    """A graph's edge list: a plain list of (source, destination) pairs that stamps each
    change, so that the graph's adjacency index (built once, in edge order) knows when it
    is stale. Every way a list changes in place goes through one of these methods."""

    def __init__(self, *args):
        super().__init__(*args)
        self.stamp = next(_STAMPS)


def _stamping(name):
    method = getattr(list, name)

    def changed(self, *args, **kwargs):
        result = method(self, *args, **kwargs)
        self.stamp = next(_STAMPS)
        return result
    changed.__name__ = name
    return changed


for _name in ("append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse",
              "__setitem__", "__delitem__", "__iadd__", "__imul__"):
    setattr(EdgeList, _name, _stamping(_name))


MAX_NAME = 256  # characters in a node name (an estimate: names are labels, not data)


def check_name(name) -> str:
    """A node name every writer can hold: a non-empty string of at most MAX_NAME printable
    characters without '/' (the `.snnc` tensor keys are `node/field`) or NUL."""
    if not isinstance(name, str) or not name or len(name) > MAX_NAME:
        raise GraphError(f"node name {str(name)[:40]!r} must be a non-empty string of at most {MAX_NAME} characters")
    if "/" in name or not name.isprintable():
        raise GraphError(f"node name {name[:40]!r} holds '/' or an unprintable character")
    return name


@dataclass(eq=False)
class Graph:
    """Nodes by name, edges as (source, destination) pairs.

    Delivery order is canonical, whatever the order in which edges were added
    (`incoming`): a population receives first the synapses from Input nodes,
    then those from other populations, then its own recurrent synapses, each
    group in edge order. This is Xylo's order (xylosim's XyloLayer.evolve:
    input, then recurrent, then readout, which is a population fed by another)
    and it matters where additions saturate; both simulators follow it.

    `predecessors` and `successors` read an adjacency index built once from the
    edges (rebuilt after any change to them), so that checking or simulating a
    graph takes time linear in its nodes and edges.
    """

    target: str
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)

    def __setattr__(self, name, value):
        if name == "edges" and not isinstance(value, EdgeList):
            value = EdgeList(value)
        object.__setattr__(self, name, value)

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_index", None)  # rebuilt on first use
        return state

    def add(self, name: str, node: Node, inputs: tuple[str, ...] | list[str] = ()) -> str:
        """Add `node` as `name`, connected from each of `inputs`; return the name."""
        if name in self.nodes:
            raise GraphError(f"node '{name}' already exists")
        check_name(name)
        if not isinstance(node, Node):
            raise GraphError(f"node '{name}' is a {type(node).__name__}, not an IR node")
        self.nodes[name] = node
        for src in inputs:
            self.connect(src, name)
        return name

    def connect(self, src: str, dst: str) -> None:
        for end in (src, dst):
            if end not in self.nodes:
                raise GraphError(f"edge {src} -> {dst}: no node named '{end}'")
        self.edges.append((src, dst))

    def _adjacency(self) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        """(predecessors, successors) of every node with an edge, in edge order."""
        edges = self.edges
        if not isinstance(edges, EdgeList):  # set through __dict__: wrap once
            edges = EdgeList(edges)
            object.__setattr__(self, "edges", edges)
        index = self.__dict__.get("_index")
        if index is None or index[0] is not edges or index[1] != edges.stamp:
            preds: dict[str, list[str]] = {}
            succs: dict[str, list[str]] = {}
            for s, d in edges:
                preds.setdefault(d, []).append(s)
                succs.setdefault(s, []).append(d)
            index = (edges, edges.stamp, preds, succs)
            self.__dict__["_index"] = index
        return index[2], index[3]

    def predecessors(self, name: str) -> list[str]:
        return list(self._adjacency()[0].get(name, ()))

    def successors(self, name: str) -> list[str]:
        return list(self._adjacency()[1].get(name, ()))

    def of_type(self, cls) -> dict[str, Node]:
        return {n: node for n, node in self.nodes.items() if isinstance(node, cls)}

    @property
    def inputs(self) -> dict[str, Input]:
        return self.of_type(Input)

    @property
    def neurons(self) -> dict[str, Neuron]:
        return self.of_type(Neuron)

    @property
    def outputs(self) -> dict[str, Output]:
        return self.of_type(Output)

    def synapse_source(self, syn_name: str) -> str:
        (src,) = self.predecessors(syn_name)
        return src

    def incoming(self, neuron: str) -> list[tuple[str, Synapse, str]]:
        """(synapse name, synapse, source) feeding `neuron`, in canonical delivery order:
        from Inputs, from other populations, then recurrent; edge order within each."""
        found = [(s, self.nodes[s], self.synapse_source(s)) for s in self.predecessors(neuron)]
        def group(item):
            return 0 if isinstance(self.nodes[item[2]], Input) else 2 if item[2] == neuron else 1
        return sorted(found, key=group)  # sorted is stable: edge order within a group

    def neuron_order(self) -> list[str]:
        """Neuron populations in dependency order; self-loops are allowed, other cycles not.

        Rounds: each round takes, in node order, every population whose sources are all
        placed in earlier rounds (a population's round is 1 + its sources' latest round);
        computed in one pass over the dependencies (Kahn's algorithm)."""
        neurons = self.neurons
        deps = {n: {src for _, _, src in self.incoming(n) if src != n and src in neurons} for n in neurons}
        users: dict[str, list[str]] = {n: [] for n in neurons}
        for n, d in deps.items():
            for src in d:
                users[src].append(n)
        waiting = {n: len(d) for n, d in deps.items()}
        level = {n: 0 for n in neurons}
        ready = [n for n, k in waiting.items() if k == 0]
        placed = []
        while ready:
            n = ready.pop()
            placed.append(n)
            for user in users[n]:
                level[user] = max(level[user], level[n] + 1)
                waiting[user] -= 1
                if waiting[user] == 0:
                    ready.append(user)
        if len(placed) != len(neurons):
            left = [n for n in neurons if waiting[n] > 0]
            raise GraphError(f"cycle through several neuron populations: {sorted(left)}")
        position = {n: i for i, n in enumerate(neurons)}
        return sorted(placed, key=lambda n: (level[n], position[n]))

    def summary(self) -> str:
        return f"Graph(target={self.target!r}, {len(self.nodes)} nodes, {len(self.edges)} edges)"
