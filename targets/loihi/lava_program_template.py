"""A Lava program exported by snnc: a Loihi Dense/Conv/LIF network, bit-exact.

Runs with lava-nc 0.10.0 (Python 3.10) and numpy; it imports nothing from snnc.
This file is the same for every network: everything that describes one
network (parameters, input width, step counts, where it came from) is in the
`.npz` of the same name beside it, read with `allow_pickle=False`.

    python program.py SPIKES.npz OUT.npz [--block N] [--record v,u]
    python program.py --info        # the network's source, input width and steps

SPIKES.npz holds `spikes`: binary input [B, T, n_in] (or [T, n_in]), the input
already padded with the graph's latency steps (`--info` prints how many empty
steps follow the data steps, as `snnc.runtime.deploy.pad_input` adds them). The
network's parameters are Lava's own names: Dense `weights`, `weight_exp`,
`sign_mode`; LIF `du`, `dv`, `vth`, `bias_mant`, `bias_exp`, per neuron.

The network is a RingBuffer, LIF populations and Dense processes between them
(`pop<k>__*`, `dense<j>__*` in the parameter file: any number of Dense into one
population, which Lava's LIF adds at its a_in) and Conv processes (`conv<i>__*`: Lava's Conv
`weight`, `input_shape`, `padding`, `stride`, `dilation`, `groups`; a population a Conv reads or
writes is held in Lava's (W, H, C) order, `pop<k>__order` and `in_order` map it to snnc's, and
SPIKES and OUT are in snnc's order), compiled once with `Loihi2SimCfg(select_tag="fixed_pt")`
(PyDenseModelBitAcc, PyConvModelFixed, PyLifModelBitAcc). A network with a Conv runs one sample
per block. All B samples run in that one runtime: `--block` samples
side by side as independent copies of the network (block-diagonal Dense
weights), T steps; then every LIF's u, v and every Dense's a_buff is reset
with Var.set and the next block runs. A population whose neurons differ in
(du, dv, vth), single values in Lava's LIF, is one LIF process per distinct
triple (see `build_population`). Monitors record every LIF's spikes (and v, u).

OUT.npz: `lif<k>__spikes`, `lif<k>__v`, `lif<k>__u` int64 [B, T, n] for the
k-th population (the parameter file's `populations` names them as the snnc graph
does), the values
after each step as Lava's Monitors report them; `logits` [B, n_out] float64
decoded from the output population as snnc does (gain * v[step] + offset, or
gain * spike count + offset); `models`: the ProcessModels Lava chose.
"""
import os
import sys
import tempfile
import time

import numpy as np

PARAMS = os.path.splitext(os.path.abspath(__file__))[0] + ".npz"  # this program's parameters
BLOCK_WEIGHTS = 2**21  # weights of one block-diagonal Dense: bounds Lava's memory and work per step

# --- building and running the network (snnc's targets/loihi/lava_network.py, verbatim) ---

# @WORKER_FUNCTIONS@

# --- this program ------------------------------------------------------------


def load_params(path=PARAMS):
    """(populations, Dense, output decoding, input width) from the parameter file."""
    with np.load(path, allow_pickle=False) as f:
        data = {k: f[k] for k in f.files}
    pops, dense, convs, in_order = read_network(data)
    output = {key[len("output__"):]: val for key, val in data.items() if key.startswith("output__")}
    return pops, dense, output, int(data["info__n_in"]), convs, in_order


def info(path=PARAMS):
    """What the parameter file says of the network: source, input width, steps, populations."""
    with np.load(path, allow_pickle=False) as f:
        meta = {key[len("info__"):]: f[key] for key in f.files if key.startswith("info__")}
        populations = [str(n) for n in f["populations"]]
    lines = [f"{key}: {meta[key]}" for key in sorted(meta)]
    return "\n".join(lines + [f"populations: {', '.join(repr(n) for n in populations)}"])


def read_spikes(path, n_in):
    """Binary int64 [B, T, n_in] from SPIKES.npz (key `spikes`); [T, n_in] is one sample."""
    with np.load(path, allow_pickle=False) as f:
        if "spikes" not in f.files:
            raise ValueError(f"{path}: no array 'spikes'")
        x = np.asarray(f["spikes"])
    x = x[None] if x.ndim == 2 else x
    if x.ndim != 3 or 0 in x.shape or x.shape[-1] != n_in:
        raise ValueError(f"spikes must be [B, T, {n_in}] or [T, {n_in}], got {x.shape}")
    if not np.isin(x, (0, 1)).all():
        raise ValueError("Lava's RingBuffer -> Dense input spikes must be 0/1")
    return x.astype(np.int64)


def default_block(dense, batch):
    """Samples side by side: as many as BLOCK_WEIGHTS allows, spread evenly over the blocks."""
    largest = max((d["weights"].size for d in dense), default=1)
    widest = max(1, min(batch, int(np.sqrt(BLOCK_WEIGHTS / max(largest, 1)))))
    blocks = -(-batch // widest)
    return -(-batch // blocks)


def decode(output, traces):
    """Logits as snnc decodes its Output node."""
    k = int(output["pop"])
    if str(output["read"]) == "v":
        raw = traces[f"lif{k}__v"][:, int(output["step"])].astype(np.float64)
    else:
        raw = traces[f"lif{k}__spikes"].sum(axis=1).astype(np.float64)
    return float(output["gain"]) * raw + output["offset"].astype(np.float64)


def run(spikes, record=("v",), block=None):
    """`lif<k>__spikes`, `__v`, `__u` [B, T, n] of the k-th population, and logits of the network on spikes [B, T, n_in]."""
    pops, dense, output, _, convs, in_order = load_params()
    batch = spikes.shape[0]
    block = (1 if convs else default_block(dense, batch)) if block is None else int(block)
    pad = -batch % block  # silent samples fill the last block; dropped after
    x = np.concatenate([spikes, np.zeros((pad,) + spikes.shape[1:], spikes.dtype)])
    record = tuple(record)
    if output and str(output["read"]) == "v" and "v" not in record:
        record += ("v",)
    with tempfile.TemporaryDirectory(prefix="lava-dump-") as tmp:
        out = run_network(pops, dense, x, record, tmp, block, convs, in_order)
    traces = {key: val[:batch] for key, val in out.items() if key.startswith("lif")}
    result = {key: val for key, val in traces.items() if key.rpartition("__")[2] in ("spikes", "v", "u")}
    result["models"] = out["models"]
    if output:
        result["logits"] = decode(output, traces)
    return result


def main(argv):
    args, block, record = [], None, ("v",)
    it = iter(argv[1:])
    for a in it:
        if a == "--info":
            print(info())
            return
        if a == "--block":
            block = int(next(it))
        elif a == "--record":
            record = tuple(r for r in next(it).split(",") if r)
        else:
            args.append(a)
    if len(args) != 2:
        sys.exit(__doc__.split("\n\n")[2])
    spikes = read_spikes(args[0], load_params()[3])
    start = time.perf_counter()
    result = run(spikes, record, block)
    np.savez(args[1], **result)
    print(f"{spikes.shape[0]} samples x {spikes.shape[1]} steps in {time.perf_counter() - start:.1f} s "
          f"-> {args[1]}")


if __name__ == "__main__":
    try:
        main(sys.argv)
    except (ValueError, OSError) as exc:
        sys.exit(f"error: {exc}")
