"""Seconds per training step: SBNN (IW-ST `iw` and `analytic`) vs snnTorch SG, same net.

The net is SHD-sized: 700 inputs, two recurrent LIF layers of 256, 20 classes,
T = 100 steps, batch 32, on synthetic 5%-rate input spikes. A step is forward,
loss (the SBNN's negative ELBO incl. KL), backward and an Adam update. The
models are interleaved step by step (one step of each in turn), so that a burst
of load on a shared machine hits all of them alike; after `--warmup` steps of
each, the median of `--steps` timed steps is reported, as wall-clock seconds and
as CPU seconds of this process (`time.process_time`: less sensitive to other
processes on a loaded machine, but it sums the threads' time). The load average
before and after goes into the result.

    python benchmarks/train_overhead.py --json results.json [--threads 1] [--steps 20] [--device cpu]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch
import torch.nn.functional as F

from snnc.io import write_json
from snnc.train.bayes import total_kl
from snnc.train.config import ModelConfig
from snnc.train.losses import sbnn_loss
from snnc.train.models import build_model
from snnc.train.neurons import Firing
from snnc.train.sg import build_sg_model

SHAPE = dict(inputs=700, hidden=[256, 256], classes=20, steps=100, batch=32)
KINDS = ("sg", "iw", "analytic")  # "sg": the snnTorch baseline; the others: SBNN estimators


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


def timed(step) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    step()
    return time.perf_counter() - wall, time.process_time() - cpu


def build(kind: str, device, k: int = 8):
    in_shape = (SHAPE["steps"], SHAPE["inputs"])
    if kind == "sg":
        return build_sg_model(shd_model_config(), in_shape, SHAPE["classes"]).to(device)
    fire = Firing(estimator=kind, k=k, tau=0.5, margins=False)  # bias_lambda = 0 here
    return build_model(shd_model_config(), in_shape, SHAPE["classes"], fire).to(device)


def synthetic_batch(device, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand(SHAPE["batch"], SHAPE["steps"], SHAPE["inputs"], generator=gen) < 0.05).float()
    y = torch.randint(0, SHAPE["classes"], (SHAPE["batch"],), generator=gen)
    return x.to(device), y.to(device)


def interleaved_samples(steps_fn: dict, warmup: int, steps: int) -> dict:
    """{kind: [(wall, cpu), ...]}: warm-up steps of each, then `steps` rounds of one step each."""
    for _ in range(warmup):
        for step in steps_fn.values():
            step()
    samples = {kind: [] for kind in steps_fn}
    for _ in range(steps):
        for kind, step in steps_fn.items():
            samples[kind].append(timed(step))
    return samples


def summarise(samples: dict) -> dict:
    """Medians (wall and CPU) per kind and the SBNN/SG ratios of both."""
    med = {kind: [statistics.median(s[i] for s in v) for i in (0, 1)] for kind, v in samples.items()}
    out = {"sg_step_s": round(med["sg"][0], 5), "sg_step_cpu_s": round(med["sg"][1], 5),
           "sbnn_step_s": {}, "sbnn_step_cpu_s": {}, "ratio": {}, "ratio_cpu": {}}
    for kind in (k for k in samples if k != "sg"):
        out["sbnn_step_s"][kind] = round(med[kind][0], 5)
        out["sbnn_step_cpu_s"][kind] = round(med[kind][1], 5)
        out["ratio"][kind] = round(med[kind][0] / med["sg"][0], 3)
        out["ratio_cpu"][kind] = round(med[kind][1] / med["sg"][1], 3)
    return out


def measure(device: str = "cpu", warmup: int = 3, steps: int = 20, seed: int = 0, k: int = 8,
            kinds=KINDS) -> dict:
    torch.manual_seed(seed)
    device = torch.device(device)
    x, y = synthetic_batch(device, seed)
    steps_fn = {kind: make_step(build(kind, device, k), kind != "sg", x, y) for kind in kinds}
    load_before = os.getloadavg()
    result = summarise(interleaved_samples(steps_fn, warmup, steps))
    result.update({"device": str(device), "threads": torch.get_num_threads(), "shape": SHAPE,
                   "iw_k": k, "steps_timed": steps, "warmup": warmup,
                   "loadavg_1min": [round(load_before[0], 2), round(os.getloadavg()[0], 2)]})
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="write the result here")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    ap.add_argument("--steps", type=int, default=20, help="timed steps per model (median)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--k", type=int, default=8, help="importance draws of the iw estimator")
    args = ap.parse_args(argv)
    if args.steps < 1 or args.warmup < 0:
        ap.error("--steps must be >= 1 and --warmup >= 0")
    if args.threads:
        torch.set_num_threads(args.threads)
    result = measure(args.device, args.warmup, args.steps, k=args.k)
    if args.json:  # first: a closed stdout (`| head`) must not lose the result
        write_json(args.json, result)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
