"""Which torch device a command runs on (`--device auto|cpu|cuda|cuda:N|mps`)."""

from __future__ import annotations

import torch

from .errors import SettingError


def _mps_available() -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def resolve_device(name: str, local_rank: int | None = None) -> torch.device:
    """``auto`` is CUDA, else MPS, else the CPU. ``local_rank`` (under torchrun) picks this
    process's GPU. A device that is not there is a one-line :class:`BokehError`."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise SettingError("device", f": unknown device {name!r} (auto, cpu, cuda, cuda:N or mps)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SettingError("device", f"{name}: no CUDA device is available")
        if local_rank is not None:
            device = torch.device("cuda", local_rank)
    elif device.type == "mps" and not _mps_available():
        raise SettingError("device", f"{name}: no MPS device is available")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise SettingError("device", f": unsupported device {name!r} (auto, cpu, cuda, cuda:N or mps)")
    return device
