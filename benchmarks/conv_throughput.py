"""Conv nets on the event engine: snnc's conv walk against a dense conv stepper, same net and inputs.

Network (`conv_net`): a Loihi conv net of the digits_conv shape at a larger image: input 2 x
32 x 32 -> Conv2d 3x3, 16 channels, padding 1 -> LIF -> Conv2d 3x3, 16 channels, stride 2,
padding 1 -> LIF -> Dense -> 10 LIF; random int8-range weights (seed 0), `--steps` steps
(default 50), 5 % input (counts 0/1), batch `--batch` (default 64). Hidden activity is high
(40-55 %): conv layers fan each spike out to 9 taps x 16 channels.

Rows, each checked first (every population's spikes at every step and sample equal snnc's, or
the script stops):
* snnc event-driven, one thread (`simulate(threads=1)`): the conv walk (`runtime/conv.py`,
  numba) and the LIF loop; the conv net does not take the fused whole-graph loop.
* snnc event-driven on every core (`simulate`'s default), checked against one thread.
* torch dense stepper, one thread (`torch.set_num_threads(1)`): `torch.nn.functional.conv2d`
  in float64 (exact: every sum is an integer below 2^53) on the whole batch each step, then
  Loihi's integer semantics in numpy int64 (the conv's effective kernel and 24-bit wrap, Dense's
  shift and int32 port, one-step delays, and the LIF step of sim_throughput's numpy stepper,
  `common.lif_step`): the dense way of running the same net, with a conv someone else wrote.

Setup outside the timers (graph, torch tensors); snnc's plan and numba's compilation in the
warm-up. Each row: the best of at least `--repeats` timed runs and 0.5 s of runs (`common.timed`).

    .venv/bin/python benchmarks/conv_throughput.py [--batch 64] [--steps 50] [--repeats 3]
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import check, lif_step, timed, wrap  # noqa: E402

import snnc  # noqa: E402
from snnc.compiler.ir import Conv2d, Graph, Input, LoihiLIF, Output, Synapse  # noqa: E402
from snnc.runtime.simulate import default_threads  # noqa: E402
from snnc.targets import loihi  # noqa: E402
from snnc.targets.loihi.conv import effective_kernel  # noqa: E402


def conv_net(image: int = 32, channels: int = 16, seed: int = 0) -> Graph:
    rng = np.random.default_rng(seed)
    w = lambda *shape: rng.integers(-60, 61, size=shape) * 2  # noqa: E731
    g = Graph("loihi")
    g.add("in", Input(2 * image * image))
    c1 = Conv2d(w(channels, 2, 3, 3), weight_exp=0, delay=1, in_shape=(2, image, image), padding=1)
    g.add("c1", c1, ["in"])
    g.add("l1", LoihiLIF(c1.out_size, du=300, dv=300, vth=40), ["c1"])
    c2 = Conv2d(w(channels, channels, 3, 3), weight_exp=0, delay=1, in_shape=(channels, image, image), padding=1,
                stride=2)
    g.add("c2", c2, ["l1"])
    g.add("l2", LoihiLIF(c2.out_size, du=300, dv=300, vth=60), ["c2"])
    g.add("fc", Synapse(w(10, c2.out_size), weight_exp=0), ["l2"])
    g.add("l3", LoihiLIF(10, du=100, dv=200, vth=100), ["fc"])
    g.add("out", Output(10), ["l3"])
    return g


def torch_setup(graph: Graph):
    """Per population in order: (weights as a torch tensor, conv geometry or Dense shift, du, dv,
    bias, vth << 6), the LIF parameters as numpy int64."""
    import torch

    layers = []
    for name in graph.neuron_order():
        (syn_name, syn, _), = graph.incoming(name)
        lif = graph.nodes[name]
        params = (lif.du.astype(np.int64), lif.dv.astype(np.int64),
                  wrap(lif.bias_mant.astype(np.int64) << lif.bias_exp.astype(np.int64), 32), lif.vth << 6)
        if isinstance(syn, Conv2d):
            layers.append((torch.as_tensor(effective_kernel(syn), dtype=torch.float64), syn, *params))
        else:
            layers.append((torch.as_tensor(loihi.effective_weights(syn.weights).T.astype(np.float64)),
                           syn.weight_exp, *params))
    return layers


def torch_dense(layers, xt):
    """Lava's Conv / Dense (one-step delay; the sums from torch in float64) and PyLifModelBitAcc
    (`common.lif_step`, numpy int64) on the whole batch each step."""
    import torch
    import torch.nn.functional as F

    B, T = xt.shape[:2]
    n = [p[2].shape[0] for p in layers]
    u = [np.zeros((B, k), np.int64) for k in n]
    v = [np.zeros_like(a) for a in u]
    pending = [np.zeros_like(a) for a in u]
    out = [np.zeros((B, T, k), np.int64) for k in n]
    for t in range(T):
        s = xt[:, t]
        for k, (w, geo, du, dv, bias, vth) in enumerate(layers):
            if isinstance(geo, Conv2d):
                acc = F.conv2d(s.reshape(B, *geo.in_shape), w, stride=geo.stride, padding=geo.padding,
                               dilation=geo.dilation, groups=geo.groups).reshape(B, -1).numpy().astype(np.int64)
                a_out = wrap(acc, 24)
            else:
                acc = (s @ w).numpy().astype(np.int64)
                a_out = wrap(acc << geo if geo >= 0 else acc >> -geo, 32)
            a_in, pending[k] = pending[k], a_out
            u[k], v[k], spk = lif_step(u[k], v[k], a_in, du, dv, bias, vth)
            out[k][:, t] = spk
            s = torch.as_tensor(spk, dtype=torch.float64)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--image", type=int, default=32, help="input image side (2 channels)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per row at least (best is kept)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    graph = conv_net(args.image)
    rng = np.random.default_rng(1)
    x = (rng.random((args.batch, args.steps, graph.nodes["in"].size)) < 0.05).astype(np.int64)
    pops = list(graph.neuron_order())
    rows = {}
    sec, res = timed(lambda: snnc.runtime.simulate(graph, x, threads=1), args.repeats)
    ref = [res.spikes[p] for p in pops]
    events = res.totals["synaptic_events"]
    rows["snnc event-driven, one thread"] = sec
    n = default_threads()
    sec, many = timed(lambda: snnc.runtime.simulate(graph, x, threads=n), args.repeats)
    check(f"snnc, {n} threads", [many.spikes[p] for p in pops], ref)
    rows[f"snnc event-driven, {n} threads"] = sec
    layers, xt = torch_setup(graph), torch.as_tensor(x, dtype=torch.float64)
    sec, out = timed(lambda: torch_dense(layers, xt), args.repeats)
    check("torch dense stepper", out, ref)
    rows["torch dense stepper (conv2d float64), one thread"] = sec
    print(f"Loihi conv net {graph.nodes['in'].size}-{'-'.join(str(graph.nodes[p].size) for p in pops)}, "
          f"{args.steps} steps, batch {args.batch}, activity per step "
          f"{ {p: round(float(s.mean()), 3) for p, s in zip(pops, ref)} }, load average {os.getloadavg()[0]:.1f}")
    base = rows["snnc event-driven, one thread"]
    print(f"{'implementation':52s} {'seconds':>9s} {'x snnc 1 thread':>16s} {'syn events/s':>13s}")
    for name, sec in rows.items():
        print(f"{name:52s} {sec:9.3f} {sec / base:16.2f} {events / sec:13.3g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
