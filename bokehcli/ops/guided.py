"""Edge-aware upsampling: the fast guided filter (He & Sun, 2015), and the luminance it is guided by.

A low-resolution map ``p`` (B, C, h, w) is upsampled to the size of a guide ``I`` (B, 1, H, W) by
fitting, in every (2r+1)^2 window at low resolution, the local affine model

    p ~ a * I_low + b,   a = cov(I_low, p) / (var(I_low) + eps),   b = mean(p) - a * mean(I_low)

(``I_low`` is ``I`` area-averaged to (h, w)); ``a`` and ``b`` are box-smoothed, bilinearly upsampled
and applied to the full-resolution guide: ``q = up(a) * I + up(b)``. Edges of ``q`` follow edges of
``I``; in flat windows (``var < eps``) ``q`` is the smoothed ``p``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

GUIDE_RADIUS = 2
GUIDE_EPS = 1e-3
# Rec. 601 luma weights of the sRGB values: edges as the eye sees them in the stored photo.
_LUMA = (0.299, 0.587, 0.114)


def luminance(srgb: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 1, H, W) Rec. 601 luma of the sRGB values (edges as seen)."""
    weights = torch.tensor(_LUMA, dtype=srgb.dtype, device=srgb.device).view(1, 3, 1, 1)
    return (srgb * weights).sum(dim=1, keepdim=True)


def guided_upsample(src: torch.Tensor, guide: torch.Tensor, radius: int = GUIDE_RADIUS,
                    eps: float = GUIDE_EPS) -> torch.Tensor:
    """Fast guided-filter upsampling: ``src`` (B, C, h, w), ``guide`` (B, 1, H, W) -> (B, C, H, W).

    See the module docstring; ``eps`` is the guide variance below which windows count as flat.
    """
    size = src.shape[-2:]
    # Centred values: the window covariances below subtract products of means, which loses
    # precision in float32 when the means are large.
    src_mean = src.mean(dim=(-2, -1), keepdim=True)
    guide_mean = guide.mean(dim=(-2, -1), keepdim=True)
    src, guide = src - src_mean, guide - guide_mean
    guide_low = F.adaptive_avg_pool2d(guide, size)

    def box(x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, 2 * radius + 1, stride=1, padding=radius, count_include_pad=False)

    mean_i, mean_p = box(guide_low), box(src)
    cov = box(guide_low * src) - mean_i * mean_p
    var = box(guide_low * guide_low) - mean_i * mean_i
    a = cov / (var + eps)
    b = mean_p - a * mean_i

    def up(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(box(x), size=guide.shape[-2:], mode="bilinear", align_corners=False)

    return up(a) * guide + up(b) + src_mean
