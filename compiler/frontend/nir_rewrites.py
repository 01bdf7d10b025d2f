"""Rewrites of NIR graphs into forms the IR holds exactly (compiler/frontend/nir.py lists them).

Nested NIRGraphs are inlined (`flatten_subgraphs`). A bias into a population with a
synaptic current (an Affine bias into a CubaLIF, as snnTorch writes an `nn.Linear` with a
bias before `snn.Synaptic`/`RSynaptic`) passes the synaptic filter, so it is no constant
on v; it becomes what it is, a constant input: one bias channel per such population,
appended to the Input, that is 1 at every step and reaches the population through a
synapse whose weights are the bias (`bias_channels`). The host appends the channels
(runtime/deploy.py); the latency pass moves each one's first step to the step at which
its population reads its first real input on the chip, so the rewrite stays exact there.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.compiler.ir import Graph, Input, Synapse
from snnc.compiler.frontend.nir_nodes import NEURONS
from snnc.errors import CompileError

MAX_NESTING = 16          # nested NIRGraphs (snnTorch writes one level)

class SubgraphPort:
    """A nested graph's own Input or Output node once flattened: the identity."""


@dataclass
class FlatGraph:
    nodes: dict
    edges: list
    metadata: dict


def flatten_subgraphs(ng, depth: int = 0) -> FlatGraph:
    """Nested NIRGraphs (snnTorch writes a recurrent LIF as one: input -> lif <-> w_rec, lif -> output)
    inlined: inner nodes named `<sub>_<inner>` (a subgraph's only neuron takes the subgraph's name; a name
    already taken, by an outer node or another subgraph's, gets the first free `_1`, `_2`, ... suffix),
    its Input/Output nodes become identities, edges to `sub` or `sub.<port>` go to its ports."""
    if depth > MAX_NESTING:
        raise CompileError(f"NIR graph: subgraphs nested more than {MAX_NESTING} deep")
    nodes, edges, ports = {}, [], {}
    taken = set(ng.nodes)
    for name, node in ng.nodes.items():
        if type(node).__name__ != "NIRGraph":
            nodes[name] = node
    for name, node in ng.nodes.items():
        if type(node).__name__ != "NIRGraph":
            continue
        inner = flatten_subgraphs(node, depth + 1)
        neurons = [n for n, x in inner.nodes.items() if type(x).__name__ in NEURONS]
        rename = {}
        for n in inner.nodes:
            rename[n] = name if neurons == [n] else _free(f"{name}_{n}", taken)
            taken.add(rename[n])
        for n, x in inner.nodes.items():
            kind = type(x).__name__
            nodes[rename[n]] = SubgraphPort() if kind in ("Input", "Output") else x
            if kind in ("Input", "Output"):
                ports.setdefault(name, {})[kind] = ports.get(name, {}).get(kind, []) + [rename[n]]
                ports[name][n] = [rename[n]]
        for a, b in inner.edges:
            for end in (a, b):
                if end not in rename:
                    raise CompileError(f"NIR subgraph '{name}': edge {a} -> {b}: no node named '{end}'")
            edges.append((rename[a], rename[b]))
    for src, dst in ng.edges:
        edges.append((_port(ports, nodes, src, "Output"), _port(ports, nodes, dst, "Input")))
    return FlatGraph(nodes, edges, dict(ng.metadata) if isinstance(ng.metadata, dict) else {})


def _free(name: str, taken: set) -> str:
    """`name`, or `name_1`, `name_2`, ... : the first not in `taken`."""
    base, k = name, 1
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    return name


def _port(ports: dict, nodes: dict, end: str, kind: str) -> str:
    """`sub` -> its one Input/Output port; `sub.port` -> that port; anything else unchanged."""
    sub, _, port = end.partition(".")
    if sub not in ports:
        return end
    if port and end in nodes:
        raise CompileError(f"NIR edge end '{end}': both a node and port '{port}' of subgraph '{sub}'")
    found = ports[sub].get(port or kind, [])
    if len(found) != 1:
        raise CompileError(f"NIR edge end '{end}': subgraph '{sub}' has {len(found)} such ports")
    return found[0]


def add_bias_channels(graph: Graph, biases: dict[str, np.ndarray]) -> None:
    """For each population in `biases` (its bias into the synaptic current, input gain folded
    in), one more Input channel and a synapse `<population>_bias` from it with the bias as
    weights: i <- alpha i + W x + b is i <- alpha i + W x + b * 1 (module docstring). Every
    other synapse from the Input takes zero weights from the new channels."""
    if not biases:
        return
    (inp,) = graph.inputs
    n_data, k = graph.nodes[inp].size, len(biases)
    for name, syn, src in [(n, s, graph.synapse_source(n)) for n, s in graph.of_type(Synapse).items()]:
        if src == inp:
            wide = np.concatenate([syn.weights, np.zeros((syn.weights.shape[0], k), np.float32)], axis=1)
            graph.nodes[name] = Synapse(wide, syn.weight_exp, syn.delay, syn.port)
    graph.nodes[inp] = Input(n_data + k)
    for c, (pop, bias) in enumerate(biases.items()):
        w = np.zeros((graph.nodes[pop].size, n_data + k), np.float32)
        w[:, n_data + c] = bias
        name = _free(f"{pop}_bias", set(graph.nodes))
        graph.add(name, Synapse(w, delay=0), [inp])
        graph.connect(name, pop)
    graph.metadata["bias_channels"] = list(biases)   # the Input's last channels, in this order
