"""What the commands print: compile, simulate and verify reports as a person reads them
(the JSON files hold everything; figures are in snnc/cli/plots.py)."""
from __future__ import annotations

import sys


def _bytes(bits: int) -> str:
    b = bits / 8
    return f"{b:.0f} B" if b < 1024 else f"{b / 1024:.1f} KiB"


def _calibrated_on(report: dict) -> str:
    """What the integer scales were sized on, as the frontend says (a NIR graph: data or random)."""
    cal = report.get("calibration_input")
    if not cal:
        return f"{report['calibrate']} training samples"
    if cal["kind"] == "random":
        return f"{cal['samples']} random spike trains (--calibrate-random, {cal['steps']} steps)"
    return f"{cal['samples']} training samples of {cal['data']} ({cal['steps']} steps)"


def print_fidelity(report: dict) -> None:
    """A NIR graph's fidelity: each step's score against the float graph (evaluation/nir_gate.py)."""
    fid = report.get("fidelity")
    if fid:
        scores = ", ".join(f"{k} {v:.4f}" for k, v in fid["scores"].items() if isinstance(v, float))
        print(f"{fid['metric']} with the float graph on {fid['data']} ({fid['samples']} samples): {scores}")


def print_compile_report(report: dict) -> None:
    print(f"target '{report['target']}', mode {report['mode']} (k = {report['k']}), "
          f"latency {report['latency_steps']} steps, calibrated on {_calibrated_on(report)}")
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
    chips = f" on {usage['chips']} chips of {usage['cores_per_chip']} cores" if usage.get("chips", 1) > 1 else ""
    print(f"resources: {fits or usage}{chips}  -> fits")
    for note in report["notes"]:
        print(f"note: {note}")
    print_fidelity(report)
    acc = report.get("accuracy")
    if acc:
        cols = [k for k in ("float_torch", "float_graph", "dynamics_unshifted", "target_dynamics", "deployed") if k in acc]
        metric = "accuracy" if "accuracy" in acc[cols[-1]] else "agreement"
        head = "test accuracy" if metric == "accuracy" else "unlabelled test data, prediction = the PyTorch model's"
        print(f"{head}: " + ", ".join(f"{k} {acc[k][metric]:.4f}" for k in cols))
    cal = report.get("calibration")
    if cal:
        print(f"{'':<26}{'accuracy':>9}{'NLL':>8}{'ECE':>8}")
        for key in ("float_mean", "float_samples", "float_samples_logit_mean", "deployed_mean", "deployed_samples"):
            r = cal[key]
            print(f"  {key:<24}{r['accuracy']:>9.4f}{r['nll']:>8.3f}{r['ece']:>8.3f}")
        print("accuracy against K (float graph = mean of the K draws' logits; deployed = summed readouts):")
    for row in report.get("k_curve", []):
        print(f"  K = {row['k']:<3} float {row['float_graph']['accuracy']:.4f} (NLL {row['float_graph']['nll']:.3f}, "
              f"ECE {row['float_graph']['ece']:.3f})   deployed {row['deployed']['accuracy']:.4f} "
              f"(NLL {row['deployed']['nll']:.3f}, ECE {row['deployed']['ece']:.3f})")


def _pct(x) -> str:
    return "" if x is None else f"{100 * x:.2f}%"


def print_kan_report(report: dict, file=None) -> None:
    """The compile report of a KAN in a few lines (the JSON holds everything)."""
    file = file or sys.stdout
    exact = "exact (order 2)" if report["exact"] else (
        f"order {report['order']} approximated: "
        + ", ".join(f"layer {r['layer']} {r['segments']} segments, max edge error {r['max_edge_error']:.3g}"
                    for r in report["pwl"] if not r["exact"]))
    print(f"target '{report['target']}', KAN lowering {exact}; calibrated on {report['calibrate']} training "
          f"points; activations int{report['activation_bits'] or 32}", file=file)
    print(f"{'node':<16}{'type':<6}{'in':>6}{'out':>6}  {'output':<18}{'w err':>8}", file=file)
    for r in report["layers"]:
        err = r.get("weight_rel_error")
        print(f"{r['name']:<16}{r['type']:<6}{r['in']:>6}{r['out']:>6}  {r.get('output', ''):<18}"
              f"{'' if err is None else f'{100 * err:.2f}%':>8}", file=file)
    use = report["usage"]
    print("resources: " + ", ".join(f"{k} {v}/{use[k + '_limit']}" for k, v in use.items()
                                    if k + "_limit" in use) + "  -> fits", file=file)
    for note in report["notes"]:
        print(f"note: {note}", file=file)
    m = report.get("mse")
    if m:
        print(f"test MSE ({m['samples']} points): float (PyTorch) {m['float_torch']:.4g}, float graph "
              f"{m['float_graph']:.4g}, deployed {m['deployed']:.4g} ({m['deployed_over_float']:.2f}x float); "
              f"max |deployed - float| {m['max_abs_error']:.3g}", file=file)


def print_per_inference(e: dict) -> None:
    print(f"{'layer':<12}{'spikes/inf':>12}{'syn ev/inf':>12}{'energy/inf':>14}{'std':>11}")
    for name, row in e["per_layer"].items():
        print(f"{name:<12}{row['spikes']:>12.1f}{row['synaptic_events']:>12.1f}{row['energy_j']:>12.3g} J"
              f"{row.get('energy_std_j', 0.0):>9.2g} J")
    m = e["energy_per_inference_j"]
    est = f" (estimated terms: {', '.join(e['estimates'])})" if e["estimates"] else ""
    print(f"energy per inference {m['mean']:.3g} J, std {m['std']:.2g}{est}")
    print_sensitivity(e.get("sensitivity", []))


def print_sensitivity(rows: list[dict]) -> None:
    """One line per estimated constant: the mean total when it is halved and doubled."""
    for r in rows:
        print(f"  sensitivity {r['constant']:<16} ({r['share']:6.1%} of the total): halved "
              f"{r['total_j_x0.5']:.3g} J, doubled {r['total_j_x2']:.3g} J")


def print_latency(r: dict) -> None:
    secs = "" if r.get("latency_s") is None else (
        f" = {r['latency_s']:.3g} s at {r['time_step_s']:.3g} s per step"
        f"{' (estimated step)' if r.get('time_step_estimate') else ''}; one inference {r['inference_s']:.3g} s")
    print(f"latency {r['latency_steps']} steps{secs} ({r['steps_per_inference']} steps per inference)")


def print_summary(result) -> None:
    shape = f"batch {result.batch}, " if result.batch is not None else ""
    print(f"target '{result.target}': {shape}{result.steps} steps")
    print(f"{'node':<12}{'rate':>8}{'spikes':>10}{'syn events':>12}{'updates':>10}{'overflow':>10}{'energy':>12}")
    for name, st in result.stats.items():
        rate = result.rates().get(name, 0.0)
        energy = result.energy["per_node"].get(name)
        e = f"{energy:.3g} J" if energy is not None else "-"
        print(f"{name:<12}{rate:>8.3f}{st['spikes']:>10}{st['synaptic_events']:>12}{st['neuron_updates']:>10}"
              f"{st['overflow_events']:>10}{e:>12}")
    terms = ", ".join(f"{k} {v:.3g} J" for k, v in result.energy["terms"].items())
    print(f"energy total {result.energy['total_j']:.3g} J ({terms})")
    print_per_inference(result.energy)
    print_latency(result.latency)


def print_verify(r: dict) -> None:
    if "warning" in r:
        print(f"warning: {r['warning']}")
    if "float_accuracy_sampled" in r:
        print(f"float (PyTorch) posterior mean {r['float_accuracy']:.4f}, sampled ensemble "
              f"({r['float_samples_k']} draws) {r['float_accuracy_sampled']:.4f}")
    if "float_graph_agreement" in r:
        a = r["float_graph_agreement"]
        spikes = ", ".join(f"{p} {v:.4f}" for p, v in a["spikes"].items())
        print(f"NIR file's float graph: argmax agreement {a['argmax']:.4f}, output spike agreement {spikes}"
              + (f"; its accuracy {r['float_accuracy']:.4f}" if "float_accuracy" in r else ""))
    if "float_agreement" in r:
        a = r["float_agreement"]
        print(f"unlabelled data: deployed prediction = PyTorch posterior mean's on {a['mean']:.4f} of the samples, "
              f"= the {r['float_samples_k']}-draw ensemble's on {a['sampled']:.4f}")
    print(f"{'backend':<13}{'samples':>8}{'deployed acc':>14}{'agreement':>11}")
    for b, acc in r["deployed"].items():
        n = r.get("agreement_samples", {}).get(b, r["samples"])
        agree, trip = r["agreement"].get(b), r.get("round_trip", {}).get(b)
        shown = f"{agree:.4f}" if agree is not None else f"{trip:.4f} (round trip)" if trip is not None else ""
        print(f"{b:<13}{n:>8}{'-' if acc is None else f'{acc:.4f}':>14}{shown:>11}")
    print_per_inference(r)
    print(f"synaptic events {r['synaptic_events_per_inference']:.0f}, spikes {r['spikes_per_inference']:.0f} "
          "per inference")
    print_latency(r)
    if "neurobench" in r:
        print_side_by_side(r["neurobench"])
    for b, d in r["divergence"].items():
        print(f"first divergence ({b}): sample {d['sample']}, step {d['step']}, node '{d['node']}' {d['what']}, "
              f"neuron {d['neuron']}: sim {d['sim']} vs {b} {d['backend']}")


def print_regression(r: dict) -> None:
    if "warning" in r:
        print(f"warning: {r['warning']}")
    if "float_mse" in r:
        print(f"float (PyTorch) test MSE {r['float_mse']:.4g}; max |deployed - float| {r['max_abs_error']:.3g}")
    print(f"{'backend':<9}{'samples':>8}{'deployed MSE':>14}{'agreement':>11}")
    for b, m in r["deployed_mse"].items():
        agree = r["agreement"].get(b)
        print(f"{b:<9}{r['samples']:>8}{m:>14.4g}{'' if agree is None else f'{agree:.4f}':>11}")
    e = r["energy_per_inference_j"]
    print(f"energy per inference {e['mean']:.3g} J; {r['synaptic_events_per_inference']:.0f} MACs per inference")
    for b, d in r["divergence"].items():
        print(f"first divergence ({b}): sample {d['sample']}, node '{d['node']}', channel {d['channel']}: "
              f"sim {d['sim']} vs {b} {d['backend']}")


def print_side_by_side(r: dict) -> None:
    nb, ours = r["neurobench"], r["snnc_ideal"]
    print(f"NeuroBench {r['neurobench_version']} on the float model ({r['samples']} samples): footprint "
          f"{nb['footprint_bytes']} B, connection sparsity {nb['connection_sparsity']:.3f}, activation sparsity "
          f"{nb['activation_sparsity']:.4f}, accuracy {nb['accuracy']:.4f}")
    print(f"  synaptic operations per inference: NeuroBench effective ACs {nb['effective_acs']:.1f}, MACs "
          f"{nb['effective_macs']:.1f}, dense {nb['dense_synops']:.0f}; snnc (ideal) events "
          f"{ours['synaptic_events_per_inference']:.1f}, activation sparsity {ours['activation_sparsity']:.4f}")
    if "snnc_deployed" in r:
        d = r["snnc_deployed"]
        print(f"  snnc ({d['target']}, deployed) events {d['synaptic_events_per_inference']:.1f} ({d['note']})")
    print("  equal" if r["synops_equal"] else "  differences: " + "; ".join(r["differences"]))
