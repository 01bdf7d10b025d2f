"""Run Loihi networks in Lava itself: snnc's independent Loihi reference.

Standalone script for the Lava side environment (Python 3.10, lava-nc
0.10.0); it imports nothing from snnc because snnc needs Python 3.11 and Lava
fails to import there. The main package calls it as a subprocess:

    python lava_worker.py IN.npz OUT.npz [--time-only]

Input keys (all plain arrays, read with ``allow_pickle=False``):

    n_cases                         scalar
    record                          str array, subset of ("v", "u", "weights")
    case{i}__spikes                 [T, n_in] binary input spikes
    case{i}__n_layers               scalar
    case{i}__layer{k}__weights      [out, in] integers, passed to Lava as is
    case{i}__layer{k}__weight_exp   scalar (may be negative)
    case{i}__layer{k}__du / __dv / __vth          scalars
    case{i}__layer{k}__bias_mant / __bias_exp     scalar or [n]
    case{i}__layer{k}__num_weight_bits            optional scalar
    case{i}__layer{k}__rec_weights / __rec_weight_exp  optional recurrent Dense [n, n]

Output keys (int64 unless noted):

    case{i}__lif{k}__spikes / __v / __u   [T, n] after each step, from Monitors
    case{i}__dense{k}__weights            weights Lava used (if "weights" recorded)
    case{i}__models                       str array: chosen ProcessModel classes
    case{i}__run_seconds                  float64: wall time of run() alone (--time-only: the best
                                          of TIMED_RUNS run() calls of T steps in one runtime)

Each case is ``RingBuffer -> Dense -> LIF -> Dense -> LIF ...`` compiled with
``Loihi2SimCfg(select_tag="fixed_pt")``, i.e. ``PyDenseModelBitAcc`` and
``PyLifModelBitAcc``. With ``--time-only`` no Monitors are attached, so
run_seconds measures the network alone.

    python lava_worker.py IN.npz OUT.npz --graph

runs any Loihi network (lava_network.py: populations and Dense processes between
them, several Dense into one population, input channels into any of them) on a
batch of samples in ONE compiled runtime (Lava's compile and start cost seconds;
paying them per sample would dominate). Input keys:

    record                          as above
    n_graphs                        scalar
    g{i}__spikes                    [B, T, n_in] binary input spikes
    g{i}__block                     samples side by side (B a multiple of it)
    g{i}__n_pops, g{i}__pop{k}__*, g{i}__n_dense, g{i}__dense{j}__*, g{i}__n_conv,
    g{i}__conv{c}__*, g{i}__in_order  the network, as lava_network.py reads it (Conv processes
                                    among the Dense; a Conv graph runs with block 1)

Output keys: ``g{i}__lif{k}__spikes / __v / __u`` [B, T, n] of population k,
``g{i}__dense{j}__weights`` (if recorded), ``g{i}__models``,
``g{i}__run_seconds``.
"""
import os
import sys
import tempfile
import time
import traceback

import numpy as np

if __package__:   # imported as snnc.targets.loihi.lava_worker
    from snnc.targets.loihi.lava_network import LIF_KEYS, chosen_models, read_network, run_network, sign_mode
else:             # run as a script in the Lava environment: its own folder is sys.path[0]
    from lava_network import LIF_KEYS, chosen_models, read_network, run_network, sign_mode


def read_cases(path):
    """Read the input npz into (record, [(layers, spikes), ...])."""
    with np.load(path, allow_pickle=False) as f:
        data = {k: f[k] for k in f.files}
    record = tuple(str(r) for r in data.get("record", np.array(["v", "u"])))
    cases = []
    for i in range(int(data["n_cases"])):
        pre = f"case{i}__"
        layers = []
        for k in range(int(data[pre + "n_layers"])):
            lp = f"{pre}layer{k}__"
            layers.append({key[len(lp):]: val for key, val in data.items()
                           if key.startswith(lp)})
        cases.append((layers, data[pre + "spikes"]))
    return record, cases


def as_lava_value(x):
    """A 0-d array becomes a Python int (Lava's scalar Vars expect one)."""
    x = np.asarray(x)
    return int(x) if x.ndim == 0 else x.astype(np.int64)


def build_chain(layers, spikes):
    """Build RingBuffer -> (Dense -> LIF)*; return (source, denses, lifs)."""
    from lava.proc.dense.process import Dense
    from lava.proc.io.source import RingBuffer
    from lava.proc.lif.process import LIF

    source = RingBuffer(data=np.asarray(spikes, dtype=np.int32).T)
    port, denses, lifs = source.s_out, [], []
    for layer in layers:
        extra = {}
        if "num_weight_bits" in layer:
            extra["num_weight_bits"] = int(layer["num_weight_bits"])
        if "sign_mode" in layer:
            extra["sign_mode"] = sign_mode(layer["sign_mode"])
        dense = Dense(weights=np.asarray(layer["weights"]),
                      weight_exp=int(layer["weight_exp"]), **extra)
        lif = LIF(shape=(dense.a_out.shape[0],),
                  **{k: as_lava_value(layer[k]) for k in LIF_KEYS})
        port.connect(dense.s_in)
        dense.a_out.connect(lif.a_in)
        if "rec_weights" in layer:  # a recurrent Dense from the LIF to itself
            rec_extra = ({"sign_mode": sign_mode(layer["rec_sign_mode"])}
                         if "rec_sign_mode" in layer else {})
            rec = Dense(weights=np.asarray(layer["rec_weights"]),
                        weight_exp=int(layer.get("rec_weight_exp", 0)), **rec_extra)
            lif.s_out.connect(rec.s_in)
            rec.a_out.connect(lif.a_in)
        port = lif.s_out
        denses.append(dense)
        lifs.append(lif)
    return source, denses, lifs


def attach_monitors(lifs, steps, record):
    """One Monitor per probed target (Lava's Monitor holds one target each)."""
    from lava.proc.monitor.process import Monitor

    probes = []
    for k, lif in enumerate(lifs):
        targets = [("spikes", lif.s_out)]
        targets += [(name, getattr(lif, name)) for name in ("v", "u")
                    if name in record]
        for name, target in targets:
            monitor = Monitor()
            monitor.probe(target=target, num_steps=steps)
            probes.append((k, name, monitor, target))
    return probes


TIMED_RUNS = 3   # --time-only: run() calls in one runtime, the best reported (the RingBuffer loops the input)


def _timed_run(source, condition) -> float:
    start = time.perf_counter()
    source.run(condition=condition)
    return time.perf_counter() - start


def run_case(layers, spikes, record, time_only=False):
    """Compile, run for T steps and read back one chain; returns output dict."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg

    steps = int(np.shape(spikes)[0])
    source, denses, lifs = build_chain(layers, spikes)
    probes = [] if time_only else attach_monitors(lifs, steps, record)
    source.create_runtime(run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
    out = {}
    try:
        out["models"] = np.array(chosen_models([source, *denses, *lifs]))
        out["run_seconds"] = np.float64(min(_timed_run(source, RunSteps(num_steps=steps))
                                            for _ in range(TIMED_RUNS if time_only else 1)))
        for k, name, monitor, target in probes:
            data = monitor.get_data()[target.process.name][target.name]
            out[f"lif{k}__{name}"] = np.rint(data).astype(np.int64)
        if "weights" in record:
            for k, dense in enumerate(denses):
                out[f"dense{k}__weights"] = dense.weights.get().astype(np.int64)
    finally:
        source.stop()
    return out


# --- one network, a batch of samples (--graph) ------------------------------

def read_graphs(path):
    """Read the --graph input npz into (record, [(pops, dense, spikes [B, T, n_in], block), ...])."""
    with np.load(path, allow_pickle=False) as f:
        data = {k: f[k] for k in f.files}
    graphs = []
    for i in range(int(data["n_graphs"])):
        pops, dense, convs, in_order = read_network(data, f"g{i}__")
        graphs.append((pops, dense, convs, in_order, data[f"g{i}__spikes"], int(data[f"g{i}__block"])))
    return tuple(str(r) for r in data["record"]), graphs


def main_graph(argv):
    """--graph: each network of argv[1] on its batch, written to argv[2]."""
    record, graphs = read_graphs(argv[1])
    result = {}
    for i, (pops, dense, convs, in_order, spikes, block) in enumerate(graphs):
        with tempfile.TemporaryDirectory(prefix="lava-dump-",
                                         dir=os.path.dirname(os.path.abspath(argv[2]))) as tmp:
            for key, val in run_network(pops, dense, np.asarray(spikes), record, tmp, block,
                                        convs, in_order).items():
                result[f"g{i}__{key}"] = val
    np.savez(argv[2], **result)


def main(argv):
    """Run every case of argv[1], write argv[2]; one-line error on failure."""
    if len(argv) < 3:
        sys.exit("usage: lava_worker.py IN.npz OUT.npz [--time-only | --graph]")
    if "--graph" in argv[3:]:
        return main_graph(argv)
    record, cases = read_cases(argv[1])
    time_only = "--time-only" in argv[3:]
    result = {}
    for i, (layers, spikes) in enumerate(cases):
        for key, val in run_case(layers, spikes, record, time_only).items():
            result[f"case{i}__{key}"] = val
    np.savez(argv[2], **result)


if __name__ == "__main__":
    try:
        main(sys.argv)
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001  (reported to the parent)
        traceback.print_exc()
        msg = " ".join(str(exc).split()) or type(exc).__name__
        print(f"lava_worker: {type(exc).__name__}: {msg}", file=sys.stderr)
        sys.exit(1)
