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
from .errors import BokehError


@dataclass(frozen=True)
class Dist:
    """This process's place: its rank among ``world`` processes, and its GPU on the node."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def launched_place() -> Dist:
    """This process's place as torchrun announces it (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``);
    ``Dist()`` outside torchrun. Values that are not a rank within the world are a
    :class:`BokehError` (a launcher misconfigured, not something to guess around)."""
    names = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
    text = {name: os.environ.get(name, default) for name, default in zip(names, ("0", "1", "0"))}
    try:
        rank, world, local_rank = (int(text[name]) for name in names)
    except ValueError:
        rank = world = local_rank = -1
    if world <= 1 and rank == 0 and local_rank == 0:
        return Dist()
    if not (world >= 1 and 0 <= rank < world and local_rank >= 0):
        shown = ", ".join(f"{name}={text[name]!r}" for name in names)
        raise BokehError(f"torchrun environment is not a rank within the world: {shown}")
    return Dist(rank, world, local_rank)


def init_distributed(device_name: str) -> Dist:
    """DDP when launched by torchrun (``WORLD_SIZE`` > 1): NCCL (plus gloo for CPU tensors) on CUDA, gloo on CPU."""
    place = launched_place()
    if place.world <= 1:
        return place
    if not dist.is_initialized():
        cuda = device_name.startswith("cuda") or (device_name == "auto" and torch.cuda.is_available())
        # gloo beside NCCL: CPU-side collectives (gathered eval scores, logging) work on GPU runs too
        backend = "cpu:gloo,cuda:nccl" if cuda else "gloo"
        dist.init_process_group(backend=backend)
    return Dist(dist.get_rank(), dist.get_world_size(), place.local_rank)


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
