"""ConvStem: photo -> features at stride 4 -> tokens at stride 8.

    srgb (B, 3, H, W) in [0, 1] (+ K cue maps (B, K, H, W) in [0, 1], concatenated)
      -> conv3x3/2 -> CN -> GELU -> conv3x3/2 -> CN -> GELU      skip features (B, Cs, H/4, W/4)
      -> conv2x2/2 -> CN                                        tokens (B, C, H/8, W/8)

CN is :class:`ChannelNorm`, not BatchNorm (docs/design.md#per-sample-normalisation-in-the-stem): statistics are per sample, so batch
size 1 in train mode works and a sample's output never depends on the rest of its batch. The
audit's GroupNorm would also pass, but its statistics span the whole image, so a tile would be
normalised differently from the same pixels in the whole photo; per-pixel statistics keep tiled
inference (TSP) consistent with whole-image inference. H and W must be multiples of
:data:`TOKEN_STRIDE` (the model pads).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

TOKEN_STRIDE = 8
# sRGB in [0, 1] centred and scaled to roughly unit variance.
_INPUT_MEAN = 0.45
_INPUT_STD = 0.25


class ChannelNorm(nn.Module):
    """Layer norm over the channels of every pixel: (B, C, H, W) -> (B, C, H, W).

    ``y = (x - mean_c x) / sqrt(var_c x + eps) * weight + bias``, with mean and variance over C
    at each (b, h, w), so the output at a pixel depends on that pixel only.
    """

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x.movedim(1, -1), self.weight.shape, self.weight, self.bias, self.eps).movedim(-1, 1)


class ConvStem(nn.Module):
    def __init__(self, skip_dim: int, dim: int, cue_channels: int = 0) -> None:
        super().__init__()
        half = max(skip_dim // 2, 8)
        self.cue_channels = cue_channels
        self.to_skip = nn.Sequential(
            nn.Conv2d(3 + cue_channels, half, 3, stride=2, padding=1), ChannelNorm(half), nn.GELU(),
            nn.Conv2d(half, skip_dim, 3, stride=2, padding=1), ChannelNorm(skip_dim), nn.GELU(),
        )
        self.to_tokens = nn.Sequential(nn.Conv2d(skip_dim, dim, 2, stride=2), ChannelNorm(dim))

    def forward(self, srgb: torch.Tensor, cues: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``srgb`` (B, 3, H, W), ``cues`` (B, K, H, W) when built with K cue channels ->
        skip (B, Cs, H/4, W/4), tokens (B, C, H/8, W/8)."""
        x = (srgb - _INPUT_MEAN) / _INPUT_STD
        if self.cue_channels:
            if cues is None or cues.shape[1] != self.cue_channels:
                got = "none" if cues is None else str(cues.shape[1])
                raise ValueError(f"this model takes {self.cue_channels} cue maps beside the photo, got {got}")
            x = torch.cat([x, cues * 2.0 - 1.0], dim=1)   # maps in [0, 1] centred like the photo
        skip = self.to_skip(x)
        return skip, self.to_tokens(skip)
