"""`snnc inspect FILE.snnc`: nodes, sizes, bit widths and memory of a compiled graph."""
from __future__ import annotations

import json

from snnc.args import ArgumentParser
from snnc.cli.report import _bytes
from snnc.compiler.inventory import node_row
from snnc.compiler.ir import load


def cmd_inspect(argv: list[str]) -> int:
    parser = ArgumentParser(prog="snnc inspect", description=__doc__)
    parser.add_argument("file", help="a .snnc graph")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    args = parser.parse_args(argv)
    graph = load(args.file)
    rows = [node_row(graph, name, node) for name, node in graph.nodes.items()]
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
