"""A Lava run of a compiled loihi conv graph written from the IR's documented fields alone: not
snnc's executor (lava_network.py, lava_graph.py, targets/loihi/conv.py are not used). Standalone:
numpy and lava-nc 0.10.0, run in the Lava environment.

    python own_lava_conv.py NODES.npz OUT.npz

NODES.npz, as compiler/ir/conv.py and targets/loihi/lif.py document the nodes:
    n_pops; pop{k}__du / dv / vth (scalars), bias_mant / bias_exp [n], pop{k}__shape (C, H, W) or (n,)
    n_syn; syn{j}__kind ("conv" or "dense"), __src (-1: the input), __dst, __weights, __weight_exp;
    a conv also __in_shape (C, H, W), __stride, __padding, __dilation (h, w), __groups
    input_shape (C, H, W) or (n,); spikes [T, n_in] flat channel-major (c * H + y) * W + x
OUT.npz: pop{k} [T, n] spikes, flat channel-major.

What the docs say and this file does: the IR kernel is a correlation (C_out, C_in/g, kh, kw) and
Lava's Conv a true convolution over (W, H, C) with weight (C_out, kw, kh, C_in/g), so the kernel
goes in flipped and with its axes swapped; the IR's weight_exp is a per-weight pre-shift (w << e,
or w >> -e flooring), Lava's Conv's weight_exp is never applied. An image population is a LIF of
shape (W, H, C); a Dense after one reads its flattening, so its weight columns follow (x, y, c).
"""
import sys

import numpy as np


def lava_shape(shape):
    return tuple(int(v) for v in shape[::-1]) if len(shape) == 3 else (int(shape[0]),)


def to_lava(flat, shape):
    """Flat channel-major values [..., C*H*W] -> [..., W, H, C] (or as they are for a (n,) shape)."""
    if len(shape) != 3:
        return flat
    c, h, w = (int(v) for v in shape)
    return np.moveaxis(flat.reshape(flat.shape[:-1] + (c, h, w)), (-3, -2, -1), (-1, -2, -3))


def from_lava(x, shape):
    if len(shape) != 3:
        return x
    return np.moveaxis(x, (-3, -2, -1), (-1, -2, -3)).reshape(x.shape[:-3] + (-1,))


def conv_process(d):
    from lava.proc.conv.process import Conv

    w, e = d["weights"].astype(np.int64), int(d["weight_exp"])
    w = w << e if e >= 0 else w >> -e
    c, h, wd = (int(v) for v in d["in_shape"])
    return Conv(weight=w[:, :, ::-1, ::-1].transpose(0, 3, 2, 1).astype(np.int32), input_shape=(wd, h, c),
                stride=tuple(int(v) for v in d["stride"][::-1]), padding=tuple(int(v) for v in d["padding"][::-1]),
                dilation=tuple(int(v) for v in d["dilation"][::-1]), groups=int(d["groups"]))


def lava_index(shape):
    """For each position of Lava's flattened (W, H, C) array, the IR's channel-major index."""
    n = int(np.prod(shape))
    return to_lava(np.arange(n), shape).reshape(-1) if len(shape) == 3 else np.arange(n)


def dense_process(d, src_shape, dst_shape):
    from lava.proc.dense.process import Dense
    from lava.utils.weightutils import SignMode

    w = d["weights"].astype(np.int64)[lava_index(dst_shape)][:, lava_index(src_shape)]
    mode = SignMode.MIXED if w.min() < 0 < w.max() else (SignMode.INHIBITORY if w.min() < 0 else SignMode.EXCITATORY)
    return Dense(weights=w, weight_exp=int(d["weight_exp"]), sign_mode=mode)


def main(argv):
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.source import RingBuffer
    from lava.proc.lif.process import LIF
    from lava.proc.monitor.process import Monitor

    with np.load(argv[1], allow_pickle=False) as f:
        data = {k: f[k] for k in f.files}
    steps = data["spikes"].shape[0]
    in_shape = tuple(data["input_shape"])
    source = RingBuffer(data=np.moveaxis(to_lava(data["spikes"], in_shape), 0, -1).astype(np.int32))
    shapes, lifs = [], []
    for k in range(int(data["n_pops"])):
        shape = tuple(data[f"pop{k}__shape"])
        p = {key: data[f"pop{k}__{key}"] for key in ("du", "dv", "vth", "bias_mant", "bias_exp")}
        lifs.append(LIF(shape=lava_shape(shape), du=int(p["du"]), dv=int(p["dv"]), vth=int(p["vth"]),
                        bias_mant=to_lava(p["bias_mant"], shape), bias_exp=to_lava(p["bias_exp"], shape)))
        shapes.append(shape)
    for j in range(int(data["n_syn"])):
        d = {key[len(f"syn{j}__"):]: v for key, v in data.items() if key.startswith(f"syn{j}__")}
        src, dst = int(d["src"]), int(d["dst"])
        port, src_shape = (source.s_out, in_shape) if src < 0 else (lifs[src].s_out, shapes[src])
        if str(d["kind"]) == "conv":
            proc = conv_process(d)
            port.connect(proc.s_in)
            proc.a_out.connect(lifs[dst].a_in)
        else:
            proc = dense_process(d, src_shape, shapes[dst])
            (port.flatten() if len(src_shape) == 3 else port).connect(proc.s_in)
            (proc.a_out.reshape(lava_shape(shapes[dst])) if len(shapes[dst]) == 3 else proc.a_out).connect(lifs[dst].a_in)
    monitors = []
    for lif in lifs:
        m = Monitor()
        m.probe(target=lif.s_out, num_steps=steps)
        monitors.append(m)
    source.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
    out = {}
    for k, (lif, m) in enumerate(zip(lifs, monitors)):
        got = m.get_data()[lif.name]["s_out"]            # [T, *shape]
        out[f"pop{k}"] = from_lava(np.rint(got).astype(np.int64).reshape((steps,) + lava_shape(shapes[k])), shapes[k])
    source.stop()
    np.savez(argv[2], **out)


if __name__ == "__main__":
    main(sys.argv)
