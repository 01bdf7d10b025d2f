"""Evaluation of a trained net: deterministic (posterior-mean) pass, K posterior
draws, the one noisy forward pass the paper reports, and the activity of a pass.

`deterministic(model)` is the one switch between the two ways an SBNN runs:

    with deterministic(model) as net:   # eps = 0 in every noisy unit, eval mode, no grad
        out = net(x)                    # the posterior-mean graph the compiler deploys

Outside it the net is the stochastic network it was trained as (fresh noise per
neuron, step and pass). It restores the previous mode and noise flag on exit,
also after an exception, and is a plain `eval()` + `no_grad()` for SG nets.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from snnc.train.bayes import sampled_states
from snnc.train.models import set_deterministic

EVAL_BATCH = 256


@contextmanager
def deterministic(model: nn.Module, noisy: bool = False):
    """Eval mode and no grad; eps = 0 in every noisy unit unless `noisy`. Yields the bare
    model (a DDP wrapper unwrapped)."""
    core = getattr(model, "module", model)
    old = set_deterministic(core, not noisy) if hasattr(core, "fire") else None
    was_training = core.training
    core.eval()
    try:
        with torch.no_grad():
            yield core
    finally:
        core.train(was_training)
        if old is not None:
            set_deterministic(core, old)


def _loader(dataset, batch_size: int, device, workers: int):
    return batches(dataset, torch.arange(len(dataset)), batch_size, device, workers)


def predict(model: nn.Module, dataset, batch_size: int, device, workers: int = 0,
            noisy: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(softmax [N, K], labels [N], mean spike rate per layer) of one pass over `dataset`,
    deterministic unless `noisy` (then fresh noise from torch's global generator)."""
    probs, labels, rates, n = [], [], 0.0, 0
    with deterministic(model, noisy=noisy) as core:
        for x, y in _loader(dataset, batch_size, device, workers):
            out = core(x)
            probs.append(torch.softmax(out.logits.float(), 1).cpu())
            labels.append(y.cpu())
            rates = rates + out.rates.detach().cpu() * len(y)
            n += len(y)
    return torch.cat(probs), torch.cat(labels), rates / max(n, 1)


def accuracy(probs: torch.Tensor, labels: torch.Tensor) -> float:
    return float((probs.argmax(1) == labels).float().mean())


def sampled_accuracy(model: nn.Module, dataset, k: int, seed: int, batch_size: int, device) -> float:
    """Accuracy of the average softmax of `k` posterior weight draws, each deterministic."""
    core = getattr(model, "module", model)
    mean_state = {n: t.clone() for n, t in core.state_dict().items()}
    total = None
    try:
        for state in sampled_states(core, k, seed):
            core.load_state_dict(state)
            probs, labels, _ = predict(core, dataset, batch_size, device)
            total = probs if total is None else total + probs
    finally:
        core.load_state_dict(mean_state)
    return accuracy(total, labels)


def stochastic_accuracy(model: nn.Module, dataset, seed: int, batch_size: int, device) -> float:
    """Accuracy of one noisy forward pass (the paper's evaluation: the authors' `evaluate`
    runs the net with its noise on), from a generator seeded by `seed` and without
    touching the training run's random state."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        probs, labels, _ = predict(model, dataset, batch_size, device, noisy=True)
    return accuracy(probs, labels)


def batches(dataset, indices: torch.Tensor, batch_size: int, device, workers: int = 0):
    """(x, y) batches of `dataset` in the order of `indices`, moved to `device`.

    In-memory `TensorDataset`s are sliced directly; lazy ones (SHD, DVS, CIFAR-10
    files) go through a DataLoader with `workers` processes.
    """
    tensors = getattr(dataset, "tensors", None)
    if tensors is None:
        loader = DataLoader(Subset(dataset, indices.tolist()), batch_size=batch_size, shuffle=False,
                            num_workers=workers, pin_memory=device.type == "cuda")
        for x, y in loader:
            yield x.to(device, non_blocking=True), torch.as_tensor(y).to(device, non_blocking=True)
        return
    for i in range(0, len(indices), batch_size):
        idx = indices[i:i + batch_size]
        yield tensors[0][idx].to(device, non_blocking=True), tensors[1][idx].to(device, non_blocking=True)
