"""Seconds per training step: SBNN (IW-ST `iw` and `analytic`) vs snnTorch SG, same net.

The net is SHD-sized: 700 inputs, two recurrent LIF layers of 256, 20 classes,
T = 100 steps, batch 32, on synthetic 5%-rate input spikes. A step is forward,
loss (the SBNN's negative ELBO incl. KL), backward and an Adam update. The
median of `--steps` timed steps after `--warmup` is reported.

    python benchmarks/train_overhead.py --json results.json [--threads 1] [--device cpu]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

from snnc.train.bayes import total_kl
from snnc.train.config import ModelConfig
from snnc.train.losses import sbnn_loss
from snnc.train.models import build_model
from snnc.train.neurons import Firing
from snnc.train.sg import build_sg_model

SHAPE = dict(inputs=700, hidden=[256, 256], classes=20, steps=100, batch=32)


def shd_model_config() -> ModelConfig:
    return ModelConfig(name="srnn", neuron="lif", hidden=list(SHAPE["hidden"]), theta=1.0)


def make_step(model, is_sbnn: bool, x, y, n_data: int = 8156):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        out = model(x)
        if is_sbnn:
            loss = sbnn_loss(out, y, total_kl(model), n_data, kl_weight=0.01).total
        else:
            loss = F.cross_entropy(out.logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if x.is_cuda:
            torch.cuda.synchronize()
    return step


def time_step(step, warmup: int, steps: int) -> float:
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def build(kind: str, device, k: int = 8):
    in_shape = (SHAPE["steps"], SHAPE["inputs"])
    if kind == "sg":
        return build_sg_model(shd_model_config(), in_shape, SHAPE["classes"]).to(device)
    fire = Firing(estimator=kind, k=k, tau=0.5, margins=False)  # bias_lambda = 0 here
    return build_model(shd_model_config(), in_shape, SHAPE["classes"], fire).to(device)


def measure(device: str = "cpu", warmup: int = 2, steps: int = 5, seed: int = 0, k: int = 8) -> dict:
    torch.manual_seed(seed)
    device = torch.device(device)
    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand(SHAPE["batch"], SHAPE["steps"], SHAPE["inputs"], generator=gen) < 0.05).float().to(device)
    y = torch.randint(0, SHAPE["classes"], (SHAPE["batch"],), generator=gen).to(device)
    result = {"sbnn_step_s": {}, "ratio": {}}
    # interleave the three so that a burst of load on a shared machine hits all of them
    kinds = ["sg", "iw", "analytic"]
    steps_fn = {kind: make_step(build(kind, device, k), kind != "sg", x, y) for kind in kinds}
    samples = {kind: [] for kind in kinds}
    for _ in range(steps):
        for kind in kinds:
            samples[kind].append(time_step(steps_fn[kind], warmup if not samples[kind] else 0, 1))
    result["sg_step_s"] = round(statistics.median(samples["sg"]), 5)
    for kind in ("iw", "analytic"):
        result["sbnn_step_s"][kind] = round(statistics.median(samples[kind]), 5)
        result["ratio"][kind] = round(result["sbnn_step_s"][kind] / result["sg_step_s"], 3)
    result.update({"device": str(device), "threads": torch.get_num_threads(), "shape": SHAPE,
                   "iw_k": k, "steps_timed": steps})
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="write the result here")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--k", type=int, default=8, help="importance draws of the iw estimator")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = measure(args.device, args.warmup, args.steps, k=args.k)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as fh:
            fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
