"""Processes under torchrun: rank, world size and device of this one, and the process group's
lifetime (shared by `bokeh train` and `bokeh eval`)."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.distributed as dist

from .device import resolve_device


@dataclass(frozen=True)
class Dist:
    """This process's place: its rank among ``world`` processes, and its GPU on the node."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device_name: str) -> Dist:
    """DDP when launched by torchrun (``WORLD_SIZE`` > 1): NCCL (plus gloo for CPU tensors) on CUDA, gloo on CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    if not dist.is_initialized():
        cuda = device_name.startswith("cuda") or (device_name == "auto" and torch.cuda.is_available())
        # gloo beside NCCL: CPU-side collectives (gathered eval scores, logging) work on GPU runs too
        backend = "cpu:gloo,cuda:nccl" if cuda else "gloo"
        dist.init_process_group(backend=backend)
    return Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def pick_device(name: str, ddp: Dist) -> torch.device:
    """``auto``: CUDA when available. Under DDP every rank uses ``cuda:LOCAL_RANK``."""
    device = resolve_device(name, ddp.local_rank if ddp.world > 1 else None)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


@contextlib.contextmanager
def process_group(device_name: str) -> Iterator[Dist]:
    """:func:`init_distributed` for the block; the process group is torn down however it ends."""
    ddp = init_distributed(device_name)
    try:
        yield ddp
    finally:
        if ddp.world > 1 and dist.is_initialized():
            dist.destroy_process_group()
