"""A depth map a person can look at: ``<stem>_depth_preview.jpg`` beside the maps `--save-depth`
writes.

Inverse depth is colour-mapped (turbo: near is red, far is blue, the sky and anything at infinity
the darkest blue), normalised between the 1st and 99th percentiles so that one stray pixel does
not flatten the map. The focus plane is drawn as a white line where inverse depth crosses
``1 / focus_m``, and the focus point as a white cross. A region lying on the focus plane itself
(the subject of a cue depth map is exactly there) counts as not behind it: the line runs around
it where what lies behind begins, rather than through every pixel whose depth rounds to either
side of the focus distance.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from .files import atomic_path

PREVIEW_QUALITY = 90
# Relative difference in inverse depth below which a pixel lies on the focus plane: well under
# any depth of field a render shows (float32 depth maps round at about 1e-7), far above rounding.
ON_FOCUS_PLANE = 1e-3


def depth_preview(depth_m: np.ndarray, focus_m: float, focus_xy: tuple[float, float] | None) -> np.ndarray:
    """(H, W) metres -> (H, W, 3) uint8 RGB preview."""
    inv = np.where(np.isfinite(depth_m) & (depth_m > 0), 1.0 / np.maximum(depth_m, 1e-9), 0.0).astype(np.float32)
    lo, hi = np.percentile(inv, (1, 99))
    scaled = np.clip((inv - lo) / max(hi - lo, 1e-9), 0, 1)
    rgb = cv2.cvtColor(cv2.applyColorMap((scaled * 255).astype(np.uint8), cv2.COLORMAP_TURBO), cv2.COLOR_BGR2RGB)
    focus_inv = 0.0 if math.isinf(focus_m) else 1.0 / focus_m
    behind = (inv < focus_inv * (1.0 - ON_FOCUS_PLANE)).astype(np.uint8)
    thickness = max(1, round(max(depth_m.shape) / 600))
    kernel = np.ones((2 * thickness + 1,) * 2, np.uint8)
    rgb[cv2.dilate(behind, kernel) != cv2.erode(behind, kernel)] = 255
    if focus_xy is not None:
        size = max(6, max(depth_m.shape) // 60)
        x, y = (int(round(v)) for v in focus_xy)
        cv2.line(rgb, (x - size, y), (x + size, y), (255, 255, 255), thickness + 1)
        cv2.line(rgb, (x, y - size), (x, y + size), (255, 255, 255), thickness + 1)
    return rgb


def write_depth_preview(path: Path, depth_m: np.ndarray, focus_m: float, focus_xy: tuple[float, float] | None) -> None:
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(depth_preview(depth_m, focus_m, focus_xy)).save(tmp, format="JPEG", quality=PREVIEW_QUALITY)
