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


def node_row(graph, name, node) -> dict:
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


def cmd_compile(argv: list[str]) -> int:
    """`snnc compile CKPT --target T --mode mean|samples --k K --calibrate N --out F.snnc`."""
    from pathlib import Path

    from snnc.compiler.compile import DEFAULT_CALIBRATION, compile_checkpoint
    from snnc.compiler.ir import save
    from snnc.io import write_json

    parser = argparse.ArgumentParser(prog="snnc compile", description="compile a trained checkpoint for a target")
    parser.add_argument("checkpoint", help="checkpoint.pt written by `snnc train`")
    parser.add_argument("--target", required=True, choices=("loihi", "xylo", "ideal"))
    parser.add_argument("--mode", default="mean", choices=("mean", "samples"),
                        help="posterior mean, or K posterior samples side by side")
    parser.add_argument("--k", type=int, default=8, help="posterior samples (mode samples)")
    parser.add_argument("--calibrate", type=int, default=DEFAULT_CALIBRATION,
                        help="training samples that size the integer scales")
    parser.add_argument("--seed", type=int, default=0, help="seed of the posterior draws")
    parser.add_argument("--out", required=True, help="the .snnc to write (the report goes beside it)")
    args = parser.parse_args(argv)
    compiled = compile_checkpoint(args.checkpoint, args.target, args.mode, args.k, args.calibrate, args.seed)
    out = Path(args.out)
    report_path = out.with_suffix(".report.json")
    save(compiled.graph, out)
    write_json(report_path, compiled.report)
    print_compile_report(compiled.report)
    print(f"wrote {out} and {report_path}")
    return 0


def print_compile_report(report: dict) -> None:
    print(f"target '{report['target']}', mode {report['mode']} (k = {report['k']}), "
          f"latency {report['latency_steps']} steps, calibrated on {report['calibrate']} training samples")
    print(f"{'node':<10}{'type':<10}{'in':>6}{'out':>6}{'nnz':>8}{'bits':>6}{'exp':>5}"
          f"{'w err':>8}{'thresh':>8}{'th err':>8}{'peak':>7}{'memory':>10}")
    for r in report["layers"]:
        exp = r.get("weight_exp", r.get("weight_shift", ""))
        thr = r.get("vth", r.get("threshold", ""))
        print(f"{r['name']:<10}{r['type']:<10}{r['in']:>6}{r['out']:>6}{r.get('synapses', ''):>8}"
              f"{r.get('weight_bits', ''):>6}{exp:>5}{_pct(r.get('weight_rel_error')):>8}{thr:>8}"
              f"{_pct(r.get('threshold_rel_error')):>8}{_pct(r.get('peak_state_fraction')):>7}"
              f"{_bytes(r['memory_bits']):>10}")
    usage = report["usage"]
    fits = ", ".join(f"{k} {v}/{usage[k + '_limit']}" for k, v in usage.items()
                     if not k.endswith("_limit") and k + "_limit" in usage)
    print(f"resources: {fits or usage}  -> fits")
    for note in report["notes"]:
        print(f"note: {note}")
    acc = report.get("accuracy")
    if acc:
        cols = [k for k in ("float_torch", "float_graph", "target_dynamics", "deployed") if k in acc]
        print("test accuracy: " + ", ".join(f"{k} {acc[k]['accuracy']:.4f}" for k in cols))
    for row in report.get("k_curve", []):
        print(f"  K = {row['k']:<3} float {row['float_graph']['accuracy']:.4f} (NLL {row['float_graph']['nll']:.3f}, "
              f"ECE {row['float_graph']['ece']:.3f})   deployed {row['deployed']['accuracy']:.4f} "
              f"(NLL {row['deployed']['nll']:.3f}, ECE {row['deployed']['ece']:.3f})")


def _pct(x) -> str:
    return "" if x is None else f"{100 * x:.2f}%"
