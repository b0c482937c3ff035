"""The settings of a training run (``bokeh train``'s options), their checks, and which win on resume.

Kept apart from the training loop so the command line can show the defaults without loading torch.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from .errors import BokehError
from .models.config import VARIANTS

CROP_MULTIPLE = 16  # 2x2 tiles of multiples of 8 px (the token stride)
MIN_CROP = 32
MAX_WARMUP_STEPS = 1000  # without --warmup: 5 % of --steps, at most this many


@dataclass(frozen=True)
class TrainSettings:
    """Hyperparameters of a run. Stored in ``state.pt``; on ``--resume`` the stored ones win (a
    different ``steps`` is refused: it would change the schedule already followed)."""

    variant: str = "nano"
    steps: int = 1000
    batch_size: int = 8
    accumulate: int = 1  # micro-batches per optimiser step
    crop: int = 256
    lr: float = 3e-4
    warmup: int | None = None  # None: 5 % of steps, at most MAX_WARMUP_STEPS, fixed when the run starts
    weight_decay: float = 0.05
    ema: float = 0.999
    val_every: int = 250
    save_every: int = 250
    log_every: int = 10
    seed: int = 0
    init: str | None = None

    def check(self) -> None:
        """Raises BokehError (a usage problem) for values that cannot work."""
        if self.variant not in VARIANTS:
            raise BokehError(f"--variant must be one of {', '.join(VARIANTS)}, got {self.variant!r}")
        for name in ("steps", "batch_size", "accumulate", "val_every", "save_every", "log_every"):
            if getattr(self, name) < 1:
                raise BokehError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.crop < MIN_CROP or self.crop % CROP_MULTIPLE:
            raise BokehError(f"--crop must be a multiple of {CROP_MULTIPLE} px, at least {MIN_CROP}, got {self.crop}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise BokehError(f"--lr must be a positive number, got {self.lr}")
        if not 0.0 <= self.ema < 1.0:
            raise BokehError(f"EMA decay must be in [0, 1), got {self.ema}")
        if self.warmup is not None and self.warmup < 0:
            raise BokehError(f"warm-up must be >= 0 steps, got {self.warmup}")


def resolve_settings(given: dict[str, Any], saved: dict[str, Any] | None) -> tuple[TrainSettings, list[str]]:
    """Settings of this invocation from the explicitly given values and, on resume, the stored
    ones; returns notes on given values that a resumed run ignores. A resumed run continues its
    schedule exactly, so a different ``steps`` raises BokehError instead."""
    notes = []
    if saved is None:
        settings = TrainSettings(**given)
    else:
        if "steps" in given and given["steps"] != saved["steps"]:
            raise BokehError(f"--steps {given['steps']} differs from the resumed run's {saved['steps']}: its "
                             "learning-rate schedule is fixed when it starts; use --stop-at to end earlier, or start "
                             "a new run with --init <run>/last.safetensors to train longer")
        settings = TrainSettings(**saved)  # a field added since the run started keeps its default
        for key, value in given.items():
            if getattr(settings, key) != value:
                notes.append(f"--{key.replace('_', '-')} {value} ignored: the resumed run uses {getattr(settings, key)}")
    if settings.warmup is None:
        settings = dataclasses.replace(settings, warmup=min(MAX_WARMUP_STEPS, settings.steps // 20))
    settings.check()
    return settings, notes
