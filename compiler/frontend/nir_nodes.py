"""NIR neuron nodes -> FloatLIF parameters, and the checks every NIR value passes (compiler/frontend/nir.py
gives the discretisation and what is refused)."""
from __future__ import annotations

import math

import numpy as np

from snnc.compiler.ir.nodes import NON_SPIKING
from snnc.errors import CompileError

NEURONS = ("LIF", "CubaLIF", "IF", "LI", "I", "CubaLI")
THROUGH = ("Flatten", "Delay", "SubgraphPort")
SYNAPSES = ("Affine", "Linear")
CONV_LAYERS = ("Conv2d", "SumPool2d", "AvgPool2d")   # compiler/frontend/nir_conv.py
FLOAT32_MAX = float(np.finfo(np.float32).max)

_KINDS = {"U": "strings", "S": "bytes", "O": "objects", "V": "records", "M": "dates", "m": "time deltas"}


def show(value, width: int = 40) -> str:
    """A short repr for messages (numpy scalars as plain numbers)."""
    text = repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= width else text[:width - 3] + "..."


def real_array(what: str, value) -> np.ndarray:
    """`value` as a float64 array; CompileError naming `what` for strings, records, objects, and
    complex values whose imaginary part is not exactly 0 (those are read as their real part)."""
    try:
        arr = np.asarray(value)
    except Exception:  # noqa: BLE001  (ragged sequences and other objects numpy cannot hold)
        raise CompileError(f"{what}: expected real numbers, got {show(value)}") from None
    kind = arr.dtype.kind
    if kind == "c":
        if np.any(arr.imag != 0):
            raise CompileError(f"{what}: complex values with a nonzero imaginary part; expected real numbers")
        arr = arr.real
    elif kind not in "biuf":
        raise CompileError(f"{what}: expected real numbers, got {_KINDS.get(kind, arr.dtype.name)} "
                           f"(dtype {arr.dtype.str})")
    return arr.astype(np.float64)


def check_dt(value, where: str = "NIR metadata 'dt'") -> float:
    """The time step: a finite real number of seconds > 0 (one value)."""
    if isinstance(value, (str, bytes)):
        raise CompileError(f"{where}: expected a time step in seconds (a finite number > 0), got {show(value)}")
    arr = real_array(where, value)
    if arr.size != 1 or not math.isfinite(float(arr.reshape(-1)[0])) or float(arr.reshape(-1)[0]) <= 0:
        raise CompileError(f"{where}: expected a time step in seconds (a finite number > 0), got {show(value)}")
    return float(arr.reshape(-1)[0])


def nir_params(node, dt: float, size: int | None = None) -> dict:
    """FloatLIF parameters (beta, alpha, vth, bias) and input gain of a NIR neuron (module docstring),
    each [size] (snnTorch writes scalars and [1] arrays for a whole population)."""
    kind = type(node).__name__
    size = size_of(node) if size is None else size
    ones, zeros = np.ones(size), np.zeros(size)

    def arr(name, default=None):
        value = getattr(node, name, None)
        arr = real_array(f"parameter '{name}'", default if value is None else value)
        return np.broadcast_to(arr.reshape(-1) if arr.ndim > 1 else arr, (size,))   # (C, H, W): channel-major

    p = dict(alpha=zeros, bias=zeros, vth=np.full(size, NON_SPIKING))
    if kind in ("IF", "I"):
        p.update(beta=ones, gain=arr("r"))
    elif kind in ("LIF", "LI"):
        tau = arr("tau")
        p.update(beta=1 - dt / tau, gain=arr("r") * dt / tau, bias=dt / tau * arr("v_leak"))
    else:  # CubaLIF, CubaLI
        tau_syn, tau_mem = arr("tau_syn"), arr("tau_mem")
        p.update(alpha=1 - dt / tau_syn, beta=1 - dt / tau_mem, bias=dt / tau_mem * arr("v_leak"),
                 gain=arr("w_in", 1.0) * dt / tau_syn * arr("r") * dt / tau_mem)
    if kind in ("LIF", "CubaLIF", "IF"):
        p["vth"] = arr("v_threshold")
        if np.any(arr("v_reset", 0.0) != 0):
            raise CompileError(f"{kind} with v_reset != 0 has no IR form (FloatLIF resets to 0)")
    return {k: (_snap(v) if k in ("gain",) else v) for k, v in p.items()}


def _snap(x: np.ndarray) -> np.ndarray:
    """Gains within float rounding of 1 are 1 (tau / dt round trips are not exact in float64)."""
    return np.where(np.isclose(x, 1.0, rtol=1e-6, atol=0), 1.0, x)


def size_of(node) -> int:
    """The largest parameter size (the population's, unless all are scalars)."""
    sizes = [np.asarray(getattr(node, n)).size for n in ("v_threshold", "tau", "tau_mem", "tau_syn", "r")
             if getattr(node, n, None) is not None]
    if not sizes:
        raise CompileError(f"NIR {type(node).__name__}: cannot tell its size")
    return int(max(sizes))


def neuron_size(ng, name: str, preds: dict, conv_size=None) -> int:
    """A population's size: the rows of a weight layer feeding it (through Flatten/Delay), the outputs of a
    Conv2d or pool (`conv_size(name, node)`, None where unknown), else its parameters'."""
    stack, seen = [name], {name}
    while stack:  # the first weight layer on an incoming edge, else one behind Flatten/Delay nodes
        through = []
        for src in preds.get(stack.pop(), []):
            node = ng.nodes.get(src)
            kind = type(node).__name__
            if kind in CONV_LAYERS and conv_size is not None and conv_size(src, node) is not None:
                return population(src, conv_size(src, node))   # a Conv2d or pool that declares its image
            if kind in SYNAPSES:
                shape = np.shape(node.weight)
                if len(shape) != 2:
                    raise CompileError(f"NIR node '{src}': weight of shape {shape}; expected (outputs, inputs)")
                return population(src, shape[0])
            if kind in THROUGH and src not in seen:
                seen.add(src)
                through.append(src)
        stack += through[::-1]
    return population(name, size_of(ng.nodes[name]))


def population(name: str, size) -> int:
    from snnc.compiler.ir.serialize import MAX_POPULATION

    if not 1 <= size <= MAX_POPULATION:
        raise CompileError(f"NIR node '{name}': {size} neurons; snnc takes 1..{MAX_POPULATION} per node")
    return int(size)



def input_size(name: str, node) -> int:
    types = node.input_type if isinstance(node.input_type, dict) else {}
    if len(types) != 1:
        raise CompileError(f"NIR node '{name}': an Input needs one shape, got {len(types)}")
    shape = real_array(f"NIR node '{name}': shape", next(iter(types.values()))).reshape(-1)
    if shape.size == 0 or np.any(shape != np.round(shape)) or np.any(shape < 1) or np.any(shape > 2.0**31):
        raise CompileError(f"NIR node '{name}': shape {show(shape.tolist())}; expected positive integers")
    return population(name, math.prod(int(v) for v in shape))



def checked_params(name, node, dt, size) -> dict:
    """nir_params, with decays in [0, 1] (tau >= dt) and finite values, errors naming the node."""
    try:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
            p = nir_params(node, dt, size)  # inf and NaN: refused below
    except (ValueError, CompileError) as exc:  # ValueError: parameters that do not broadcast
        raise CompileError(f"NIR node '{name}': {exc}") from None
    if not all(np.all(np.isfinite(v)) for k, v in p.items() if k != "vth"):
        raise CompileError(f"NIR node '{name}': time constants must be finite and > 0")
    if not all(np.all(np.abs(v) <= FLOAT32_MAX) for v in p.values()):  # NaN fails too
        raise CompileError(f"NIR node '{name}': parameters must be finite and within float32's range "
                           f"(|x| <= {FLOAT32_MAX:.4g})")
    if np.any((p["beta"] < 0) | (p["beta"] > 1) | (p["alpha"] < 0) | (p["alpha"] >= 1)):
        raise CompileError(f"NIR node '{name}': time constants shorter than the step dt = {dt:g} s "
                           "(forward Euler needs tau >= dt)")
    return p


def check_nodes(ng) -> None:
    supported = ("Input", "Output", *NEURONS, *THROUGH, *SYNAPSES, *CONV_LAYERS)
    for name, node in ng.nodes.items():
        kind = type(node).__name__
        if kind == "Conv1d":
            raise CompileError(f"NIR node '{name}': Conv1d has no snnc IR node (Conv2d does)")
        if kind not in supported:
            raise CompileError(f"NIR node '{name}': {kind} is not supported (snnc reads "
                               f"{', '.join(supported)})")
