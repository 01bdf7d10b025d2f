"""The net and the optimiser a training config describes (shared by the trainer and
the checkpoint loader, which rebuilds a net from its stored config alone)."""
from __future__ import annotations

import math

import torch
from torch import nn

from snnc.train.models import build_model
from snnc.train.neurons import Firing


def make_model(cfg, in_shape, n_classes: int) -> nn.Module:
    """The net of `cfg`: an SBNN (`method.name = "sbnn"`) or its SG twin."""
    if cfg.method.name == "sg":
        from snnc.train.sg import build_sg_model
        return build_sg_model(cfg.model, in_shape, n_classes, width=cfg.method.surrogate_width,
                              batchnorm=cfg.method.batchnorm, neuron=cfg.method.sg_neuron)
    m = cfg.method
    fire = Firing(estimator=m.estimator, tau=m.tau, k=m.k, noise=m.noise, relaxation=m.relaxation,
                  margins=cfg.loss.margin_lambda > 0)
    return build_model(cfg.model, tuple(in_shape), n_classes, fire)


def layer_count(model_cfg) -> int:
    """Weight layers of the net `model_cfg` describes (the readout included); from the
    config's lists alone, nothing built."""
    m = model_cfg
    if m.name == "resnet":
        return 1 + 2 * sum(m.blocks) + 1
    return len(m.hidden) + 1


def size_floor(cfg, in_shape, n_classes: int) -> tuple[int, int]:
    """(values, entries): lower bounds on the numbers and the entries of the state dict of
    `make_model(cfg, in_shape, n_classes)`, in Python integers and without building it:
    its weight matrices (and per-step affines or BatchNorms) alone. A checkpoint whose
    state dict holds fewer cannot be this net's, so it is refused before any allocation.
    Call `layer_count` first: this walks every layer."""
    m = cfg.model
    steps, sample = int(in_shape[0]), [int(n) for n in in_shape[1:]]
    step_norm = cfg.method.name == "sg" and cfg.method.batchnorm   # one BatchNorm per step and layer
    if m.name in ("mlp", "srnn"):
        sizes = [math.prod(sample)] + list(m.hidden)
        values = sum(a * b for a, b in zip(sizes, sizes[1:])) + sizes[-1] * n_classes
        if m.name == "srnn":
            values += sum(n * n for n in m.hidden)
        channels = list(m.hidden)
    elif m.name == "resnet":
        image = list(m.image_shape) if m.image_shape else sample
        k2, cin = m.kernel_size ** 2, (image or [1])[0]
        values, channels = cin * m.widths[0] * k2, [m.widths[0]]
        cin = m.widths[0]
        for width, n in zip(m.widths, m.blocks):
            for _ in range(n):
                values += (cin * width + width * width) * k2
                channels += [width, width]
                cin = width
        values += cin * n_classes
    else:
        return 0, 0  # make_model names the unknown model
    if m.affine == "step" or step_norm:
        values += steps * sum(channels)
    return values, len(channels) + 1 + (steps * len(channels) if step_norm else 0)


def make_optimizer(model: nn.Module, tcfg):
    """AdamW with the posterior-std parameters (`rho`, and the bias noise's `bias_rho`)
    in their own group at `sigma_lr`, the affine's (`model.affine`) at `affine_lr` when
    set, and the lr schedule of `tcfg` (stepped once per epoch).

    The authors' groups (train_shd.py / train_dvs.py `adjust_learning_rate`, which
    overwrites the groups' initial lrs before the first epoch): weights and biases at
    lr1 = 5e-3; posterior stds and `scales_biases` at lr2 = 0.05; the SHD net's per-step
    `scalers`/`biases` at lr2 as well (configs/shd_sbnn.toml: affine_lr = 0.05), the DVS
    net's at lr1; both groups follow the same cosine."""
    groups = {"lr": [], "rho": [], "affine": []}
    for name, p in model.named_parameters():
        kind = "rho" if name.endswith("rho") else "affine" if ".affine." in name and tcfg.affine_lr else "lr"
        groups[kind].append(p)
    out = [{"params": groups["lr"], "lr": tcfg.lr, "weight_decay": tcfg.weight_decay}]
    if groups["rho"]:
        out.append({"params": groups["rho"], "lr": tcfg.sigma_lr, "weight_decay": 0.0})
    if groups["affine"]:
        out.append({"params": groups["affine"], "lr": tcfg.affine_lr, "weight_decay": 0.0})
    opt = torch.optim.AdamW(out)
    return opt, make_schedule(opt, tcfg)


def make_schedule(opt, tcfg):
    """cosine: every group's lr follows lr_g * (f + (1 - f)(1 + cos(pi e / E)) / 2) in
    epoch e of E, f = `lr_floor` (the authors' `adjust_learning_rate`: f = 0.1 in
    train_shd.py, 0.02 in train_dvs.py; f = 0 is PyTorch's CosineAnnealingLR, kept
    as such so that older checkpoints resume); constant: lr throughout."""
    if tcfg.schedule != "cosine":
        return torch.optim.lr_scheduler.ConstantLR(opt, factor=1.0, total_iters=0)
    if tcfg.lr_floor == 0:
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=tcfg.epochs)
    floor, epochs = tcfg.lr_floor, tcfg.epochs
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda e: floor + (1 - floor) * (1 + math.cos(math.pi * e / epochs)) / 2)


def input_rms(dataset, n: int = 1024) -> float:
    """Root mean square of the first `n` inputs (the data-aware init's scale)."""
    x = torch.stack([dataset[i][0] for i in range(min(n, len(dataset)))])
    return float(x.pow(2).mean().sqrt().clamp_min(1e-6))
