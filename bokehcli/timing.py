"""Per-stage wall time and peak memory, for `bokeh bench` (a no-op unless asked for)."""

from __future__ import annotations

import contextlib
import resource
import time
from collections import defaultdict
from pathlib import Path
from typing import Iterator

import torch

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


def reset_peak_rss() -> bool:
    """Restart the kernel's peak-RSS counter (Linux: VmHWM); False where that is impossible."""
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def peak_rss_bytes() -> int:
    """Peak resident memory of this process since the last :func:`reset_peak_rss`."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class Stages:
    """``with stages("render"): ...`` adds the block's wall time to ``seconds["render"]``.
    CUDA work is synchronised at the end of each stage so GPU time lands in the right stage."""

    def __init__(self, device: torch.device | str | None = None) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._cuda = torch.device(device).type == "cuda" if device is not None else False

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            if self._cuda:
                torch.cuda.synchronize()
            self.seconds[name] += time.perf_counter() - start


@contextlib.contextmanager
def _untimed(name: str) -> Iterator[None]:  # noqa: ARG001 - same signature as Stages.__call__
    yield


NO_STAGES = _untimed
