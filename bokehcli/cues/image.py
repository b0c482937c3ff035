"""The photo at cue working size.

``CueImage.rgb`` is (h, w, 3) uint8 sRGB with long side ``CUE_LONG_SIDE_PX`` (never upscaled),
area-resampled so that blur measured on it is the photo's blur times ``scale``. Boxes are
``(x0, y0, x1, y1)`` with exclusive ends, in cue pixels unless converted.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

CUE_LONG_SIDE_PX = 640

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class CueImage:
    rgb: np.ndarray          # (h, w, 3) uint8 sRGB
    scale: float             # cue pixels per photo pixel (<= 1)
    photo_hw: tuple[int, int]

    @property
    def hw(self) -> tuple[int, int]:
        return self.rgb.shape[0], self.rgb.shape[1]

    @property
    def gray(self) -> np.ndarray:
        """(h, w) float32 luma in [0, 1]."""
        return cv2.cvtColor(self.rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0

    def to_cue(self, box: Box) -> Box:
        return tuple(v * self.scale for v in box)  # type: ignore[return-value]

    def to_photo(self, box: Box) -> Box:
        return tuple(v / self.scale for v in box)  # type: ignore[return-value]


def cue_image(srgb: np.ndarray, long_side_px: int = CUE_LONG_SIDE_PX) -> CueImage:
    """``srgb`` (H, W, 3) float in [0, 1] or uint8 -> the photo at cue size."""
    height, width = srgb.shape[:2]
    scale = min(1.0, long_side_px / max(height, width))
    small = srgb
    if scale < 1.0:
        # resized first, in the photo's own type: converting all 24 million pixels to 8 bits
        # first would cost more than the resize itself
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = cv2.resize(srgb, size, interpolation=cv2.INTER_AREA)
        scale = small.shape[1] / width
    rgb = small if small.dtype == np.uint8 else np.clip(np.rint(small * 255.0), 0, 255).astype(np.uint8)
    return CueImage(np.ascontiguousarray(rgb), scale, (height, width))


def clip_box(box: Box, hw: tuple[int, int]) -> Box:
    """``box`` clipped to an image of size ``hw``, at least one pixel wide and high."""
    height, width = hw
    x0, y0 = min(max(box[0], 0.0), width - 1.0), min(max(box[1], 0.0), height - 1.0)
    x1, y1 = min(max(box[2], x0 + 1.0), float(width)), min(max(box[3], y0 + 1.0), float(height))
    return x0, y0, x1, y1


def box_centre(box: Box) -> tuple[float, float]:
    return (box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0
