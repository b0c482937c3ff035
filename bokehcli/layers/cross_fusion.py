"""Cross-fusion of the depth and bokeh streams (after every stage of ``fusion_every`` blocks)."""

from __future__ import annotations

import torch
from torch import nn


class CrossFusion(nn.Module):
    """Each stream adds a projection of the other's normalised tokens (both from the inputs):

        d' = d + W_bd LN(b),   b' = b + W_db LN(d)           d, b: (B, L, C)
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.depth_norm, self.bokeh_norm = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.to_depth, self.to_bokeh = nn.Linear(dim, dim), nn.Linear(dim, dim)
        for proj in (self.to_depth, self.to_bokeh):
            nn.init.normal_(proj.weight, std=0.02)
            nn.init.zeros_(proj.bias)

    def forward(self, depth: torch.Tensor, bokeh: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return (depth + self.to_depth(self.bokeh_norm(bokeh)),
                bokeh + self.to_bokeh(self.depth_norm(depth)))
