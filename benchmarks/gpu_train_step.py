"""GPU check: train the SHD-sized net (700-256-256-20 recurrent LIF, T = 100,
batch 32) for a few hundred steps on synthetic SHD-like data, SBNN (analytic
and iw) and snnTorch SG, and print step time, peak memory and loss.

The data imitate SHD after binning: 20 classes, each a fixed random set of
~60 "active" channels firing at 8% in a class-specific time window, over a 1%
background, so the loss has something to learn. Not part of CI.

Options: `--bf16` runs forward and loss under `torch.autocast(dtype=bfloat16)`
(the estimators compute in the dtype they receive; the Adam update stays
float32); `--compile` wraps each model in `torch.compile` (compile time is
excluded from the step time: the first `--warmup` steps are not timed).
On CPU (`--device cpu --steps 3`) the script is a smoke test of the same code.

    python benchmarks/gpu_train_step.py [--steps 300] [--device cuda] [--bf16] [--compile] [--json F]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time

import torch
import torch.nn.functional as F

from snnc.io import write_json
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


def make_model(kind: str, device, compile_model: bool):
    torch.manual_seed(0)
    in_shape = (SHAPE["steps"], SHAPE["inputs"])
    if kind == "sg":
        model = build_sg_model(shd_model_config(), in_shape, SHAPE["classes"])
    else:
        model = build_model(shd_model_config(), in_shape, SHAPE["classes"],
                            Firing(estimator=kind, margins=False))
    model.to(device)
    return model, (torch.compile(model) if compile_model else model)


def _precision(device, bf16: bool):
    """bfloat16 autocast on `device`, or nothing."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def train(kind: str, x, y, steps: int, device, *, bf16: bool = False, compile_model: bool = False,
          warmup: int = 5) -> dict:
    model, run = make_model(kind, device, compile_model)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    B, times, losses = SHAPE["batch"], [], []
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(steps):
        idx = torch.randint(0, len(x), (B,))
        xb, yb = x[idx].to(device), y[idx].to(device)
        _sync(device)
        t0 = time.perf_counter()
        with _precision(device, bf16):
            out = run(xb)
            ce = F.cross_entropy(out.logits.float(), yb)
            loss = ce if kind == "sg" else sbnn_loss(out, yb, total_kl(model), 8156, kl_weight=0.01).total
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        _sync(device)
        times.append(time.perf_counter() - t0)
        losses.append(float(ce.detach()))  # cross-entropy: comparable across methods
    return _summary(times, losses, warmup, device)


def _summary(times, losses, warmup: int, device) -> dict:
    k = max(1, len(losses) // 10)
    timed = times[min(warmup, len(times) - 1):]
    out = {"step_s": round(statistics.median(timed), 5), "steps_timed": len(timed),
           "ce_first": round(statistics.mean(losses[:k]), 4),
           "ce_last": round(statistics.mean(losses[-k:]), 4)}
    if device.type == "cuda":
        out["peak_mem_mib"] = round(torch.cuda.max_memory_allocated(device) / 2 ** 20, 1)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=5, help="untimed first steps (compilation)")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--bf16", action="store_true", help="forward and loss under bfloat16 autocast")
    ap.add_argument("--compile", action="store_true", help="torch.compile each model")
    ap.add_argument("--json", help="write the result here")
    args = ap.parse_args(argv)
    if args.steps < 1 or args.warmup < 0:
        ap.error("--steps must be >= 1 and --warmup >= 0")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: run with --device cpu for a smoke test")
        return 1
    x, y = synthetic_shd(1024)
    result = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
              "steps": args.steps, "shape": SHAPE, "bf16": args.bf16, "compile": args.compile}
    for kind in ("sg", "analytic", "iw"):
        result[kind] = train(kind, x, y, args.steps, device, bf16=args.bf16,
                             compile_model=args.compile, warmup=args.warmup)
        print(kind, result[kind], flush=True)
    result["ratio"] = {k: round(result[k]["step_s"] / result["sg"]["step_s"], 3) for k in ("analytic", "iw")}
    if args.json:
        write_json(args.json, result)
    print(json.dumps(result["ratio"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
