"""`snnc inspect FILE.snnc`: nodes, sizes, bit widths and memory of a compiled graph."""
from __future__ import annotations

import argparse
import json

import numpy as np

from snnc.compiler.ir import Input, Neuron, Output, Synapse, load
from snnc.targets import get as get_target


def cmd_inspect(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="snnc inspect", description=__doc__)
    parser.add_argument("file", help="a .snnc graph")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    args = parser.parse_args(argv)
    graph = load(args.file)
    rows = [_row(graph, name, node) for name, node in graph.nodes.items()]
    total = sum(r["memory_bits"] for r in rows)
    if args.json:
        print(json.dumps({"file": args.file, "target": graph.target, "metadata": graph.metadata,
                          "nodes": rows, "memory_bytes": total // 8}, indent=2))
        return 0
    print(f"{args.file}: target '{graph.target}', {len(graph.nodes)} nodes, {len(graph.edges)} edges")
    print(f"{'node':<14}{'type':<10}{'in':>6}{'out':>6}  {'bits':<22}{'memory':>10}  details")
    for r in rows:
        print(f"{r['name']:<14}{r['type']:<10}{r['in']:>6}{r['out']:>6}  {r['bits']:<22}"
              f"{_bytes(r['memory_bits']):>10}  {r['details']}")
    print(f"total memory: {_bytes(total)}")
    return 0


def _row(graph, name, node) -> dict:
    widths = get_target(graph.target).widths
    row = {"name": name, "type": type(node).__name__, "in": node.in_size, "out": node.out_size,
           "bits": "", "memory_bits": 0, "details": ""}
    if isinstance(node, Synapse):
        nnz = int(np.count_nonzero(node.weights))
        row.update(bits=f"weight {widths.get('weight', 32)}", memory_bits=nnz * widths.get("weight", 32),
                   details=f"nnz {nnz}, weight_exp {node.weight_exp}, delay {node.delay}, port {node.port}, "
                           f"from {graph.synapse_source(name)}")
    elif isinstance(node, Neuron):
        bits = {v: widths.get(v, 32) for v in node.state_vars}
        n_syn = getattr(node, "n_syn", 1)
        per_neuron = sum(b * (n_syn if v == "i_syn" else 1) for v, b in bits.items())
        row.update(bits=", ".join(f"{v} {b}" for v, b in bits.items()), memory_bits=per_neuron * node.size,
                   details=_neuron_details(node))
    elif isinstance(node, (Input, Output)):
        row["details"] = "reads " + ", ".join(graph.predecessors(name)) if isinstance(node, Output) else ""
    return row


def _neuron_details(node) -> str:
    params = [f for f in node.fields() if f != "size"]
    out = []
    for p in params:
        value = np.asarray(getattr(node, p))
        out.append(f"{p} {value.min()}..{value.max()}" if value.size > 1 and value.min() != value.max()
                   else f"{p} {value.flat[0] if value.size else '-'}")
    return ", ".join(out)


def _bytes(bits: int) -> str:
    b = bits / 8
    return f"{b:.0f} B" if b < 1024 else f"{b / 1024:.1f} KiB"
