"""The cues as image channels: what a BokehFlow model with ``cue_channels`` takes beside the photo.

Channels, each (H, W) float32 at the photo's (or crop's) size, in ``CUE_CHANNELS`` order:

- ``focus``: where the render focuses, a Gaussian bump ``exp(-r^2 / 2 s^2)`` around the focus
  target's centre, ``s`` half the target's size (at least ``MIN_FOCUS_SIGMA_FRACTION`` of the long
  side): the network knows which object the camera meant;
- ``matte``: the subject matte (:mod:`.subject`), 1 on the subject;
- ``defocus``: the blur already in the photo (:mod:`.defocus`), ``sigma / MAX_SIGMA_PX`` in [0, 1];
- ``defocus_confidence``: how much edge evidence that blur rests on, [0, 1];
- ``layout``: the layout prior (:mod:`.layout`), relative inverse depth ``S1 / D`` of sky and
  ground, clipped to [0, 1];
- ``relative_inv_depth``: the cues combined (:mod:`.depth`), ``S1 / D`` clipped to [0, 1]; a model
  with cue channels predicts its depth as a correction of this map (see ``BokehFlow.network``).
  (The cues read the ground in front of the subject up to ``b = 2``; the maps stop at the focus
  plane, as they did when the shipped cue weights were trained.)

The maps are made at cue size and resized bilinearly; cue maps of a photo and of any crop of it
agree because the crop is cut from the photo's maps, never computed on the crop.
"""

from __future__ import annotations

import cv2
import numpy as np

from .defocus import MAX_SIGMA_PX
from .depth import PhotoCues

CUE_CHANNELS = ("focus", "matte", "defocus", "defocus_confidence", "layout", "relative_inv_depth")
MIN_FOCUS_SIGMA_FRACTION = 0.02


def focus_heat_map(hw: tuple[int, int], box: tuple[float, float, float, float]) -> np.ndarray:
    """(h, w) Gaussian bump around ``box``'s centre (cue pixels)."""
    height, width = hw
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    sigma = max((box[2] - box[0]) / 2, (box[3] - box[1]) / 2, MIN_FOCUS_SIGMA_FRACTION * max(hw))
    ys = (np.arange(height, dtype=np.float32) + 0.5 - cy) ** 2
    xs = (np.arange(width, dtype=np.float32) + 0.5 - cx) ** 2
    return np.exp(-(ys[:, None] + xs[None, :]) / (2.0 * sigma * sigma)).astype(np.float32)


def cue_maps(cues: PhotoCues, size_hw: tuple[int, int]) -> np.ndarray:
    """(len(CUE_CHANNELS), H, W) float32 in [0, 1] at ``size_hw``."""
    hw = cues.matte.shape
    planes = [focus_heat_map(hw, cues.target.box), cues.matte,
              cues.defocus.sigma_px / MAX_SIGMA_PX, cues.defocus.confidence,
              cues.layout_inv_depth, np.clip(cues.relative_inv_depth, 0.0, 1.0)]
    return np.clip(resize_maps(np.stack(planes), size_hw), 0.0, 1.0)


def resize_maps(maps: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """(K, h, w) maps of any float type -> (K, H, W) float32 at ``size_hw``, bilinear."""
    height, width = size_hw
    return np.stack([cv2.resize(np.ascontiguousarray(plane, dtype=np.float32), (width, height),
                                interpolation=cv2.INTER_LINEAR) for plane in maps])
