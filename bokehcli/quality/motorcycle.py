"""Middlebury 2014 "Motorcycle": a real photo with measured depth, rendered with and without it.

scikit-image ships the scene (``skimage.data.stereo_motorcycle()``: left and right views
downsampled 4x to 741x500, and the left view's disparity; unknown disparity is NaN or inf).
With the calibration in its docstring (focal length 994.978 px, baseline 193.001 mm, principal
point offset between the views 31.086 px) the true depth is

    depth_mm = 994.978 * 193.001 / (disparity + 31.086)      (about 2.1 to 5.0 m here)

The left view is written as a JPEG (quality 95) with EXIF FocalLength 85 mm,
FocalLengthIn35mmFilm 85 (a full-frame portrait lens), SubjectDistance = the median true depth
over the fuel tank and SubjectArea = that tank rectangle; no FNumber (the capture aperture is not
recorded). It is then rendered by the protocol of ``protocol`` (f/1.8, crop factor 1, 85 mm):

- the reference: with the true depth (``--depth``, unknown pixels filled from the nearest known);
- each variant (``default``: no depth given; ``trivial``; ``focus-at`` the tank's centre),
  saving the depth it used.

Scores, in sRGB-encoded floats in [0, 1] over all pixels and channels:
``error removed = 1 - RMSE(render, reference) / RMSE(input, reference)`` (1: the reference
itself; 0: no better than not rendering). The variant's depth against the truth over pixels of
known true depth: its inverse depth is aligned by least squares, ``s / d + t ~ 1 / d*`` (scale
and shift, as monocular depth is judged), the aligned depth clipped to the true depth's range (a
negative aligned inverse depth counts as the farthest depth, as benchmarks cap depth); then
``delta1`` = share of pixels with ``max(d / d*, d* / d) < 1.25`` and ``AbsRel`` = mean ``|d - d*| / d*``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..data.synth import write_jpeg
from ..depthio import fill_unknown_depth
from ..imageio import load_photo
from ..naming import depth_output_paths
from ..lens import read_lens
from ..ops.color import srgb_to_linear
from ..lens.policy import focal_35mm
from .protocol import render, render_variant

CALIBRATION_FOCAL_PX = 994.978
BASELINE_MM = 193.001
DOFFS_PX = 31.086
FOCAL_MM = 85.0
# The red fuel tank in the 741x500 left view: centre x, centre y, width, height in pixels
# (located by eye; the rectangle lies on the tank's side panel, no background in it).
TANK_AREA_PX = (400, 205, 89, 50)
DELTA1_THRESHOLD = 1.25
PHOTO_NAME = "motorcycle.jpg"


def true_depth_m(disparity: np.ndarray) -> np.ndarray:
    """(H, W) disparity in pixels -> float32 (H, W) metres, NaN where the disparity is unknown."""
    disparity = np.asarray(disparity, dtype=np.float64)
    known = np.isfinite(disparity)
    depth_mm = CALIBRATION_FOCAL_PX * BASELINE_MM / np.where(known, disparity + DOFFS_PX, np.nan)
    return (depth_mm / 1000.0).astype(np.float32)


def tank_slices() -> tuple[slice, slice]:
    cx, cy, w, h = TANK_AREA_PX
    return slice(cy - h // 2, cy + h // 2 + 1), slice(cx - w // 2, cx + w // 2 + 1)


@dataclass(frozen=True)
class MotorcyclePhoto:
    path: Path
    depth_m: np.ndarray   # float32 (H, W), NaN unknown
    focus_m: float        # the SubjectDistance written


def write_motorcycle(folder: Path) -> MotorcyclePhoto:
    """Write the left view with its lens EXIF into ``folder``; return it with its true depth."""
    import skimage.data  # only this check needs it

    left, _, disparity = skimage.data.stereo_motorcycle()
    depth_m = true_depth_m(disparity)
    focus_m = float(np.nanmedian(depth_m[tank_slices()]))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / PHOTO_NAME
    rgb_lin = srgb_to_linear(torch.from_numpy(np.ascontiguousarray(left)).permute(2, 0, 1).float() / 255.0)
    write_jpeg(path, rgb_lin, FOCAL_MM, None, focus_m, subject_area_px=TANK_AREA_PX)
    return MotorcyclePhoto(path, depth_m, focus_m)


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)))


def error_removed(srgb_in: np.ndarray, srgb_render: np.ndarray, srgb_reference: np.ndarray) -> float:
    """1 - RMSE(render, reference) / RMSE(input, reference)."""
    return 1.0 - rmse(srgb_render, srgb_reference) / rmse(srgb_in, srgb_reference)


def depth_quality(depth_m: np.ndarray, true_m: np.ndarray) -> dict:
    """delta1 and AbsRel of ``depth_m`` after scale-and-shift alignment of its inverse depth to
    the truth's, over pixels where both are known (finite, > 0). Both (H, W) metres."""
    valid = np.isfinite(true_m) & (true_m > 0) & np.isfinite(depth_m) & (depth_m > 0)
    inv_pred = 1.0 / depth_m[valid].astype(np.float64)
    truth = true_m[valid].astype(np.float64)
    design = np.stack([inv_pred, np.ones_like(inv_pred)], axis=1)
    (scale, shift), *_ = np.linalg.lstsq(design, 1.0 / truth, rcond=None)
    aligned_inv = scale * inv_pred + shift
    with np.errstate(divide="ignore"):
        aligned = np.where(aligned_inv > 0, 1.0 / aligned_inv, math.inf)
    aligned = np.clip(aligned, truth.min(), truth.max())
    ratio = np.maximum(aligned / truth, truth / aligned)
    return {"delta1": float(np.mean(ratio < DELTA1_THRESHOLD)), "abs_rel": float(np.mean(np.abs(aligned - truth) / truth)),
            "scale": float(scale), "shift_per_m": float(shift), "pixels": int(valid.sum())}


def run_motorcycle(work_dir: Path, variants: list[str],
                   progress: Callable[[str], None] = lambda line: None, model: str | None = None) -> dict:
    """The reference render and each variant's scores: ``{"focus_m", "reference_seconds",
    "variants": {name: {"error_removed", "delta1", "abs_rel", ...}}}``."""
    photo = write_motorcycle(work_dir / "inputs")
    info = read_lens(photo.path)
    srgb_in = load_photo(photo.path).srgb
    height, width = srgb_in.shape[:2]
    reference = render(photo.path, work_dir / "truth", focal_35mm(info),
                       depth_m=fill_unknown_depth(photo.depth_m, "Motorcycle disparity"))
    srgb_ref = load_photo(reference.output).srgb
    out = {"focus_m": round(photo.focus_m, 4), "size": [width, height], "tank_area_px": list(TANK_AREA_PX),
           "focal_35mm": focal_35mm(info).value, "reference_seconds": round(reference.seconds, 2), "variants": {}}
    progress(f"motorcycle: reference render with the true depth ({reference.seconds:.1f} s)")
    for variant in variants:
        out_dir = work_dir / variant
        result = render_variant(variant, photo.path, out_dir, info, (width, height),
                                subject_xy=(TANK_AREA_PX[0], TANK_AREA_PX[1]), save_depth=True, model=model)
        used_depth_m = np.load(depth_output_paths(out_dir, photo.path.stem)[0])
        scores = {"error_removed": error_removed(srgb_in, load_photo(result.output).srgb, srgb_ref),
                  **depth_quality(used_depth_m, photo.depth_m),
                  "render_focus_m": result.focus_m if math.isfinite(result.focus_m) else None,
                  "seconds": round(result.seconds, 2)}
        out["variants"][variant] = scores
        progress(f"motorcycle: {variant}: error removed {scores['error_removed']:.0%}, delta1 {scores['delta1']:.2f}")
    return out
