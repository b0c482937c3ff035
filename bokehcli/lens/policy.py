"""Which lens values a render uses: a command-line flag > the file's metadata > a default
(docs/lens-metadata.md#precedence), each with its source.

The focus distance's further estimates (face size, hyperfocal distance, the depth at the focus
target) need the photo and its depth; they stay with the render (:mod:`bokehcli.pipeline`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..optics import FULL_FRAME_DIAGONAL_MM, sensor_diag_mm_for_crop
from .resolve import SENSOR_DEFAULT_WARNING
from .types import LensMetadata

DEFAULT_FOCAL_MM = 50.0


@dataclass(frozen=True)
class Sourced:
    """A value and where it came from: ``"flag"``, a tag name, ``"default"``, ..."""

    value: float
    source: str


def focal_and_sensor(info: LensMetadata, focal_mm: float | None = None, crop_factor: float | None = None,
                     sensor_diag_mm: float | None = None,
                     equivalent: bool = False) -> tuple[Sourced, Sourced, list[str]]:
    """Focal length (mm) and sensor diagonal (mm) from the flags given (None: not given) and the
    file, and warnings for defaults taken. ``equivalent``: the same field of view on a full-frame
    sensor (focal length times the crop factor), so an f-number gives the look it has on a 35 mm
    camera, which is what a phone's "f/1.8 portrait mode" means; a focal-length flag is taken as
    the equivalent already."""
    warnings = []
    if focal_mm is not None:
        focal = Sourced(focal_mm, "flag")
    elif info.focal_mm:            # the lens reader has already dropped implausible ones, with a warning
        focal = Sourced(info.focal_mm, info.sources.get("focal_mm", "EXIF"))
    else:
        focal = Sourced(DEFAULT_FOCAL_MM, "default")
        warnings.append(f"no usable focal length in the file; assuming {DEFAULT_FOCAL_MM:g} mm")
    if sensor_diag_mm is not None:
        sensor = Sourced(sensor_diag_mm, "flag")
    elif crop_factor is not None:
        sensor = Sourced(sensor_diag_mm_for_crop(crop_factor), "flag")
    elif info.sensor_diag_mm:
        sensor = Sourced(info.sensor_diag_mm, info.sources.get("crop_factor", "EXIF"))
    else:
        sensor = Sourced(FULL_FRAME_DIAGONAL_MM, "default")
        warnings.append(SENSOR_DEFAULT_WARNING)
    if not equivalent:
        return focal, sensor, warnings
    if focal_mm is None:
        if info.focal_35mm and sensor_diag_mm is None and crop_factor is None:
            source = info.sources.get("focal_35mm", "EXIF")
            focal = Sourced(info.focal_35mm, f"35 mm equivalent ({source})")
        elif sensor.source == "default":
            # Times an unknown crop factor, a phone's 4 mm lens would stay a 4 mm fisheye on full
            # frame, with no blur at all; the field of view of a normal lens is the better guess
            # (the one a camera of unknown sensor is rendered with when its equivalent is unknown).
            focal = Sourced(DEFAULT_FOCAL_MM, "35 mm equivalent assumed (sensor size unknown)")
            warnings = [w for w in warnings if w != SENSOR_DEFAULT_WARNING]
            warnings.append(f"sensor size unknown, so is the 35 mm equivalent of its {focal_of(info, focal_mm)}: "
                            f"--equivalent assumes the field of view of a {DEFAULT_FOCAL_MM:g} mm lens on full "
                            f"frame (--focal-length sets the equivalent)")
        else:
            focal = Sourced(focal.value * FULL_FRAME_DIAGONAL_MM / sensor.value,
                            f"35 mm equivalent ({focal.source} x crop factor)")
    return focal, Sourced(FULL_FRAME_DIAGONAL_MM, "full frame (--equivalent)"), warnings


def focal_35mm(info: LensMetadata) -> Sourced:
    """The 35 mm equivalent focal length of the photo as taken (the file's FocalLengthIn35mmFilm,
    or its focal length times the crop factor its sensor size gives), else a normal lens's
    (``DEFAULT_FOCAL_MM``): a crop factor the lens reader only assumed (full frame, when the file
    gives no sensor size) does not make a compact's 6 mm lens a 6 mm full-frame lens."""
    if info.focal_35mm:
        return Sourced(info.focal_35mm, info.sources.get("focal_35mm", "EXIF"))
    why = "no focal length" if not info.focal_mm else f"{info.focal_mm:g} mm, sensor size unknown"
    return Sourced(DEFAULT_FOCAL_MM, f"unknown ({why}): {DEFAULT_FOCAL_MM:g} mm assumed")


def focal_of(info: LensMetadata, focal_mm: float | None) -> str:
    """The lens's focal length in words, for a message."""
    value = focal_mm if focal_mm is not None else info.focal_mm
    return f"{value:g} mm lens" if value else "lens"


def camera_focus_m(info: LensMetadata) -> float | None:
    """Where the camera focused, from the file (``math.inf`` allowed), or None when it does not say."""
    if info.focus_infinite:
        return math.inf
    return info.focus_m or None
