"""Run Dense->LIF chains in Lava itself: snnc's independent Loihi reference.

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
    case{i}__run_seconds                  float64: wall time of run() alone

Each case is ``RingBuffer -> Dense -> LIF -> Dense -> LIF ...`` compiled with
``Loihi2SimCfg(select_tag="fixed_pt")``, i.e. ``PyDenseModelBitAcc`` and
``PyLifModelBitAcc``. With ``--time-only`` no Monitors are attached, so
run_seconds measures the network alone.

    python lava_worker.py IN.npz OUT.npz --graph

runs each network's batch of samples in ONE compiled runtime (Lava's
compile and start cost seconds; paying them per sample would dominate).
Input keys:

    record                          as above
    n_graphs                        scalar
    g{i}__spikes                    [B, T, n_in] binary input spikes
    g{i}__block                     samples side by side (B a multiple of it)
    g{i}__n_layers                  scalar
    g{i}__layer{k}__weights / __weight_exp / __sign_mode    Dense (SignMode value)
    g{i}__layer{k}__du / __dv / __vth / __bias_mant / __bias_exp   per neuron [n]
    g{i}__layer{k}__rec_weights / __rec_weight_exp / __rec_sign_mode   optional

Output keys: ``g{i}__lif{k}__spikes / __v / __u`` [B, T, n],
``g{i}__dense{k}__weights`` and ``g{i}__rec{k}__weights`` (if recorded),
``g{i}__models``, ``g{i}__run_seconds``.

`block` samples run side by side as independent copies of the network
(block-diagonal weights, tiled neuron parameters) for T steps; then LIF u, v
and every Dense's a_buff are reset with Var.set and the next block runs. A
population whose neurons differ in (du, dv, vth), single values in Lava's
LIF, becomes one full-width LIF process per distinct triple: group g's
incoming Dense keeps only g's rows and its other neurons get bias 0, so they
stay at u = v = 0 and never spike; the groups' spikes then add up (disjoint)
at every downstream Dense, whose weights stay whole. Slicing weight columns
instead would split W s into partial sums, and each is shifted by weight_exp
on its own: with a negative weight_exp the floors would differ.
"""
import os
import sys
import tempfile
import time
import traceback

import numpy as np

LIF_KEYS = ("du", "dv", "vth", "bias_mant", "bias_exp")


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


def sign_mode(value):
    """Lava's SignMode from its integer value (1 mixed, 2 excitatory, 3 inhibitory)."""
    from lava.utils.weightutils import SignMode

    return SignMode(int(value))


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


# What select_tag="fixed_pt" must pick; anything else is not the reference.
EXPECTED_MODELS = {"RingBuffer": "PySendModelFixed", "Dense": "PyDenseModelBitAcc",
                   "LIF": "PyLifModelBitAcc", "Monitor": "PyMonitorDumpModel"}


def chosen_models(processes):
    """`Process:Model` names the compiler picked; fail unless bit-accurate."""
    names = []
    for proc in processes:
        kind, model = type(proc).__name__, proc.model_class.__name__
        if model != EXPECTED_MODELS[kind]:
            raise RuntimeError(f"Lava chose {model} for {kind}, expected the "
                               f"bit-accurate {EXPECTED_MODELS[kind]}")
        names.append(f"{kind}:{model}")
    return names


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
        start = time.perf_counter()
        source.run(condition=RunSteps(num_steps=steps))
        out["run_seconds"] = np.float64(time.perf_counter() - start)
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
    """Read the --graph input npz into (record, [(layers, spikes [B, T, n_in], block), ...])."""
    with np.load(path, allow_pickle=False) as f:
        data = {k: f[k] for k in f.files}
    graphs = []
    for i in range(int(data["n_graphs"])):
        pre = f"g{i}__"
        layers = []
        for k in range(int(data[pre + "n_layers"])):
            lp = f"{pre}layer{k}__"
            layers.append({key[len(lp):]: val for key, val in data.items() if key.startswith(lp)})
        graphs.append((layers, data[pre + "spikes"], int(data[pre + "block"])))
    return tuple(str(r) for r in data["record"]), graphs


def lif_groups(layer):
    """[((du, dv, vth), mask)]: Lava's LIF holds one du, dv and vth per process."""
    triples = np.stack([layer["du"], layer["dv"], layer["vth"]], axis=1)
    keys, inverse = np.unique(triples, axis=0, return_inverse=True)
    return [(tuple(int(x) for x in key), inverse.reshape(-1) == g) for g, key in enumerate(keys)]


def masked_dense(weights, mask, weight_exp, mode):
    """A Dense keeping only the rows in `mask`, with the sign mode stated:
    Lava would otherwise guess it from the rows left, which can differ."""
    from lava.proc.dense.process import Dense

    return Dense(weights=np.where(mask[:, None], weights, 0),
                 weight_exp=int(weight_exp), sign_mode=sign_mode(mode))


def build_population(layer, inputs):
    """One population: per (du, dv, vth) group a full-width LIF fed by a
    row-masked Dense from every port in `inputs` (their spikes add up)."""
    from lava.proc.lif.process import LIF

    pop = {"lifs": [], "dense": [], "rec": []}
    for (du, dv, vth), mask in lif_groups(layer):
        lif = LIF(shape=(mask.size,), du=du, dv=dv, vth=vth,
                  bias_mant=np.where(mask, layer["bias_mant"], 0),
                  bias_exp=np.where(mask, layer["bias_exp"], 0))
        dense = masked_dense(layer["weights"], mask, layer["weight_exp"], layer["sign_mode"])
        for port in inputs:
            port.connect(dense.s_in)
        dense.a_out.connect(lif.a_in)
        pop["lifs"].append((lif, mask))
        pop["dense"].append(dense)
    if "rec_weights" in layer:
        for lif, mask in pop["lifs"]:
            rec = masked_dense(layer["rec_weights"], mask, layer["rec_weight_exp"],
                               layer["rec_sign_mode"])
            for src, _ in pop["lifs"]:
                src.s_out.connect(rec.s_in)
            rec.a_out.connect(lif.a_in)
            pop["rec"].append(rec)
    return pop


def side_by_side(layer, block):
    """`block` independent copies of a layer: block-diagonal weights, tiled
    neuron parameters. Each row of a Dense still sums only its own sample's
    inputs, so every copy computes exactly what the layer alone would."""
    wide = {key: np.tile(val, block) for key, val in layer.items()
            if key in LIF_KEYS}
    for key in ("weights", "rec_weights"):
        if key in layer:
            wide[key] = np.kron(np.eye(block, dtype=np.int64), layer[key])
    return {**layer, **wide}


def block_columns(spikes, block):
    """[B, T, n] -> [block * n, B / block * T]: block j's samples side by
    side, blocks end to end in time (RingBuffer's layout: time last)."""
    batch, steps, n = spikes.shape
    x = spikes.reshape(batch // block, block, steps, n).transpose(0, 2, 1, 3)
    return x.reshape(batch // block * steps, block * n).T


def unblock(trace, block, steps):
    """Monitor data [B / block * T, block * n] -> [B, T, n] (block_columns' inverse)."""
    rows, width = trace.shape
    x = trace.reshape(rows // steps, steps, block, width // block).transpose(0, 2, 1, 3)
    return x.reshape(-1, steps, width // block)


def build_network(layers, spikes, block):
    """RingBuffer holding the whole batch -> populations, `block` samples wide."""
    from lava.proc.io.source import RingBuffer

    source = RingBuffer(data=block_columns(spikes, block).astype(np.int32))
    inputs, net = [source.s_out], []
    for layer in layers:
        net.append(build_population(side_by_side(layer, block), inputs))
        inputs = [lif.s_out for lif, _ in net[-1]["lifs"]]
    return source, net


def dump_monitor_model():
    """Lava's PyMonitorModel that also saves its records to `dump_path` at its
    last step: Var.get sends one message per value (minutes for a batch)."""
    from lava.proc.monitor.models import PyMonitorModel

    class PyMonitorDumpModel(PyMonitorModel):
        def run_post_mgmt(self):
            super().run_post_mgmt()
            names = (self.proc_params["VarsData1"][:self.proc_params["n_ref_ports"]]
                     + self.proc_params["VarsData2"][:self.proc_params["n_in_ports"]])
            data = getattr(self, names[0])
            if self.time_step == data.shape[0]:
                np.save(self.proc_params["dump_path"], data)

    return PyMonitorDumpModel


def attach_dump_monitors(net, steps, record, dump_dir):
    """One dumping Monitor per (group LIF, variable); returns [(k, mask, name, path, monitor)]."""
    from lava.proc.monitor.process import Monitor

    probes = []
    for k, pop in enumerate(net):
        for g, (lif, mask) in enumerate(pop["lifs"]):
            for name in ("spikes",) + tuple(r for r in ("v", "u") if r in record):
                monitor = Monitor()
                monitor.probe(target=lif.s_out if name == "spikes" else getattr(lif, name),
                              num_steps=steps)
                path = os.path.join(dump_dir, f"lif{k}_g{g}_{name}.npy")
                monitor.proc_params["dump_path"] = path
                probes.append((k, mask, name, path, monitor))
    return probes


def reset_states(net):
    """Zero all state a block of samples leaves behind: LIF u and v, and each
    Dense's a_buff (the activation it delivers one step later). Nothing else
    carries over: the RingBuffer reads column time_step - 1 of the batch laid
    end to end, the Monitors write row time_step - 1, LIF's scaled bias and
    threshold and Dense's preprocessed weights are constants."""
    for pop in net:
        for lif, mask in pop["lifs"]:
            lif.u.set(np.zeros(mask.size))
            lif.v.set(np.zeros(mask.size))
        for dense in pop["dense"] + pop["rec"]:
            dense.a_buff.set(np.zeros(dense.a_out.shape[0]))


def graph_weights(pop, key, shape):
    """The weights Lava used (first diagonal block), put back together from
    the groups' row masks. Var.get sends one message per value."""
    whole = np.zeros(shape, np.int64)
    for dense, (_, mask) in zip(pop[key], pop["lifs"]):
        got = np.rint(dense.weights.get()[:shape[0], :shape[1]]).astype(np.int64)
        rows = mask[:shape[0]]
        whole[rows] = got[rows]
    return whole


def collect_traces(probes, block, steps):
    """Per layer and variable [B, T, n]: each neuron from its own group's Monitor."""
    out = {}
    for k, mask, name, path, _ in probes:
        data = unblock(np.rint(np.load(path, allow_pickle=False)).astype(np.int64), block, steps)
        trace = out.setdefault(f"lif{k}__{name}", np.zeros_like(data))
        own = mask[:data.shape[-1]]
        trace[..., own] = data[..., own]
    return out


def run_graph(layers, spikes, record, dump_dir, block=1):
    """Compile once; run `block` samples side by side for T steps, reset all
    state, run the next block, ...; B must be a multiple of `block`."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.monitor.process import Monitor

    batch, steps, _ = spikes.shape
    source, net = build_network(layers, spikes, block)
    probes = attach_dump_monitors(net, batch // block * steps, record, dump_dir)
    source.create_runtime(run_cfg=Loihi2SimCfg(
        select_tag="fixed_pt", exception_proc_model_map={Monitor: dump_monitor_model()}))
    out = {}
    try:
        procs = [source] + [p for pop in net for p in
                            [lif for lif, _ in pop["lifs"]] + pop["dense"] + pop["rec"]]
        out["models"] = np.array(chosen_models(procs + [p[-1] for p in probes]))
        start = time.perf_counter()
        for b in range(batch // block):
            if b:
                reset_states(net)
            source.run(condition=RunSteps(num_steps=steps))
        out["run_seconds"] = np.float64(time.perf_counter() - start)
        for k, (pop, layer) in enumerate(zip(net, layers)):
            if "weights" in record:
                out[f"dense{k}__weights"] = graph_weights(pop, "dense", layer["weights"].shape)
                if pop["rec"]:
                    out[f"rec{k}__weights"] = graph_weights(pop, "rec", layer["rec_weights"].shape)
    finally:
        source.stop()
    out.update(collect_traces(probes, block, steps))
    return out


def main_graph(argv):
    """--graph: each network of argv[1] on its batch, written to argv[2]."""
    record, graphs = read_graphs(argv[1])
    result = {}
    for i, (layers, spikes, block) in enumerate(graphs):
        with tempfile.TemporaryDirectory(prefix="lava-dump-",
                                         dir=os.path.dirname(os.path.abspath(argv[2]))) as tmp:
            for key, val in run_graph(layers, np.asarray(spikes), record, tmp, block).items():
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
