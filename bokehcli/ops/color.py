"""sRGB transfer functions (IEC 61966-2-1), differentiable.

    linear = v / 12.92                        for v <= 0.04045
           = ((v + 0.055) / 1.055) ** 2.4     otherwise

and the exact inverse. Shapes are preserved; values outside [0, 1] are clamped first.
"""

from __future__ import annotations

from typing import Callable

import torch

_V_KNEE = 0.04045
_L_KNEE = 0.0031308
# Large tensors without autograd are converted in slices of about this many elements into one
# output buffer: the temporaries stay in cache instead of costing fresh pages (~10x at 24 MP).
_SLICE_ELEMENTS = 1 << 18


def _srgb_to_linear(v: torch.Tensor) -> torch.Tensor:
    v = v.clamp(0.0, 1.0)
    return torch.where(v <= _V_KNEE, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    x = x.clamp(0.0, 1.0)
    # clamp_min keeps the unused branch of torch.where free of inf gradients at 0.
    return torch.where(x <= _L_KNEE, x * 12.92, 1.055 * x.clamp_min(_L_KNEE) ** (1 / 2.4) - 0.055)


def _sliced(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    if x.numel() <= _SLICE_ELEMENTS or (torch.is_grad_enabled() and x.requires_grad):
        return fn(x)
    flat = x.reshape(-1)
    out = torch.empty_like(flat)
    for start in range(0, flat.numel(), _SLICE_ELEMENTS):
        out[start:start + _SLICE_ELEMENTS] = fn(flat[start:start + _SLICE_ELEMENTS])
    return out.view(x.shape)


def srgb_to_linear(v: torch.Tensor) -> torch.Tensor:
    return _sliced(_srgb_to_linear, v)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    return _sliced(_linear_to_srgb, x)
