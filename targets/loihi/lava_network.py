"""Build and run any Loihi network in Lava: snnc's independent Loihi reference (Lava side).

Standalone (numpy and Lava only; it imports nothing from snnc, which needs Python 3.11 while
lava-nc 0.10.0 imports only on 3.10). `lava_worker.py --graph` runs it; the exported Lava
program (`lava_program.py`) holds these functions verbatim. A network is plain arrays (keys
of an `.npz` read with `allow_pickle=False`; no graph text ever becomes code):

    n_pops                          populations, k = 0 .. n_pops - 1
    pop{k}__du / __dv / __vth / __bias_mant / __bias_exp     per neuron [n_k]
    n_dense                         Dense processes, j = 0 .. n_dense - 1
    dense{j}__weights               [n_dst, n_src] integers, passed to Lava's Dense as they are
    dense{j}__weight_exp / __sign_mode                         scalars (SignMode value)
    dense{j}__src                   -1: the input (RingBuffer), else a population k
    dense{j}__dst                   the population k whose LIF a_in it feeds
    n_conv                          Conv processes, i = 0 .. n_conv - 1 (absent: none)
    conv{i}__weight                 [C_out, kw, kh, C_in / groups]: Lava's Conv `weight`, as it is
    conv{i}__input_shape            (W, H, C); __padding / __stride / __dilation (x, y); __groups
    conv{i}__src / __dst            as a Dense's
    in_order, pop{k}__order         (absent: identity) for each Lava index, the caller's index

Any number of Dense may feed one population (a bias channel beside the forward Dense, a
recurrent Dense, the two halves of a split weight matrix): Lava's PyInPortVectorDense.recv
adds every channel connected to an InPort (`acc + port.recv()` from a zeros array of the
port's dtype; a_in is int16 and each Dense sends int32, so the sum is int32). Populations are
created first and Dense processes connected after, so any order and any cycle run.

A population that a Conv reads or writes is held flat in Lava's order: its (W, H, C) array
flattened C-order, `index = (x * H + y) * C + c` (the network's arrays are already in that
order; Dense weights permuted to it). A Conv reads its source LIF's s_out reshaped to (W, H, C)
(Lava's ReshapePort) and its a_out, flattened, joins the target LIF's a_in beside any Dense
(PyConvModelFixed: int32 a_out, 24-bit signed_clamp, one step of delay). Input spikes and every
trace are in the caller's order: `run_network` permutes them by `in_order` and `pop{k}__order`.
Lava's Conv holds groups, kernel size, stride, padding and dilation as int8 (at most 127 each).

A population whose neurons differ in (du, dv, vth), single values in Lava's LIF, becomes one
full-width LIF per distinct triple: group g's incoming Dense keep only g's rows and its other
neurons get bias 0, so they stay at u = v = 0 and never spike; the groups' spikes then add up
(disjoint) at every Dense they feed, whose weights stay whole. Slicing weight columns instead
would split W s into partial sums, each shifted by weight_exp on its own: with a negative
weight_exp the floors would differ.

`block` samples run side by side as independent copies of the network (block-diagonal
weights, tiled neuron parameters) for T steps; then every LIF's u, v and every Dense's a_buff
(and Conv's a_buf) are reset with Var.set and the next block runs, all in one compiled runtime.
A network with a Conv runs one sample per block (a Conv's image has no block-diagonal form).
"""
import os
import time

import numpy as np

LIF_KEYS = ("du", "dv", "vth", "bias_mant", "bias_exp")
DENSE_KEYS = ("weights", "weight_exp", "sign_mode", "src", "dst")
CONV_KEYS = ("weight", "input_shape", "padding", "stride", "dilation", "groups", "src", "dst")
# What select_tag="fixed_pt" must pick; anything else is not the reference.
EXPECTED_MODELS = {"RingBuffer": "PySendModelFixed", "Dense": "PyDenseModelBitAcc",
                   "LIF": "PyLifModelBitAcc", "Conv": "PyConvModelFixed", "Monitor": "PyMonitorDumpModel"}


def read_network(data, prefix=""):
    """(populations, dense, convs, in_order) from the arrays `data` under `prefix`: parameter dicts
    (each population's with its `order`) and the input's order (None: as given)."""
    pops = []
    for k in range(int(data[prefix + "n_pops"])):
        pop = {key: np.asarray(data[f"{prefix}pop{k}__{key}"]) for key in LIF_KEYS}
        order = data.get(f"{prefix}pop{k}__order")
        pop["order"] = np.arange(pop["du"].size) if order is None else np.asarray(order, np.int64)
        pops.append(pop)
    dense = [{key: np.asarray(data[f"{prefix}dense{j}__{key}"]) for key in DENSE_KEYS}
             for j in range(int(data[prefix + "n_dense"]))]
    convs = [{key: np.asarray(data[f"{prefix}conv{i}__{key}"]) for key in CONV_KEYS}
             for i in range(int(data.get(prefix + "n_conv", 0)))]
    in_order = data.get(prefix + "in_order")
    return pops, dense, convs, (None if in_order is None else np.asarray(in_order, np.int64))


def sign_mode(value):
    """Lava's SignMode from its integer value (1 mixed, 2 excitatory, 3 inhibitory)."""
    from lava.utils.weightutils import SignMode

    return SignMode(int(value))


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


def lif_groups(pop):
    """[((du, dv, vth), mask)]: Lava's LIF holds one du, dv and vth per process."""
    triples = np.stack([pop["du"], pop["dv"], pop["vth"]], axis=1)
    keys, inverse = np.unique(triples, axis=0, return_inverse=True)
    return [(tuple(int(x) for x in key), inverse.reshape(-1) == g) for g, key in enumerate(keys)]


def build_population(pop):
    """[(LIF, mask)]: one full-width LIF per (du, dv, vth) group, bias only on its own rows."""
    from lava.proc.lif.process import LIF

    return [(LIF(shape=(mask.size,), du=du, dv=dv, vth=vth,
                 bias_mant=np.where(mask, pop["bias_mant"], 0),
                 bias_exp=np.where(mask, pop["bias_exp"], 0)), mask)
            for (du, dv, vth), mask in lif_groups(pop)]


def connect_dense(dense, ports, groups):
    """One row-masked Dense per group of the target population, fed by every port in `ports`
    (their spikes add up), its a_out into that group's LIF; the sign mode is stated, or Lava
    would guess it from the rows left, which can differ."""
    from lava.proc.dense.process import Dense

    procs = []
    for lif, mask in groups:
        proc = Dense(weights=np.where(mask[:, None], dense["weights"], 0),
                     weight_exp=int(dense["weight_exp"]), sign_mode=sign_mode(dense["sign_mode"]))
        for port in ports:
            port.connect(proc.s_in)
        proc.a_out.connect(lif.a_in)
        procs.append(proc)
    return procs


def side_by_side(pops, dense, block):
    """`block` independent copies of the network: block-diagonal weights, tiled neuron
    parameters. Each row of a Dense still sums only its own sample's inputs, so every copy
    computes exactly what the network alone would."""
    wide_pops = [{key: np.tile(val, block) for key, val in pop.items() if key != "order"} for pop in pops]
    eye = np.eye(block, dtype=np.int64)
    wide_dense = [{**d, "weights": np.kron(eye, np.asarray(d["weights"], np.int64))} for d in dense]
    return wide_pops, wide_dense


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


def connect_conv(conv, ports, groups):
    """Lava's Conv reading every port in `ports` as its (W, H, C) image (their spikes add up), its
    a_out flattened into the target population's LIF: one LIF, since a Conv has no rows to mask."""
    from lava.proc.conv.process import Conv

    if len(groups) != 1:
        raise ValueError(f"a Conv feeds a population of {len(groups)} (du, dv, vth) groups; "
                         "Lava's Conv output reaches every neuron of one LIF")
    shape = tuple(int(v) for v in conv["input_shape"])
    pair = lambda key: tuple(int(v) for v in conv[key])  # noqa: E731
    proc = Conv(weight=np.asarray(conv["weight"], np.int32), weight_exp=0, input_shape=shape,
                padding=pair("padding"), stride=pair("stride"), dilation=pair("dilation"),
                groups=int(conv["groups"]))
    for port in ports:
        port.reshape(shape).connect(proc.s_in)
    proc.a_out.flatten().connect(groups[0][0].a_in)
    return proc


def build_network(pops, dense, spikes, block, convs=()):
    """RingBuffer holding the whole batch, every population, then every Dense and Conv, `block` wide."""
    from lava.proc.io.source import RingBuffer

    if convs and block != 1:
        raise ValueError(f"a network with a Conv runs one sample per block, not {block}")
    pops, dense = side_by_side(pops, dense, block)
    source = RingBuffer(data=block_columns(spikes, block).astype(np.int32))
    groups = [build_population(pop) for pop in pops]
    ports = lambda src: [source.s_out] if src < 0 else [lif.s_out for lif, _ in groups[src]]  # noqa: E731
    procs = [connect_dense(d, ports(int(d["src"])), groups[int(d["dst"])]) for d in dense]
    conv_procs = [connect_conv(c, ports(int(c["src"])), groups[int(c["dst"])]) for c in convs]
    return {"source": source, "pops": groups, "dense": procs, "conv": conv_procs}


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
    for k, groups in enumerate(net["pops"]):
        for g, (lif, mask) in enumerate(groups):
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
    for groups in net["pops"]:
        for lif, mask in groups:
            lif.u.set(np.zeros(mask.size))
            lif.v.set(np.zeros(mask.size))
    for procs in net["dense"]:
        for proc in procs:
            proc.a_buff.set(np.zeros(proc.a_out.shape[0]))
    for proc in net["conv"]:
        proc.a_buf.set(np.zeros(proc.a_out.shape))


def dense_weights(procs, groups, shape):
    """The weights Lava used (first diagonal block), put back together from the groups'
    row masks. Var.get sends one message per value."""
    whole = np.zeros(shape, np.int64)
    for proc, (_, mask) in zip(procs, groups):
        got = np.rint(proc.weights.get()[:shape[0], :shape[1]]).astype(np.int64)
        rows = mask[:shape[0]]
        whole[rows] = got[rows]
    return whole


def collect_traces(probes, block, steps):
    """Per population and variable [B, T, n]: each neuron from its own group's Monitor."""
    out = {}
    for k, mask, name, path, _ in probes:
        data = unblock(np.rint(np.load(path, allow_pickle=False)).astype(np.int64), block, steps)
        trace = out.setdefault(f"lif{k}__{name}", np.zeros_like(data))
        own = mask[:data.shape[-1]]
        trace[..., own] = data[..., own]
    return out


def in_caller_order(traces, pops):
    """Traces `lif{k}__*` [B, T, n] from Lava's order back to the caller's (`pop{k}__order`)."""
    out = dict(traces)
    for key, val in traces.items():
        if key.startswith("lif"):
            back = np.empty_like(val)
            back[..., pops[int(key[3:].partition("__")[0])]["order"]] = val
            out[key] = back
    return out


def run_network(pops, dense, spikes, record, dump_dir, block=1, convs=(), in_order=None):
    """Compile once; run `block` samples side by side for T steps, reset all state, run the
    next block, ...; B must be a multiple of `block`. Spikes [B, T, n_in] and every trace are in
    the caller's order (`in_order`, each population's `order`). Returns `lif{k}__spikes/v/u`
    [B, T, n], `dense{j}__weights` (if "weights" is recorded), `models`, `run_seconds`."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.monitor.process import Monitor

    batch, steps, _ = spikes.shape
    if in_order is not None:
        spikes = spikes[..., in_order]
    net = build_network(pops, dense, spikes, block, convs)
    probes = attach_dump_monitors(net, batch // block * steps, record, dump_dir)
    source = net["source"]
    source.create_runtime(run_cfg=Loihi2SimCfg(
        select_tag="fixed_pt", exception_proc_model_map={Monitor: dump_monitor_model()}))
    out = {}
    try:
        procs = ([source] + [lif for groups in net["pops"] for lif, _ in groups]
                 + [p for procs in net["dense"] for p in procs] + net["conv"])
        out["models"] = np.array(chosen_models(procs + [p[-1] for p in probes]))
        start = time.perf_counter()
        for b in range(batch // block):
            if b:
                reset_states(net)
            source.run(condition=RunSteps(num_steps=steps))
        out["run_seconds"] = np.float64(time.perf_counter() - start)
        if "weights" in record:
            for j, d in enumerate(dense):
                groups = net["pops"][int(d["dst"])]
                used = dense_weights(net["dense"][j], groups, np.shape(d["weights"]))
                src = in_order if int(d["src"]) < 0 else pops[int(d["src"])]["order"]
                whole = np.empty_like(used)
                whole[np.ix_(pops[int(d["dst"])]["order"], np.arange(used.shape[1]) if src is None else src)] = used
                out[f"dense{j}__weights"] = whole
    finally:
        source.stop()
    out.update(collect_traces(probes, block, steps))
    return in_caller_order(out, pops)
