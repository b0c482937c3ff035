"""Which photos of a batch this process renders, when many processes share one batch: a job
array's task (`--shard I/N`), a torchrun rank (``RANK``/``WORLD_SIZE``, read as `bokeh train`
and `bokeh eval` read them), or both (each of N array tasks running W ranks).

Every process lists the same inputs, so each can work out its share alone, with no messages
between them: the inputs' keys (their output paths) are sorted and dealt out in turn, key ``k``
(0-based, in sorted order) to share ``k mod count``. The shares are disjoint and together
complete, their sizes differ by at most one key, and inputs with the same key (two photos that
would write the same output) go to the same process, which reports the clash as a single
process would instead of two processes writing one file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence, TypeVar

from .distributed import Dist, launched_place, pick_device
from .errors import BokehError

Item = TypeVar("Item")
_SHARD = re.compile(r"(\d{1,9})/(\d{1,9})")


@dataclass(frozen=True)
class Share:
    """Share ``index`` (0-based) of ``count``; ``origin`` says where it came from."""

    index: int
    count: int
    origin: str

    def take(self, items: Sequence[Item], key: Callable[[Item], str]) -> list[Item]:
        """The items of this share, in their given order (see the module docstring)."""
        order = {k: n for n, k in enumerate(sorted({key(item) for item in items}))}
        return [item for item in items if order[key(item)] % self.count == self.index]

    def summary(self, taken: int, total: int) -> str:
        return (f"shard {self.index}/{self.count} ({self.origin}): rendering {taken} of {total} photos; "
                f"the other shards render the rest")


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` -> ``(I, N)`` with ``0 <= I < N``; anything else is a :class:`BokehError`."""
    match = _SHARD.fullmatch(text.strip())
    index, count = (int(match.group(1)), int(match.group(2))) if match else (-1, 0)
    if not 0 <= index < count:
        raise BokehError(f"--shard must be I/N with 0 <= I < N (0/4 is the first of four shares), got {text!r}")
    return index, count


def batch_share(shard: str | None, device: str) -> tuple[Share | None, str]:
    """This process's share of the batch (None: all of it) and the device it renders on.

    Job array task ``i`` of ``n`` under torchrun rank ``r`` of ``w`` takes share ``i + n r`` of
    ``n w``: share ``r`` of ``w`` of the job's own share (dealing in turn twice is dealing in
    turn once, with ``n w`` players). Under torchrun each rank renders on its own GPU
    (``cuda:LOCAL_RANK``), as in training."""
    index, count = parse_shard(shard) if shard is not None else (0, 1)
    place: Dist = launched_place()
    origins = [f"--shard {index}/{count}"] if shard is not None else []
    if place.world > 1:
        origins.append(f"torchrun RANK {place.rank} of WORLD_SIZE {place.world}")
        device = str(pick_device(device, place))
    index, count = index + count * place.rank, count * place.world
    return (Share(index, count, ", ".join(origins)) if count > 1 else None), device
