"""The order training reads samples in: a resumable, rank-sliced stream of positions.

Data order is a pure function of the run's seed and a sample *position* that counts every sample
drawn: position ``p`` is item ``perm_e[p mod N]`` of epoch ``e = p // N`` (a fresh permutation per
epoch), and the crop/target/flip of that item come from the data set's ``(seed, e, item)`` RNG.
Storing the next position is therefore all a checkpoint needs to continue the exact stream. Under
``torchrun`` every rank takes its own slice of each global batch (the role of a
DistributedSampler, but resumable mid-epoch).
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from .realbokeh import RealBokehTrain


class SampleStream(Dataset):
    """Item ``p`` = sample position ``p`` of an endless stream over ``base`` (module docstring)."""

    def __init__(self, base: RealBokehTrain, seed: int) -> None:
        self.base, self.seed = base, seed

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, position: int) -> dict[str, torch.Tensor]:
        epoch, offset = divmod(position, len(self.base))
        item = np.random.default_rng((self.seed, epoch)).permutation(len(self.base))[offset]
        self.base.set_epoch(epoch)  # the base draws crop/target/flip from (seed, epoch, item)
        return self.base[int(item)]


class PositionSampler(Sampler[int]):
    """Positions of this rank for ``n_steps`` steps from ``start``: step ``s`` covers positions
    ``start + s * B * world ...``, and rank ``r`` takes the ``B`` of them at offset ``r * B``."""

    def __init__(self, start: int, n_steps: int, batch_size: int, rank: int, world: int) -> None:
        self.start, self.n_steps, self.batch, self.rank, self.world = start, n_steps, batch_size, rank, world

    def __len__(self) -> int:
        return self.n_steps * self.batch

    def __iter__(self) -> Iterator[int]:
        global_batch = self.batch * self.world
        for step in range(self.n_steps):
            first = self.start + step * global_batch + self.rank * self.batch
            yield from range(first, first + self.batch)
