"""Multi-process training: the torchrun process group, devices, DDP wrapping and
every rank's RNG state (what `--resume` needs to continue bit-identically).

Launched by `torchrun`, each rank trains on its shard of every epoch's
permutation (DistributedDataParallel; NCCL on CUDA, gloo on CPU); rank 0 writes
the files. A single process (WORLD_SIZE unset or 1) needs none of this.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from snnc.errors import ConfigError


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device_pref: str) -> Dist:
    """Join the torchrun process group when WORLD_SIZE > 1; else a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    use_cuda = device_pref != "cpu" and torch.cuda.is_available()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def close_distributed(ddp: Dist) -> None:
    """Wait for every rank, then leave the process group (no-op for one process)."""
    if ddp.world > 1 and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def resolve_device(pref: str, ddp: Dist) -> torch.device:
    """CUDA when present (or asked for), else CPU."""
    if pref == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device: 'cuda' asked for but CUDA is not available")
    if pref != "cpu" and torch.cuda.is_available():
        return torch.device("cuda", ddp.local_rank)
    return torch.device("cpu")


def shard(perm: torch.Tensor, ddp: Dist) -> torch.Tensor:
    """This rank's equal share of an epoch's permutation (the remainder is dropped)."""
    if ddp.world == 1:
        return perm
    per_rank = len(perm) // ddp.world
    return perm[ddp.rank * per_rank:(ddp.rank + 1) * per_rank]


def wrap_ddp(core: nn.Module, device: torch.device, seed: int, ddp: Dist, fresh: bool) -> nn.Module:
    """`core` itself for one process, else its DDP wrapper; a fresh run reseeds each rank
    (same init everywhere, seeded before; different noise from here on)."""
    if ddp.world == 1:
        return core
    if fresh:
        torch.manual_seed(seed + 7919 * ddp.rank)
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(core, device_ids=ids)


def rng_states(ddp: Dist) -> list:
    """Every rank's torch (and CUDA) RNG state, gathered on all ranks."""
    mine = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        mine["cuda"] = torch.cuda.get_rng_state()
    if ddp.world == 1:
        return [mine]
    gathered = [None] * ddp.world
    dist.all_gather_object(gathered, mine)
    return gathered


def restore_rng(states: list, ddp: Dist) -> None:
    mine = states[ddp.rank] if ddp.rank < len(states) else states[0]
    torch.set_rng_state(mine["cpu"])
    if "cuda" in mine and torch.cuda.is_available():
        torch.cuda.set_rng_state(mine["cuda"])
