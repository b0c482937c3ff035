"""What ``RUN/state.pt`` holds to resume a training run exactly, and how it is saved and restored.

The file holds tensors and plain containers only, so it loads with ``torch.load(weights_only=True)``
(no unpickling of arbitrary objects from a file someone handed us): the weights, the EMA weights,
the optimiser and scheduler states, the step, the data position (:mod:`bokehcli.data.sampling`),
the Python/numpy/torch RNG states, the settings and the model config, and the best validation
result so far. It is written atomically, so a crash during a checkpoint leaves the previous one.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .errors import InputError
from .files import atomic_path

STATE_FORMAT = "bokeh-train-state-v1"


@dataclass
class TrainState:
    """A run's progress; ``tensors`` holds what :meth:`save` captured (and :meth:`restore` puts
    back): the ``model``, ``ema``, ``optimizer`` and ``scheduler`` state dicts and the ``rng``
    states. ``selection`` names how ``best_val_psnr`` was chosen (older runs chose on crops)."""

    step: int
    settings: dict[str, Any]
    config: str
    data_position: int = 0
    skipped_steps: int = 0
    best_val_psnr: float | None = None
    best_step: int | None = None
    selection: str | None = None
    tensors: dict[str, Any] = field(default_factory=dict, repr=False)

    def save(self, path: Path, model: nn.Module, ema: nn.Module, optimizer: torch.optim.Optimizer,
             scheduler: torch.optim.lr_scheduler.LRScheduler) -> None:
        """Capture the training objects and the RNG states now, and write ``path`` atomically."""
        self.tensors = {"model": model.state_dict(), "ema": ema.state_dict(), "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(), "rng": rng_state()}
        plain = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "tensors"}
        with atomic_path(path) as tmp:
            torch.save({"format": STATE_FORMAT, **plain, **self.tensors}, tmp)

    @classmethod
    def load(cls, path: Path) -> "TrainState":
        """Read ``path``; raises :class:`InputError` naming it when it is not a bokeh training state."""
        try:
            raw = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unpickling problem means a bad file
            raise InputError(f"{path}: not a readable training state ({type(exc).__name__}: {exc})") from None
        if not isinstance(raw, dict) or raw.get("format") != STATE_FORMAT:
            raise InputError(f"{path}: not a bokeh training state")
        tensor_keys = ("model", "ema", "optimizer", "scheduler", "rng")
        plain = {f.name: raw[f.name] for f in dataclasses.fields(cls) if f.name in raw and f.name != "tensors"}
        return cls(**plain, tensors={k: raw[k] for k in tensor_keys})

    def restore(self, model: nn.Module, ema: nn.Module, optimizer: torch.optim.Optimizer,
                scheduler: torch.optim.lr_scheduler.LRScheduler) -> None:
        """Put the loaded weights, optimiser, scheduler and RNG states back."""
        model.load_state_dict(self.tensors["model"])
        ema.load_state_dict(self.tensors["ema"])
        optimizer.load_state_dict(self.tensors["optimizer"])
        scheduler.load_state_dict(self.tensors["scheduler"])
        set_rng_state(self.tensors["rng"])


def rng_state() -> dict[str, Any]:
    """Python, numpy and torch global RNG states as tensors and plain values (weights_only)."""
    np_state = np.random.get_state(legacy=False)
    version, internal, gauss = random.getstate()
    state = {"python": {"version": version, "internal": torch.tensor(internal, dtype=torch.int64),
                        "gauss": gauss},
             "numpy": {"key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
                       "pos": int(np_state["state"]["pos"]), "has_gauss": int(np_state["has_gauss"]),
                       "gauss": float(np_state["gauss"])},
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["internal"].tolist()), py["gauss"]))
    npy = state["numpy"]
    np.random.set_state({"bit_generator": "MT19937",
                         "state": {"key": npy["key"].numpy().astype(np.uint32), "pos": npy["pos"]},
                         "has_gauss": npy["has_gauss"], "gauss": npy["gauss"]})
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
