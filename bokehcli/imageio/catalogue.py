"""Lens facts an output keeps in standard EXIF tags, where a cataloguer (Lightroom, digiKam,
ExifTool) looks for them, because the source held them where a rewrite loses them.

The maker note is not copied (see ``write._stamp``), so what bokeh decodes from it is
restated: the lens's model and specification, the focus distance. The AF point is restated as
EXIF SubjectArea in the output's upright pixels (the source's SubjectArea counts in the stored
frame, wrong once the pixels are turned upright). The 35 mm focal length is restated where the
source derived it (Pillow reduces the focal-plane rationals whose denominators encode a Canon
sensor, and its pixel counts may not be the image's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_SHORT = 0xFFFF      # SubjectArea is a list of SHORTs


@dataclass(frozen=True)
class LensRecord:
    """What ``save_photo`` writes into standard tags of the output's Exif IFD; None: nothing.

    ``lens_make``/``lens_model``/``lens_spec`` go where the source's EXIF has no such tag
    (``lens_spec``: shortest and longest focal length in mm and the smallest f-number at
    each, 0 = unknown). ``subject_area``: EXIF SubjectArea in output pixels, ``(x, y)`` a point
    or ``(x, y, width, height)`` a rectangle around its centre; it replaces the source's.
    """

    focus_m: float | None = None       # -> SubjectDistance; inf allowed
    focal_35mm: float | None = None    # -> FocalLengthIn35mmFilm, whole mm
    lens_make: str | None = None
    lens_model: str | None = None
    lens_spec: tuple[float, float, float, float] | None = None
    subject_area: tuple[int, ...] | None = None


def lens_record(info, camera_focus_m: float | None) -> LensRecord:
    """The record of a :class:`bokehcli.lens.LensMetadata`: a focus distance ``camera_focus_m``
    read from a maker note or XMP (one from EXIF SubjectDistance is there already), a 35 mm
    focal length the source did not state, the lens it names, where the camera focused."""
    from_subject_distance = info.sources.get("focus_m", "EXIF:SubjectDistance") == "EXIF:SubjectDistance"
    stated_35mm = info.sources.get("focal_35mm") == "EXIF:FocalLengthIn35mmFilm"
    return LensRecord(focus_m=None if from_subject_distance else camera_focus_m,
                      focal_35mm=None if stated_35mm else info.focal_35mm,
                      lens_make=info.lens_make, lens_model=info.lens_model, lens_spec=info.lens_spec,
                      subject_area=subject_area(info.focus_points, info.focus_area))


def subject_area(points: list[tuple[float, float]],
                 box: tuple[float, float, float, float] | None) -> tuple[int, ...] | None:
    """EXIF SubjectArea of the AF points in focus: the rectangle ``box`` bounds (centre, width,
    height, at least a pixel each) when it has an extent (several points, or areas of known
    size), else the first point; None when nothing is known or it does not fit SHORTs."""
    if box is not None and (box[2] - box[0] >= 1 or box[3] - box[1] >= 1):
        x0, y0, x1, y1 = box
        area = ((x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, 1), max(y1 - y0, 1))
    elif points:
        area = points[0]
    else:
        return None
    if not all(math.isfinite(v) and 0 <= v <= MAX_SHORT for v in area):
        return None
    return tuple(int(round(v)) for v in area)
