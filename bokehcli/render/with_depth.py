"""One path from a depth map to the finished render: thin-lens CoC, the layered renderer, and the
network's refinement where one is given. `bokeh render`, the tiled network inference and `bokeh
eval` all render through :func:`render_with_depth`.

    coc_px  = thin-lens CoC of the inverse depth (bokehcli.optics), full-resolution pixel pitch
    linear  = render_bokeh_tiled(srgb_to_linear(srgb), coc_px) + gate(coc_px) * refine_lin

``gate`` is exactly 0 where ``|coc_px| <= SHARP_COC_PX`` and rises linearly to 1 over the next
``REFINE_RAMP_PX``: in-focus pixels keep the thin-lens render exactly (a learned residual must
never soften the subject).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ..memory import heap_reuse
from ..ops.color import srgb_to_linear
from ..optics import Lens
from ..timing import NO_STAGES
from .layered import render_bokeh_tiled

SHARP_COC_PX = 1.0
REFINE_RAMP_PX = 2.0
RENDER_TILE_PX = 1024


@dataclass
class Rendered:
    linear: torch.Tensor   # (1, 3, H, W) linear RGB, not clamped
    coc_px: torch.Tensor   # (1, 1, H, W) signed CoC diameter

    @property
    def max_blur_px(self) -> float:
        return float(self.coc_px.abs().max())


def refinement_gate(coc_px: torch.Tensor) -> torch.Tensor:
    """Weight of the learned refinement: 0 where ``|coc_px| <= SHARP_COC_PX``, 1 beyond
    ``SHARP_COC_PX + REFINE_RAMP_PX``, linear between."""
    return ((coc_px.abs() - SHARP_COC_PX) / REFINE_RAMP_PX).clamp(0.0, 1.0)


def apply_refinement(rendered_lin: torch.Tensor, coc_px: torch.Tensor, refine_lin: torch.Tensor) -> torch.Tensor:
    """Thin-lens render plus the learned refinement where out of focus: (B, 3, H, W) linear RGB
    (not clamped; the sRGB encoding of the caller clamps)."""
    return rendered_lin + refinement_gate(coc_px) * refine_lin


def render_with_depth(srgb: torch.Tensor, inv_depth: torch.Tensor, lens: Lens, *, blades: int = 0,
                      rotation_deg: float = 0.0, highlight_boost: float | None = None,
                      refine_lin: torch.Tensor | None = None, tile_px: int = RENDER_TILE_PX,
                      progress: Callable[[int], None] | None = None, stages=NO_STAGES) -> Rendered:
    """``srgb`` (1, 3, H, W) in [0, 1], ``inv_depth`` (1, 1, H, W) in 1/m -> :class:`Rendered`.

    The pixel pitch is that of the whole ``H x W`` frame (``lens.sensor_diag_mm`` spans it)."""
    height, width = srgb.shape[-2:]
    with stages("coc"):
        coc_px = lens.coc_px_from_inverse_depth(inv_depth, width, height)
    with stages("render"), heap_reuse():  # full-frame temporaries reuse freed memory (bokehcli.memory)
        linear = render_bokeh_tiled(srgb_to_linear(srgb), coc_px, tile_px, blades, rotation_deg, highlight_boost,
                                    progress, fit_to_blur=True)
        if refine_lin is not None:
            linear = apply_refinement(linear, coc_px, refine_lin)
    return Rendered(linear, coc_px)
