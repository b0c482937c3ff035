"""ConvStem: photo -> features at stride 4 -> tokens at stride 8.

    srgb (B, 3, H, W) in [0, 1]
      -> conv3x3/2 -> GN -> GELU -> conv3x3/2 -> GN -> GELU      skip features (B, Cs, H/4, W/4)
      -> conv2x2/2 -> GN                                        tokens (B, C, H/8, W/8)

GroupNorm, not BatchNorm (seed audit #3): statistics are per sample, so batch size 1 in train
mode works and a sample's output never depends on the rest of its batch. H and W must be
multiples of :data:`TOKEN_STRIDE` (the model pads).
"""

from __future__ import annotations

import math

import torch
from torch import nn

TOKEN_STRIDE = 8
_MAX_GROUPS = 8
# sRGB in [0, 1] centred and scaled to roughly unit variance.
_INPUT_MEAN = 0.45
_INPUT_STD = 0.25


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with the largest group count <= 8 that divides ``channels``."""
    return nn.GroupNorm(math.gcd(_MAX_GROUPS, channels), channels)


class ConvStem(nn.Module):
    def __init__(self, skip_dim: int, dim: int) -> None:
        super().__init__()
        half = max(skip_dim // 2, 8)
        self.to_skip = nn.Sequential(
            nn.Conv2d(3, half, 3, stride=2, padding=1), group_norm(half), nn.GELU(),
            nn.Conv2d(half, skip_dim, 3, stride=2, padding=1), group_norm(skip_dim), nn.GELU(),
        )
        self.to_tokens = nn.Sequential(nn.Conv2d(skip_dim, dim, 2, stride=2), group_norm(dim))

    def forward(self, srgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``srgb`` (B, 3, H, W) -> skip (B, Cs, H/4, W/4), tokens (B, C, H/8, W/8)."""
        skip = self.to_skip((srgb - _INPUT_MEAN) / _INPUT_STD)
        return skip, self.to_tokens(skip)
