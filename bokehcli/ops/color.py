"""sRGB transfer functions (IEC 61966-2-1), differentiable.

    linear = v / 12.92                        for v <= 0.04045
           = ((v + 0.055) / 1.055) ** 2.4     otherwise

and the exact inverse. Shapes are preserved; values outside [0, 1] are clamped first.
"""

from __future__ import annotations

import torch

_V_KNEE = 0.04045
_L_KNEE = 0.0031308


def srgb_to_linear(v: torch.Tensor) -> torch.Tensor:
    v = v.clamp(0.0, 1.0)
    return torch.where(v <= _V_KNEE, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    x = x.clamp(0.0, 1.0)
    # clamp_min keeps the unused branch of torch.where free of inf gradients at 0.
    return torch.where(x <= _L_KNEE, x * 12.92, 1.055 * x.clamp_min(_L_KNEE) ** (1 / 2.4) - 0.055)
