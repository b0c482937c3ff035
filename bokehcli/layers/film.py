"""ACFM: aperture-conditioned feature modulation (FiLM) of the bokeh stream.

The lens of a sample is embedded from four numbers, each scaled to order one:

    e = [2 / N,  log(focal_mm / 50),  min(1 m / focus_m, 10),  sensor_diag_mm / 43.27]

(``2 / N`` is the relative aperture against f/2, ``1 / focus_m`` is 0 at infinity), passed through
a two-layer MLP, and every modulated block scales and shifts its normalised tokens:

    x <- x * (1 + gamma(e)) + shift(e)

``gamma`` and ``shift`` start at zero, so an untrained ACFM is the identity.
"""

from __future__ import annotations

import torch
from torch import nn

from ..optics import FULL_FRAME_DIAGONAL_MM

LENS_FEATURES = 4
_REFERENCE_FOCAL_MM = 50.0
_MAX_INVERSE_FOCUS_PER_M = 10.0

def lens_features(
    f_number: torch.Tensor, focal_mm: torch.Tensor, focus_m: torch.Tensor, sensor_diag_mm: torch.Tensor
) -> torch.Tensor:
    """(B,) tensors -> (B, 4) features; ``focus_m`` may be ``inf``."""
    return torch.stack(
        [
            2.0 / f_number,
            torch.log(focal_mm / _REFERENCE_FOCAL_MM),
            (1.0 / focus_m).clamp(max=_MAX_INVERSE_FOCUS_PER_M),
            sensor_diag_mm / FULL_FRAME_DIAGONAL_MM,
        ],
        dim=-1,
    )

class LensEmbedding(nn.Module):
    """(B, 4) lens features -> (B, E) embedding."""

    def __init__(self, embed_dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(LENS_FEATURES, embed_dim), nn.SiLU(), nn.Linear(embed_dim, embed_dim), nn.SiLU()
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.mlp(features)

class FiLM(nn.Module):
    """``x`` (B, L, C) modulated by an embedding (B, E): ``x * (1 + gamma) + shift``."""

    def __init__(self, embed_dim: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(embed_dim, 2 * dim)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        gamma, shift = self.proj(embedding).unsqueeze(1).chunk(2, dim=-1)
        return x * (1.0 + gamma) + shift
