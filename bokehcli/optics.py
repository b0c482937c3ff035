"""Thin-lens optics (docs/optics.md): signed circle of confusion and sensor geometry.

Symbols: focal length ``f`` (mm), f-number ``N``, focus distance ``S1`` (m), scene depth ``D`` (m),
aperture diameter ``A = f / N`` (mm). The signed CoC diameter on the sensor is

    c_mm(D) = A * f / (S1 - f) * (D - S1) / D
            = A * f * S1 / (S1 - f) * (1/S1 - 1/D)          (linear in inverse depth)

positive behind the focus plane, negative in front of it, exactly 0 at ``D = S1``. We evaluate
the inverse-depth form with everything in mm, written so that ``S1 = inf`` (``1/S1 = 0``) is exact:

    c_mm = A * f * (1/S1 - 1/D) / (1 - f/S1)

and convert to pixels with ``pixel_pitch_mm = sensor_diag_mm / hypot(W, H)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Union

import torch

FULL_FRAME_DIAGONAL_MM = 43.27
# f-numbers any lens can have: N = 1 / (2 NA) and a lens in air has NA < 1, so N > 0.5; pinhole
# cameras reach several hundred. Both the f-number read from a file and the one asked for on the
# command line must lie here.
F_NUMBER_RANGE = (0.5, 1024.0)
# Clamp the focus distance to at least 1.01 f, with f detached, so neither the
# clamp nor the 1/(S1 - f) pole produces NaN/inf gradients when f is learnable.
MIN_FOCUS_OVER_FOCAL = 1.01

Number = Union[float, torch.Tensor]


def nearest_focus_m(focal_mm: Number) -> Number:
    """The nearest focus distance the thin-lens guard allows (``MIN_FOCUS_OVER_FOCAL`` f), in m."""
    return MIN_FOCUS_OVER_FOCAL * focal_mm / 1000.0


def sensor_diag_mm_for_crop(crop_factor: float) -> float:
    """Sensor diagonal from the crop factor (full frame = 43.27 mm)."""
    if not crop_factor > 0:
        raise ValueError(f"crop factor must be positive, got {crop_factor}")
    return FULL_FRAME_DIAGONAL_MM / crop_factor


# The acceptable circle of confusion of depth-of-field scales: the sensor diagonal over 1500
# (0.029 mm on full frame).
ACCEPTABLE_COC_FRACTION = 1 / 1500


def hyperfocal_m(focal_mm: float, f_number: float, sensor_diag_mm: float) -> float:
    """Hyperfocal distance ``H = f^2 / (N c) + f`` (m), ``c = sensor_diag_mm / 1500``: focused at
    H, everything from H/2 to infinity is acceptably sharp; a camera that reports focus at
    infinity is focused at least this far."""
    coc_mm = sensor_diag_mm * ACCEPTABLE_COC_FRACTION
    return (focal_mm ** 2 / (f_number * coc_mm) + focal_mm) / 1000.0


def pixel_pitch_mm(sensor_diag_mm: float, width_px: int, height_px: int) -> float:
    """Size of one pixel on the sensor for an image of ``width_px`` x ``height_px``."""
    return sensor_diag_mm / math.hypot(width_px, height_px)


def _as_tensor(x: Number, like: torch.Tensor) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.to(dtype=like.dtype, device=like.device)
    return torch.tensor(float(x), dtype=like.dtype, device=like.device)


def coc_mm_from_inverse_depth(
    inv_depth_per_m: torch.Tensor, focal_mm: Number, f_number: Number, focus_m: Number
) -> torch.Tensor:
    """Signed CoC diameter (mm on the sensor) from inverse depth ``1/D`` in 1/m.

    ``focus_m`` may be ``inf``. Scalars or tensors broadcastable against ``inv_depth_per_m``
    (e.g. shape ``(B, 1, 1, 1)`` against ``(B, 1, H, W)``). Differentiable in every argument.
    """
    f = _as_tensor(focal_mm, inv_depth_per_m)
    n = _as_tensor(f_number, inv_depth_per_m)
    s1 = _as_tensor(focus_m, inv_depth_per_m)
    # 1/S1 in 1/m, capped so S1 >= 1.01 f; f detached inside the guard (docs/optics.md#the-focus-guard). The
    # difference is taken in 1/m, where 1/D and 1/S1 of the same distance are the same float: the
    # CoC is exactly 0 on the focus plane (in 1/mm the two would be rounded differently).
    inv_s1_per_m = torch.minimum(1.0 / s1, 1.0 / nearest_focus_m(f.detach()))
    aperture_mm = f / n
    return aperture_mm * f * ((inv_s1_per_m - inv_depth_per_m) / 1000.0) / (1.0 - f * inv_s1_per_m / 1000.0)


def coc_mm(depth_m: torch.Tensor, focal_mm: Number, f_number: Number, focus_m: Number) -> torch.Tensor:
    """Signed CoC diameter (mm on the sensor) at depth ``depth_m`` (metres, may be ``inf``)."""
    return coc_mm_from_inverse_depth(1.0 / depth_m, focal_mm, f_number, focus_m)


def coc_px(
    depth_m: torch.Tensor,
    focal_mm: Number,
    f_number: Number,
    focus_m: Number,
    sensor_diag_mm: float,
    width_px: int,
    height_px: int,
) -> torch.Tensor:
    """Signed CoC diameter in pixels of a ``width_px`` x ``height_px`` image."""
    pitch = pixel_pitch_mm(sensor_diag_mm, width_px, height_px)
    return coc_mm(depth_m, focal_mm, f_number, focus_m) / pitch


def residual_f_number(target_f_number: float, source_f_number: float) -> float:
    """The f-number whose blur, added to a photo taken at ``source_f_number``, gives the blur of
    ``target_f_number`` (same focal length, focus and depth): ``math.inf`` (add nothing) when the
    target aperture is not wider than the source's.

    At one depth the CoC is proportional to ``1/N``. Blurs compose by convolution, under which
    second moments add; a disc of diameter ``c`` has ``c^2 / 16`` per axis, so the missing disc
    ``c_r`` satisfies ``c_t^2 = c_s^2 + c_r^2`` (exact for Gaussians, to the second moment for
    discs), i.e.

        1 / N_r^2 = 1 / N_t^2 - 1 / N_s^2.

    A source at f/22 rendered to f/2 needs f/2.008 (0.4 % less blur), to f/20 only f/48: most
    pixels of a near-sharp target are then within a pixel of sharp and come back unchanged.
    """
    if not (target_f_number > 0 and source_f_number > 0):
        raise ValueError(f"f-numbers must be positive, got {target_f_number} and {source_f_number}")
    if target_f_number >= source_f_number:
        return math.inf
    return target_f_number / math.sqrt(1.0 - (target_f_number / source_f_number) ** 2)


@dataclass(frozen=True)
class Lens:
    """The lens settings of one rendering. ``focus_m`` may be ``math.inf``."""

    focal_mm: float
    f_number: float
    focus_m: float
    sensor_diag_mm: float = FULL_FRAME_DIAGONAL_MM

    def __post_init__(self) -> None:
        if not (self.focal_mm > 0 and math.isfinite(self.focal_mm)):
            raise ValueError(f"focal length must be a positive number of mm, got {self.focal_mm}")
        if not (self.f_number > 0 and math.isfinite(self.f_number)):
            raise ValueError(f"f-number must be positive, got {self.f_number}")
        if not self.focus_m > 0:
            raise ValueError(f"focus distance must be positive, got {self.focus_m}")
        if not (self.sensor_diag_mm > 0 and math.isfinite(self.sensor_diag_mm)):
            raise ValueError(f"sensor diagonal must be positive, got {self.sensor_diag_mm}")

    def coc_px(self, depth_m: torch.Tensor, width_px: int, height_px: int) -> torch.Tensor:
        return coc_px(depth_m, self.focal_mm, self.f_number, self.focus_m,
                      self.sensor_diag_mm, width_px, height_px)

    def coc_px_from_inverse_depth(self, inv_depth_per_m: torch.Tensor, width_px: int,
                                  height_px: int) -> torch.Tensor:
        pitch = pixel_pitch_mm(self.sensor_diag_mm, width_px, height_px)
        return coc_mm_from_inverse_depth(inv_depth_per_m, self.focal_mm, self.f_number,
                                         self.focus_m) / pitch
