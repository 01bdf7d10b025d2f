"""GPU check: train the SHD-sized net (700-256-256-20 recurrent LIF, T = 100,
batch 32) for a few hundred steps on synthetic SHD-like data, SBNN (analytic
and iw) and snnTorch SG, and print step time and loss.

The data imitate SHD after binning: 20 classes, each a fixed random set of
~60 "active" channels firing at 8% in a class-specific time window, over a 1%
background, so the loss has something to learn. Not part of CI.

    python benchmarks/gpu_train_step.py [--steps 300] [--device cuda] [--json F]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

from snnc.train.bayes import total_kl
from snnc.train.losses import sbnn_loss
from snnc.train.models import build_model
from snnc.train.neurons import Firing
from snnc.train.sg import build_sg_model

try:  # run as a script from the repository root or as a module
    from train_overhead import SHAPE, shd_model_config
except ImportError:  # pragma: no cover
    from benchmarks.train_overhead import SHAPE, shd_model_config


def synthetic_shd(n: int, seed: int = 0):
    """(spikes [n, T, 700] float, labels [n]) with class-specific channel/time patterns."""
    g = torch.Generator().manual_seed(seed)
    T, C, K = SHAPE["steps"], SHAPE["inputs"], SHAPE["classes"]
    channels = torch.stack([torch.randperm(C, generator=g)[:60] for _ in range(K)])
    starts = torch.randint(0, T // 2, (K,), generator=g)
    y = torch.randint(0, K, (n,), generator=g)
    rate = torch.full((n, T, C), 0.01)
    for i in range(n):
        k = int(y[i])
        t0 = int(starts[k])
        rate[i, t0:t0 + T // 2, channels[k]] = 0.08
    return torch.bernoulli(rate, generator=g), y


def train(kind: str, x, y, steps: int, device) -> dict:
    torch.manual_seed(0)
    in_shape = (SHAPE["steps"], SHAPE["inputs"])
    if kind == "sg":
        model = build_sg_model(shd_model_config(), in_shape, SHAPE["classes"])
    else:
        model = build_model(shd_model_config(), in_shape, SHAPE["classes"],
                            Firing(estimator=kind, margins=False))
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    B, times, losses = SHAPE["batch"], [], []
    for step in range(steps):
        idx = torch.randint(0, len(x), (B,))
        xb, yb = x[idx].to(device), y[idx].to(device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = model(xb)
        ce = F.cross_entropy(out.logits, yb)
        loss = ce if kind == "sg" else sbnn_loss(out, yb, total_kl(model), 8156, kl_weight=0.01).total
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        losses.append(float(ce.detach()))  # cross-entropy: comparable across methods
    k = max(1, steps // 10)
    return {"step_s": round(statistics.median(times[min(5, steps - 1):]), 5),
            "ce_first": round(statistics.mean(losses[:k]), 4),
            "ce_last": round(statistics.mean(losses[-k:]), 4)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--json", help="write the result here")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: run with --device cpu for a smoke test")
        return 1
    x, y = synthetic_shd(1024)
    result = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
              "steps": args.steps, "shape": SHAPE}
    for kind in ("sg", "analytic", "iw"):
        result[kind] = train(kind, x, y, args.steps, device)
        print(kind, result[kind], flush=True)
    result["ratio"] = {k: round(result[k]["step_s"] / result["sg"]["step_s"], 3) for k in ("analytic", "iw")}
    print(json.dumps(result["ratio"]))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
