"""How much of Loihi the authors' conv nets take: configs/dvs_sbnn.toml (19 conv layers, 2 x 32 x 32
input, widths 32/64/128) and configs/cifar10_sbnn.toml (25 conv layers, 3 x 32 x 32, widths
64/128/256/512) at their real sizes with random weights (PyTorch's init: no training is needed to
count cores). `--compile` runs loihi's whole flow (calibrated on random spike trains); without it the
float graph is counted: the same populations and convs, every float kernel weight nonzero (an upper
bound on the quantised kernel's nonzeros). Measured 2026-12-07: the whole flow on the DVS net was
killed at 13.5 GB of memory (calibration simulates every conv at full size); the float graphs build in
seconds (CIFAR's in 13 s):

    dvs:     19 conv layers, 376,843 neurons -> 369 cores on 3 chips; 55 Conv + 10 Dense processes;
             synaptic memory ~10.9 MiB (estimate, upper bound)
    cifar10: 25 conv layers, 802,826 neurons -> 785 cores on 7 chips; 91 Conv + 13 Dense processes;
             synaptic memory ~306 MiB (estimate, upper bound: each spike source of a residual
             consumer holds its own copy of the kernel, as the IR lowers spike adds)

Counting needs neither data set. What differs from the configs, and why: the affine is
"channel_positive" ("step" does not compile), CIFAR's input is rate-coded over 2 steps (Loihi takes
binary spikes, not the config's direct analog input); neither changes a population's size.

    python benchmarks/loihi_conv_resources.py [--json out.json]

Prints, per net: conv layers, neurons, cores (per stage and in all), chips, Dense and Conv processes,
conv kernel weights (shared) and connections (unshared), the synaptic-memory estimate
(targets/loihi/resources.py says what is estimated).
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from snnc.compiler.compile import compile_net
from snnc.compiler.frontend import float_net
from snnc.compiler.ir import Conv2d
from snnc.targets.loihi import usage
from snnc.train import config as config_mod
from snnc.train.build import make_model
from snnc.train.checkpoint import save_checkpoint

ROOT = Path(__file__).resolve().parents[1]
NETS = {"dvs": ("dvs_sbnn.toml", {}, (2, 32, 32)),
        "cifar10": ("cifar10_sbnn.toml", {"encoding": "rate", "steps": 2}, (3, 32, 32))}


def random_checkpoint(path: Path, config: str, data: dict, image, seed: int = 0) -> Path:
    raw = config_mod.read_toml(ROOT / "configs" / config)
    raw["data"].update(data)
    raw["model"].update(affine="channel_positive")
    cfg = config_mod.from_dict(raw)
    torch.manual_seed(seed)
    in_shape = (cfg.data.steps, *image)
    net = make_model(cfg, in_shape, 10 if "cifar" in config else 11)
    opt = torch.optim.Adam(net.parameters())
    save_checkpoint(path, core=net, opt=opt, sched=torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0), cfg=cfg,
                    epoch=0, seconds=0.0, in_shape=in_shape, n_classes=10 if "cifar" in config else 11, rng=None)
    return path


def count(name: str, compile_it: bool = False, calibrate: int = 2, rate: float = 0.2) -> dict:
    config, data, image = NETS[name]
    with tempfile.TemporaryDirectory() as tmp:
        front = float_net(random_checkpoint(Path(tmp) / "c.pt", config, data, image))
    rng = np.random.default_rng(0)
    n_in = int(np.prod(image))
    front.calibration = lambda n: (rng.random((n, front.steps, n_in)) < rate).astype(np.int64)
    start = time.perf_counter()
    graph = compile_net(front, "loihi", calibrate=calibrate).graph if compile_it else front.graph
    use = usage(graph)
    convs = set(graph.of_type(Conv2d))
    layers = {n.split("_from_")[0].removesuffix("_conv") for n in convs}
    use.update(net=name, config=config, conv_layers=len(layers), seconds=round(time.perf_counter() - start, 1))
    return use


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json")
    ap.add_argument("--nets", default=",".join(NETS))
    ap.add_argument("--compile", action="store_true", help="the whole loihi flow (memory: see above)")
    args = ap.parse_args(argv)
    rows = [count(n, args.compile) for n in args.nets.split(",")]
    for r in rows:
        print(f"{r['net']}: {r['conv_layers']} conv layers, {r['neurons']} neurons -> {r['cores']} cores on "
              f"{r['chips']} chip(s) of {r['cores_per_chip']}; {r['conv_processes']} Conv + {r['dense_processes']} "
              f"Dense processes; conv kernels {r['conv_kernel_weights']} weights shared, "
              f"{r['conv_connections']} connections unshared; synaptic memory ~{r['synaptic_memory_kib_estimate']} KiB "
              f"(estimate); counted in {r['seconds']} s")
        print("  cores per layer: " + ", ".join(f"{k} {v}" for k, v in r["cores_per_layer"].items()))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
