"""What a graph holds: per node sizes, bit widths and memory (`snnc inspect`, the
compile report), and the resources it uses against its target's limits."""
from __future__ import annotations

import numpy as np

from snnc.compiler.ir import Graph, Input, Neuron, Output, Synapse
from snnc.compiler.ir.dense import DenseLayer
from snnc.targets import get as get_target
from snnc.targets.registry import kind_of


def node_row(graph, name, node) -> dict:
    target = get_target(graph.target)
    row = {"name": name, "type": type(node).__name__, "in": node.in_size, "out": node.out_size,
           "bits": "", "memory_bits": 0, "details": ""}
    if isinstance(node, Synapse):
        nnz = int(np.count_nonzero(node.weights))
        weight_bits = target.widths.get("weight", 32)
        row.update(bits=f"weight {weight_bits}", memory_bits=nnz * weight_bits,
                   details=f"nnz {nnz}, weight_exp {node.weight_exp}, delay {node.delay}, port {node.port}, "
                           f"from {graph.synapse_source(name)}")
    elif isinstance(node, Neuron):
        state = kind_of(node).state
        per_neuron = sum(sv.bits * int(np.prod(sv.shape(node)[1:])) for sv in state.values())
        row.update(bits=", ".join(f"{v} {sv.bits}" for v, sv in state.items()), memory_bits=per_neuron * node.size,
                   details=_neuron_details(node, target.ranges))
    elif isinstance(node, DenseLayer):  # constants of a Gemm/PWL/Relu/Step (edge-int8 flash)
        from snnc.targets.edge_int8 import flash_bytes, layer_details
        row.update(memory_bits=8 * flash_bytes(node), details=layer_details(node))
    elif isinstance(node, (Input, Output)):
        row["details"] = "reads " + ", ".join(graph.predecessors(name)) if isinstance(node, Output) else ""
    return row


def _neuron_details(node, ranges) -> str:
    """Each parameter's value (or min..max), and the target's range for it where it has one."""
    out = []
    for p in (f for f in node.fields() if f != "size"):
        value = np.asarray(getattr(node, p))
        text = (f"{p} {value.min()}..{value.max()}" if value.size > 1 and value.min() != value.max()
                else f"{p} {value.flat[0] if value.size else '-'}")
        out.append(f"{text} of {ranges[p]}" if p in ranges else text)
    return ", ".join(out)


def usage(graph: Graph) -> dict:
    """Resources used against the target's limits (the target says what counts)."""
    target = get_target(graph.target)
    if target.usage is not None:
        return target.usage(graph)
    return {"neurons": sum(n.size for n in graph.neurons.values()),
            "synapses": int(sum(np.count_nonzero(s.weights) for s in graph.of_type(Synapse).values()))}
