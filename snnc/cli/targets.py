"""`snnc targets`: the table of targets, their limits and energy constants with sources."""
from __future__ import annotations

import json

from snnc.args import ArgumentParser
from snnc.targets import all_targets


def cmd_targets(argv: list[str]) -> int:
    parser = ArgumentParser(prog="snnc targets", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    args = parser.parse_args(argv)
    targets = all_targets()
    if args.json:
        print(json.dumps({n: _as_dict(t) for n, t in targets.items()}, indent=2))
        return 0
    for name, t in targets.items():
        print(f"{name}: {t.description}")
        kinds = ", ".join(t.neuron_kinds) or "none (dense layers: Gemm, PWL, Relu, Step)"
        print(f"  neurons: {kinds}; overflow: {t.overflow}; reference: {t.reference_executor}")
        print(f"  widths: {_kv(t.widths)}")
        for key, value in t.limits.items():
            print(f"  limit {key:<17} {value:>8}  ({t.limit_sources.get(key, 'no source recorded')})")
        for key, r in t.ranges.items():
            print(f"  range {key:<17} {str(r):>16}  ({r.source})")
        print(f"  design rules: {', '.join(r.__name__.removeprefix('rule_') for r in t.rules)}")
        for term, c in t.energy.items():
            flag = " [estimate]" if c.estimate else ""
            print(f"  energy {term:<14} {c.joules * 1e12:8.2f} pJ{flag}  ({c.source})")
        _print_sensitivity(t)
        _print_time_step(t)
        print()
    return 0


def _print_sensitivity(t) -> None:
    """What an estimate can move: each term in proportion to its share of a workload's total."""
    est = [k for k, c in t.energy.items() if c.estimate]
    if not est:
        return
    whole = "every term" if len(est) == len(t.energy) else ", ".join(est)
    print(f"  sensitivity: {whole} estimated; halving or doubling one moves the total by -50% / +100% "
          f"of that term's share (all together: x0.5 / x2); `simulate` and `verify` list the shares "
          f"of each run ('sensitivity')")


def _print_time_step(t) -> None:
    ts = t.time_step
    if ts is None:
        print("  time step: none (no clock; latency in steps only)")
        return
    flag = " [estimate]" if ts.estimate else ""
    print(f"  time step {ts.seconds:.3g} s{flag}  ({ts.source})")


def _kv(d: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in d.items())


def _as_dict(t) -> dict:
    return {"description": t.description, "neuron_kinds": list(t.neuron_kinds), "widths": t.widths,
            "overflow": t.overflow, "limits": t.limits, "limit_sources": t.limit_sources,
            "ranges": {k: {"min": r.lo, "max": r.hi, "bits": r.bits, "source": r.source} for k, r in t.ranges.items()},
            "reference_executor": t.reference_executor,
            "design_rules": [r.__name__ for r in t.rules],
            "energy": {k: {"joules": c.joules, "source": c.source, "estimate": c.estimate}
                       for k, c in t.energy.items()},
            "time_step": None if t.time_step is None else {"seconds": t.time_step.seconds,
                                                            "source": t.time_step.source,
                                                            "estimate": t.time_step.estimate}}
