"""CPU threads of torch's kernels: the ``--threads`` option of render, train, eval and bench.

Two settings matter on small machines:

* How OpenMP's idle worker threads wait. By default they spin for a while before sleeping; on a
  machine with as many vCPUs as threads, and especially on a shared, loaded one, the spinning
  threads take the CPU from the threads doing work, and the many small parallel regions of the
  network and the renderer pay for it on every region. ``OMP_WAIT_POLICY=PASSIVE`` makes them
  sleep at once. The OpenMP runtime reads it once, when torch loads it, so it must be in the
  environment before ``import torch``: :func:`prefer_passive_wait` runs first thing in the CLI
  package, and never overrides a value the user set.
* How many threads: ``--threads N`` (``torch.set_num_threads``); by default torch's own choice
  (one per core).

The default is measured: ``bokeh bench`` medians on the project's 2-vCPU machine are in the
README (section "Threads").
"""

from __future__ import annotations

import os

WAIT_POLICY_VARIABLE = "OMP_WAIT_POLICY"
DEFAULT_WAIT_POLICY = "PASSIVE"


def prefer_passive_wait() -> None:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` unless the environment already says otherwise. Effective
    only before torch (and with it the OpenMP runtime) is first imported."""
    os.environ.setdefault(WAIT_POLICY_VARIABLE, DEFAULT_WAIT_POLICY)


def set_threads(threads: int | None) -> int:
    """Use ``threads`` intra-op threads for torch's CPU kernels (None: keep torch's default);
    returns the number in use. Raises ValueError below 1."""
    import torch

    if threads is not None:
        if threads < 1:
            raise ValueError(f"--threads must be at least 1, got {threads}")
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def thread_settings() -> dict[str, object]:
    """What a timing ran with: torch's thread count, the OpenMP wait policy in force and GNU
    OpenMP's spin count (which overrides the policy's when set)."""
    import torch

    return {"threads": torch.get_num_threads(), "omp_wait_policy": os.environ.get(WAIT_POLICY_VARIABLE),
            "gomp_spincount": os.environ.get("GOMP_SPINCOUNT")}
