"""The integer graph: named nodes and directed edges, compiled for one target."""
from __future__ import annotations

from dataclasses import dataclass, field

from snnc.compiler.ir.nodes import Input, Neuron, Node, Output, Synapse
from snnc.errors import GraphError


@dataclass(eq=False)
class Graph:
    """Nodes by name, edges as (source, destination) pairs.

    Delivery order is canonical, whatever the order in which edges were added
    (`incoming`): a population receives first the synapses from Input nodes,
    then those from other populations, then its own recurrent synapses, each
    group in edge order. This is Xylo's order (xylosim's XyloLayer.evolve:
    input, then recurrent, then readout, which is a population fed by another)
    and it matters where additions saturate; both simulators follow it.
    """

    target: str
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)

    def add(self, name: str, node: Node, inputs: tuple[str, ...] | list[str] = ()) -> str:
        """Add `node` as `name`, connected from each of `inputs`; return the name."""
        if name in self.nodes:
            raise GraphError(f"node '{name}' already exists")
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

    def predecessors(self, name: str) -> list[str]:
        return [s for s, d in self.edges if d == name]

    def successors(self, name: str) -> list[str]:
        return [d for s, d in self.edges if s == name]

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
        """Neuron populations in dependency order; self-loops are allowed, other cycles not."""
        deps = {n: {src for _, _, src in self.incoming(n) if src != n and src in self.neurons}
                for n in self.neurons}
        order: list[str] = []
        while deps:
            ready = [n for n, d in deps.items() if d <= set(order)]
            if not ready:
                raise GraphError(f"cycle through several neuron populations: {sorted(deps)}")
            order.extend(ready)
            for n in ready:
                del deps[n]
        return order

    def summary(self) -> str:
        return f"Graph(target={self.target!r}, {len(self.nodes)} nodes, {len(self.edges)} edges)"
