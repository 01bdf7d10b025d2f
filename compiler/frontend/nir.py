"""NIR file -> float front-level graph on `ideal`, and `compile_nir` to a target.

    compile_nir("model.nir", "loihi")        # snnc compile model.nir --target loihi

Reads graphs of Input, Affine/Linear, LIF, CubaLIF, IF, LI, I, CubaLI,
Delay, Flatten and Output nodes as snnTorch, sinabs, Rockpool and snnc
write them. Discretisation: forward Euler with the time step `dt` (the
graph's metadata `dt`, or the one the caller gives: `--dt`; never a guess), as
snnTorch's `import_from_nir` does:

    LIF      beta = 1 - dt/tau, input gain r dt/tau, bias = dt/tau v_leak
    CubaLIF  alpha = 1 - dt/tau_syn (current gain w_in dt/tau_syn), beta = 1 - dt/tau_mem,
             v gain r dt/tau_mem, bias = dt/tau_mem v_leak
    IF, I    beta = 1, input gain r per step (snnTorch's and sinabs' IF convention)
    LI, CubaLI  as LIF, CubaLIF without spikes (FloatLIF threshold NON_SPIKING)

Spiking neurons reset to v_reset, which must be 0 (FloatLIF's zero reset);
input gains are folded into the incoming weights (a CubaLIF's current gain
and v gain both scale its input), an Affine's bias into its neuron's bias
(neurons without a synaptic current). An Affine's bias into a neuron with a
synaptic current (CubaLIF, CubaLI) passes the filter; it becomes a bias channel,
an input that is 1 at every step with the bias as its weights (exact:
compiler/frontend/nir_rewrites.py). A recurrent edge (a population
back to itself through a Linear/Affine) is delayed one step; Delay nodes add
round(delay / dt) steps. Flatten is the identity on snnc's flat vectors. The
Output is read as spike counts of a spiking population (gain 1: counts are
counts), or v at the last real step of a non-spiking one (step -1 of the
padded run); an Output fed by an Affine gets a non-spiking
integrator `readout`. Nested NIRGraphs (snnTorch's recurrent LIF) are inlined.
Conv1d/Conv2d, SumPool2d/AvgPool2d and the other NIR nodes are refused by
name: the IR has no conv or pool nodes yet.

A NIR file is untrusted input: whatever has no exact IR form is refused in one
CompileError naming the node or metadata field, nothing is approximated:
dt must be a finite number > 0; parameters, weights and delays real numbers
(complex ones only with a zero imaginary part; strings, records refused);
a Delay a whole number of steps, 0..MAX_DELAY_STEPS, and refused on loihi and
xylo (their synapses deliver after a fixed step: snnc adds no relay neurons),
on a recurrent edge and straight into the Output; a cycle with no neuron in it
(a Linear feeding itself) and repeated edges are refused; a nested graph's
node renamed onto a name already taken gets a `_1`, `_2` suffix. snnc's own
metadata (`snnc`, a JSON object) is checked field by field: steps an integer
in 1..MAX_STEPS, data a data config naming a known set, the output decoding.

A NIR graph is trained on no fixed T: the compiled graph runs on inputs of any
length (metadata `any_steps`); T of the calibration is the data's (`--data`),
else `steps` (`--steps`, default 16). Without data, a chip's quantisation is
refused unless random calibration is asked for (`--calibrate-random`), and the
report then says it was random.

Modules: nir_nodes.py (neuron parameters, value checks), nir_rewrites.py
(nested graphs inlined, bias channels), nir_graph.py (the float graph), this
one (calibration and the compile).
"""
from __future__ import annotations

import numpy as np

from snnc.compiler.frontend.nir_graph import (MAX_DELAY_STEPS, MAX_STEPS, _build, graph_from_nir,  # noqa: F401
                                              read_nir, snnc_metadata)
from snnc.compiler.frontend.nir_nodes import nir_params, show  # noqa: F401  (the frontend's API)
from snnc.compiler.ir import Input
from snnc.errors import CompileError

DEFAULT_STEPS = 16        # steps of the random calibration input where neither data nor --steps give T
MAX_CALIBRATE = 65_536    # --calibrate samples: the default is 256; more only costs time (a typo guard)
MAX_CALIBRATION_VALUES = 1 << 26  # calibrate x steps x inputs of the random calibration input (~1 GiB while drawn)
RANDOM_RATE = 0.2         # spike probability per channel and step of the random calibration input (an estimate)

# --- compile ---------------------------------------------------------------------

def _count(what: str, value, top: int) -> int:
    """An integer in 1..top (bools and fractions refused)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or not 1 <= value <= top:
        raise CompileError(f"{what}: expected an integer in 1..{top}, got {show(value)}")
    return int(value)


def _data_config(value, where: str) -> dict | None:
    """A data config (a mapping naming a data set snnc knows, with valid keys), or None."""
    from snnc.errors import ConfigError
    from snnc.train.config import CHOICES, from_dict

    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        raise CompileError(f"{where}: expected a data config naming a data set (an object such as "
                           f'{{"name": "digits"}}), got {show(value)}')
    if value["name"] not in CHOICES["data.name"]:
        raise CompileError(f"{where}: unknown data set {show(value['name'])}; choose one of "
                           f"{', '.join(CHOICES['data.name'])}")
    try:
        from_dict({"data": {k: v for k, v in value.items() if v is not None}})
    except ConfigError as exc:
        raise CompileError(f"{where}: {exc}") from None
    return value


def compile_nir(path, target: str, calibrate: int = 256, data: dict | None = None, steps: int | None = None,
                dt: float | None = None, seed: int = 0, calibrate_random: bool = False, options: dict | None = None):
    """Read a NIR file and lower it for `target` through the one compile pipeline; returns
    compile.Compiled (no evaluation). `options`: the target's compile options (compile_net)."""
    from snnc.compiler.compile import compile_net

    return compile_net(nir_float_net(path, target, calibrate, data, steps, dt, seed, calibrate_random), target,
                       options=options)


def nir_float_net(path, target: str, calibrate: int = 256, data: dict | None = None, steps: int | None = None,
                  dt: float | None = None, seed: int = 0, calibrate_random: bool = False):
    """The float net of a NIR file, checked for `target` (its delays), with its calibration input:
    `data` (a data config: {"file": F.npz} or e.g. {"name": "digits", "steps": 8}), else the one
    snnc's export recorded, else (`calibrate_random`, or a float target) `calibrate` random spike
    trains of `steps` steps (default 16), as the report says."""
    from snnc.compiler.frontend.record import FloatNet
    from snnc.compiler.pipeline import target_flow

    target_flow(target)  # an unknown target is one line before anything is read
    calibrate = _count("--calibrate (calibration samples)", calibrate, MAX_CALIBRATE)
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise CompileError(f"--seed: expected an integer >= 0, got {show(seed)}")
    ng = read_nir(path)
    try:
        meta = snnc_metadata(ng)
        if not (data and "file" in data):   # a user's own arrays are read as they are (arrays.file_split)
            data = _data_config(data, "data") if data else _data_config(meta.get("data"),
                                                                        "NIR metadata 'snnc' field 'data'")
        if steps is None and meta.get("steps") is not None:
            steps = _count("NIR metadata 'snnc' field 'steps'", meta["steps"], MAX_STEPS)
        graph, delayed = _build(ng, dt)
    except CompileError as exc:
        raise CompileError(f"{path}: {exc}") from None
    _check_delays(graph, delayed, target, path)
    if len(graph.inputs) != 1:
        raise CompileError(f"{path}: {len(graph.inputs)} Input nodes; snnc compiles graphs with one Input")
    x_cal, calibration = _calibration(path, graph, target, calibrate, data, steps, seed, calibrate_random)
    steps = x_cal.shape[1]
    out_name, out = next(iter(graph.outputs.items()))
    from snnc.train.checkpoint import file_sha256

    graph.metadata.update(steps=steps, nir_file=str(path), any_steps=out.step < 0,
                          checkpoint_sha256=file_sha256(path))   # the file verify --checkpoint checks against
    notes = [calibration["note"]] if calibration.get("note") else []
    return FloatNet(graph, steps, out.size, dict(data or {}), "nir", 1, list(graph.neurons),
                    {"source": str(path)}, calibration=lambda n: x_cal, options={"mode": "nir", "k": 1},
                    report={"mode": "nir", "k": 1, "source": str(path),
                            "calibration_input": {k: v for k, v in calibration.items() if k != "note"}},
                    notes=notes)


def _calibration(path, graph, target: str, calibrate: int, data, steps, seed: int, random_ok: bool):
    """(inputs [n, T, data channels], what they are: {"kind": "data" | "random", ...}); a chip's
    quantisation on random spikes only when asked for (`--calibrate-random`)."""
    from snnc.runtime.deploy import data_channels
    from snnc.targets import get as get_target
    from snnc.train.data.arrays import load_split

    n_in = data_channels(graph)
    if data:
        x_cal, _ = load_split(data, "train", limit=calibrate)
        if steps is not None and steps != x_cal.shape[1]:
            raise CompileError(f"{path}: --steps {steps}, but the data's inputs have {x_cal.shape[1]} steps (the "
                               "graph follows the data; --steps is for random calibration)")
        return x_cal, {"kind": "data", "samples": int(len(x_cal)), "steps": int(x_cal.shape[1]),
                       "data": data.get("file") or data.get("name")}
    integer = get_target(target).integer
    if integer and not random_ok:
        raise CompileError(f"{path}: no data to calibrate the {target} quantisation on: pass --data FILE.npz "
                           "(your inputs: x_train [B, T, N] spike counts, x_test to measure on) or "
                           "--calibrate-random (random spike trains; the report says so)")
    steps = _count("--steps", steps, MAX_STEPS) if steps is not None else DEFAULT_STEPS
    if calibrate * steps * n_in > MAX_CALIBRATION_VALUES:
        raise CompileError(f"{path}: random calibration input of {calibrate} samples x {steps} steps x {n_in} "
                           f"inputs is more than {MAX_CALIBRATION_VALUES} values; lower --calibrate")
    x_cal = (np.random.default_rng(seed).random((calibrate, steps, n_in)) < RANDOM_RATE).astype(np.int64)
    info = {"kind": "random", "samples": calibrate, "steps": steps, "rate": RANDOM_RATE, "seed": seed}
    if integer:
        info["note"] = (f"no data: calibrated on {calibrate} random spike trains (--calibrate-random: rate "
                        f"{RANDOM_RATE}, {steps} steps), not on inputs of this net")
    return x_cal, info


def _check_delays(graph, delayed: dict, target: str, path) -> None:
    """A NIR Delay where `target` fixes every synaptic delay (its record's `synapse_delay`: loihi one
    step; xylo 0 from the input, 1 after) has no form there: refused, naming the Delay node."""
    from snnc.compiler.passes.latency import target_delay

    for syn, via in delayed.items():
        src, (dst,) = graph.synapse_source(syn), graph.successors(syn)
        fixed = target_delay(target, isinstance(graph.nodes[src], Input), src == dst)
        if fixed is not None:
            raise CompileError(f"{path}: NIR node '{via[0]}': a Delay of {graph.nodes[syn].delay} step(s) into "
                               f"'{dst}' has no form on '{target}', whose synapses deliver after a fixed "
                               f"{fixed} step{'s' if fixed != 1 else ''} (snnc adds no relay neurons); "
                               "compile for 'ideal'")
