"""Output heads: bounded inverse depth and the stride-4 decoder (the refinement's gate is part of
the render: bokehcli.render.with_depth)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .stem import ChannelNorm


def bounded_inverse_depth(logit: torch.Tensor, min_depth_m: float, max_depth_m: float) -> torch.Tensor:
    """Inverse depth (1/m) in ``[1/max_depth_m, 1/min_depth_m]`` from an unbounded logit.

    Interpolates in log inverse depth, ``log(1/D) = lo + (hi - lo) sigmoid(logit)``, so every
    decade of depth gets the same share of the logit range and neither the output nor the CoC
    (linear in ``1/D``) can leave its bounds (an unbounded softplus depth would give an unbounded CoC).
    """
    lo, hi = -math.log(max_depth_m), -math.log(min_depth_m)
    return torch.exp(lo + (hi - lo) * torch.sigmoid(logit))


# How far inside its bounds a given inverse depth is kept before it is turned back into a logit
# (the logit of the bounds themselves is infinite).
_LOGIT_MARGIN = 1e-4


def inverse_depth_logit(inv_depth: torch.Tensor, min_depth_m: float, max_depth_m: float) -> torch.Tensor:
    """The logit that :func:`bounded_inverse_depth` maps to ``inv_depth`` (1/m), which is first
    clamped to just inside the bounds: ``logit = log(u / (1 - u))``, ``u = (log(1/D) - lo) / (hi - lo)``."""
    lo, hi = -math.log(max_depth_m), -math.log(min_depth_m)
    u = ((torch.log(inv_depth.clamp_min(1e-30)) - lo) / (hi - lo)).clamp(_LOGIT_MARGIN, 1.0 - _LOGIT_MARGIN)
    return torch.log(u) - torch.log1p(-u)


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
