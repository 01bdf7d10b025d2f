"""The graph metadata that snnc reads back, and what each key must hold.

A `.snnc` file's `metadata` is free-form JSON, but the keys below are read by
the simulator, `verify`, `simulate --data` and the exporters (`int(meta["k"])`,
`range(pad_steps)`, `dict(meta["data"])`, ...). They are checked once, when a
graph is saved and when it is loaded, so that a wrong type is one line naming
the key instead of a traceback wherever it is first used. Keys snnc does not
read (notes, compile options, provenance of other tools) are kept as they are.
"""
from __future__ import annotations

import math

from snnc.errors import GraphError

MAX_STEPS = 1 << 20   # time steps of one run, also simulate's cap on T: no trained net runs this long
                      # (train/config.py caps data.steps at 100,000); an estimate
MAX_K = 64            # posterior samples side by side (compiler/frontend/checkpoint.py's --k bound)
MAX_INT = 1 << 53     # JSON integers read exactly by every JSON reader (compiler/ir/serialize.py)


def _int(lo: int, hi: int):
    def check(value) -> str | None:
        if not isinstance(value, int) or isinstance(value, bool):
            return f"an integer in [{lo}, {hi}]"
        return None if lo <= value <= hi else f"an integer in [{lo}, {hi}]"
    return check


def _one_of(*choices):
    def check(value) -> str | None:
        return None if value in choices else "one of " + ", ".join(repr(c) for c in choices)
    return check


def _of_type(kind, name: str):
    def check(value) -> str | None:
        return None if isinstance(value, kind) and not isinstance(value, bool) else name
    return check


def _input_quant(value) -> str | None:
    expected = "an object {scale > 0, zero_point integer, bits 8 or 16}"
    if not isinstance(value, dict):
        return expected
    scale, zero, bits = value.get("scale"), value.get("zero_point", 0), value.get("bits", 8)
    ok = (isinstance(scale, (int, float)) and not isinstance(scale, bool) and math.isfinite(scale) and scale > 0
          and _int(-(1 << 15), 1 << 15)(zero) is None and bits in (8, 16) and not isinstance(bits, bool))
    return None if ok else expected


def _bias_inputs(value) -> str | None:
    expected = "a list of objects {start: integer >= 0, population: string}"
    if not isinstance(value, list):
        return expected
    ok = all(isinstance(b, dict) and _int(0, MAX_STEPS)(b.get("start")) is None
             and isinstance(b.get("population"), str) for b in value)
    return None if ok else expected


SCHEMA = {
    "steps": _int(1, MAX_STEPS),
    "pad_steps": _int(0, MAX_STEPS),
    "latency_steps": _int(0, MAX_STEPS),
    "any_steps": lambda v: None if isinstance(v, bool) else "true or false",  # NIR graphs: any input length
    "bias_channels": lambda v: None if isinstance(v, list) and all(isinstance(p, str) for p in v) \
        else "a list of population names",   # constant input channels the host appends (runtime/deploy.py)
    "bias_inputs": _bias_inputs,            # their first steps on a chip (compiler/passes/latency.py)
    "k": _int(1, MAX_K),
    "seed": _int(0, MAX_INT),
    "mode": _one_of("mean", "samples"),
    "task": _one_of("classification", "regression"),
    "activation_bits": _one_of(None, 8, 16, 32),
    "input_quant": _input_quant,
    "data": _of_type(dict, "an object (the data set's config)"),
    "compile": _of_type(dict, "an object"),
    "source": _of_type(str, "a string"),
    "checkpoint": _of_type(str, "a string"),
    "checkpoint_sha256": _of_type(str, "a string"),
}


def check_metadata(metadata) -> None:
    """Raise GraphError (one line, naming the key) when a key snnc reads holds the wrong thing."""
    if not isinstance(metadata, dict):
        raise GraphError(f"graph metadata must be an object, got {type(metadata).__name__}")
    for key, check in SCHEMA.items():
        if key in metadata:
            expected = check(metadata[key])
            if expected:
                raise GraphError(f"graph metadata '{key}' must be {expected}, got {_show(metadata[key])}")


def _show(value) -> str:
    import json

    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
