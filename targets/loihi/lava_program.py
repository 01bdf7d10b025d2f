"""Export a Loihi graph as a Lava program: a Python file and an `.npz` of its parameters.

    export(graph, "build/digits_lava/program.py")   # or a folder: program.py inside it
    # in a Python 3.10 with lava-nc 0.10.0:
    #   python build/digits_lava/program.py spikes.npz out.npz

The program is self-contained (numpy and Lava only): it builds a RingBuffer,
the graph's LIF populations, its Dense processes (any number into one
population: forward, recurrent, input channels, split weights) and Conv processes with Lava's own
parameter names, runs it with `Loihi2SimCfg(select_tag="fixed_pt")` on a batch
of spike trains in one runtime (blocks of samples side by side, state reset
between blocks) and writes every population's spikes and v (see the program's
docstring). Its network code is `targets/loihi/lava_network.py`'s, copied in
verbatim, so the program runs exactly what `snnc verify --backends lava`
checks; the parameters are `lava_graph.lava_net`'s. A graph Lava cannot run
raises FormatError and nothing is written.
"""
from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np

from snnc.compiler.ir import Graph
from snnc.errors import FormatError, GraphError
from snnc.io import atomic_paths

TEMPLATE = Path(__file__).with_name("lava_program_template.py")
PROGRAM = "program.py"
WORKER_MARKER = "# @WORKER_FUNCTIONS@"
# lava_network.py's code, in an order that reads top-down.
WORKER_CODE = ("LIF_KEYS", "DENSE_KEYS", "CONV_KEYS", "EXPECTED_MODELS", "read_network", "sign_mode",
               "chosen_models", "lif_groups", "build_population", "connect_dense", "side_by_side", "block_columns",
               "unblock", "connect_conv", "build_network", "dump_monitor_model", "attach_dump_monitors",
               "reset_states", "dense_weights", "collect_traces", "in_caller_order", "run_network")


def export(graph: Graph, path) -> Path:
    """Write the program to `path` (a `.py`, or a folder that gets `program.py`) and
    its parameters beside it (same name, `.npz`); return the program's path. Both
    paths are checked before either is written, and both appear together."""
    program = Path(path)
    if program.suffix != ".py":
        program = program / PROGRAM
    params = program.with_suffix(".npz")
    arrays = parameters(graph)
    text = program_text()
    with atomic_paths(params, program) as (params_tmp, program_tmp):
        with open(params_tmp, "wb") as f:
            np.savez(f, **arrays)
        program_tmp.write_text(text)
    return program


def parameters(graph: Graph) -> dict[str, np.ndarray]:
    """The `.npz` arrays: the network's (lava_graph.lava_net), population and Dense names,
    output decoding."""
    from snnc.targets.loihi.lava_exec import pack_graph
    from snnc.targets.loihi.lava_graph import lava_net

    try:
        net = lava_net(graph)
        packed = pack_graph(net, np.zeros((1, 1, net.n_in), np.int64), record=(), block=1)
    except GraphError as exc:
        raise FormatError(f"cannot export to a Lava program: {exc}") from None
    arrays = {k: v for k, v in packed.items() if k not in ("spikes", "block")}
    arrays["populations"] = np.array(net.pops)
    arrays["dense_names"] = np.array([f"{syn}.{part}" if part else syn for syn, part in net.dense])
    arrays.update(_decoding(graph, net.pops))
    arrays.update(_info(graph, net.n_in))
    return arrays


def _info(graph: Graph, n_in: int) -> dict[str, np.ndarray]:
    """What `program.py --info` prints: where the network came from, its input width and steps."""
    meta = graph.metadata
    source = meta.get("checkpoint") or meta.get("source") or "a snnc graph"
    info = {"info__source": np.array(str(source)), "info__n_in": np.int64(n_in)}
    for key in ("steps", "pad_steps"):
        if isinstance(meta.get(key), int) and not isinstance(meta.get(key), bool):
            info[f"info__{key}"] = np.int64(meta[key])
    return info


def _decoding(graph: Graph, populations: list[str]) -> dict[str, np.ndarray]:
    """The Output node's decoding (which population, read, step, gain, offset), if there is one."""
    outs = graph.outputs
    if len(outs) != 1:
        return {}
    name, out = next(iter(outs.items()))
    (pop,) = graph.predecessors(name)
    return {"output__pop": np.int64(populations.index(pop)), "output__read": np.array(out.read),
            "output__step": np.int64(out.step), "output__gain": np.float64(out.gain),
            "output__offset": out.offset.astype(np.float64)}


def program_text() -> str:
    """The program: the fixed template with lava_network.py's functions in place of its
    marker. Built from snnc's own source alone: no text of any graph or file name."""
    from snnc.targets.loihi import lava_network

    code = []
    for name in WORKER_CODE:
        obj = getattr(lava_network, name)
        code.append(inspect.getsource(obj).rstrip() if callable(obj) else f"{name} = {obj!r}")
    return TEMPLATE.read_text().replace(WORKER_MARKER, "\n\n\n".join(code))


def run_program(graph: Graph, spikes, record=("v",), timeout: float | None = None) -> dict:
    """Export `graph` to a temporary folder, run the program in the Lava side
    environment on binary spikes [B, T, n_in] (already padded) and read its
    output back: {population: {"spikes", "v"[, "u"]}} int64 [B, T, n], and
    "logits" [B, n_out]."""
    import tempfile

    from snnc.targets.loihi.lava_exec import DEFAULT_TIMEOUT_S, check_batch, lava_python, run_subprocess

    python = lava_python()
    with tempfile.TemporaryDirectory(prefix="snnc-lava-program-") as tmp:
        program = export(graph, tmp)
        n_in = graph.nodes[next(iter(graph.inputs))].size
        x, _ = check_batch(spikes, n_in)
        np.savez(Path(tmp) / "spikes.npz", spikes=x)
        run_subprocess([str(python), str(program), str(Path(tmp) / "spikes.npz"), str(Path(tmp) / "out.npz"),
                        "--record", ",".join(record)], timeout or DEFAULT_TIMEOUT_S)
        with np.load(Path(tmp) / "out.npz", allow_pickle=False) as f:
            out = {k: f[k] for k in f.files}
        with np.load(program.with_suffix(".npz"), allow_pickle=False) as f:
            names = [str(n) for n in f["populations"]]
    result: dict = {"logits": out.pop("logits")} if "logits" in out else {}
    for key, val in out.items():
        block, _, var = key.rpartition("__")
        if block.startswith("lif"):
            result.setdefault(names[int(block[3:])], {})[var] = val.astype(np.int64)
    return result
