"""Output heads: bounded inverse depth, the stride-4 decoder, the in-focus refinement gate."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .stem import ChannelNorm

# Below this |CoC| (px) a pixel is in focus and keeps exactly the thin-lens render; the
# refinement fades in linearly over the next REFINE_RAMP_PX.
SHARP_COC_PX = 1.0
REFINE_RAMP_PX = 2.0


def bounded_inverse_depth(logit: torch.Tensor, min_depth_m: float, max_depth_m: float) -> torch.Tensor:
    """Inverse depth (1/m) in ``[1/max_depth_m, 1/min_depth_m]`` from an unbounded logit.

    Interpolates in log inverse depth, ``log(1/D) = lo + (hi - lo) sigmoid(logit)``, so every
    decade of depth gets the same share of the logit range and neither the output nor the CoC
    (linear in ``1/D``) can leave its bounds (seed audit #7: no unbounded softplus depth).
    """
    lo, hi = -math.log(max_depth_m), -math.log(min_depth_m)
    return torch.exp(lo + (hi - lo) * torch.sigmoid(logit))


def refinement_gate(coc_px: torch.Tensor) -> torch.Tensor:
    """Weight of the learned refinement: exactly 0 where ``|coc_px| <= SHARP_COC_PX``, 1 beyond
    ``SHARP_COC_PX + REFINE_RAMP_PX``, linear between (so in-focus regions stay sharp)."""
    return ((coc_px.abs() - SHARP_COC_PX) / REFINE_RAMP_PX).clamp(0.0, 1.0)


class UpHead(nn.Module):
    """Tokens (B, C, h, w) at stride 8 + skip (B, Cs, 2h, 2w) at stride 4 -> (B, out, 2h, 2w).

    Upsample the tokens x2, concatenate the stem features (edges), 3x3 conv, per-pixel channel
    norm (tiles agree with the whole image), GELU, 1x1 conv.
    ``zero_init`` starts the output at 0 (used by the refinement so training starts from pure
    thin-lens physics).
    """

    def __init__(self, dim: int, skip_dim: int, hidden: int, out_channels: int, zero_init: bool = False) -> None:
        super().__init__()
        self.fuse = nn.Sequential(
            nn.Conv2d(dim + skip_dim, hidden, 3, padding=1), ChannelNorm(hidden), nn.GELU()
        )
        self.proj = nn.Conv2d(hidden, out_channels, 1)
        if zero_init:
            nn.init.zeros_(self.proj.weight)
            nn.init.zeros_(self.proj.bias)

    def forward(self, tokens: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(tokens, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.proj(self.fuse(torch.cat([up, skip], dim=1)))
