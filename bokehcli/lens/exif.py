"""Standard EXIF tags that matter for optics, read from the TIFF block with the IFD walker."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..imageio.tags import (APERTURE_VALUE, DATE_TIME_ORIGINAL, EXIF_IFD, FNUMBER, FOCAL_35MM, FOCAL_LENGTH,
                            FOCAL_PLANE_UNIT, FOCAL_PLANE_X_RES, FOCAL_PLANE_Y_RES, LENS_MAKE, LENS_MODEL,
                            LENS_SPECIFICATION, MAKE, MAKER_NOTE, MODEL, ORIENTATION, PIXEL_X, PIXEL_Y, SUBJECT_AREA,
                            SUBJECT_DISTANCE, SUBJECT_LOCATION)
from .tiff import Entry, read_first_ifd, read_ifd


@dataclass
class Exif:
    """Raw standard values (None when absent); interpretation happens in ``resolve``."""

    tiff: bytes
    order: str
    make: str | None = None
    model: str | None = None
    orientation: int | None = None
    focal_mm: float | None = None
    f_number: float | None = None
    aperture_apex: float | None = None
    focal_35mm: float | None = None
    subject_distance: tuple[int, int] | None = None     # raw rational (0 = unknown, 0xFFFFFFFF = inf)
    plane_x_res: tuple[int, int] | None = None          # FocalPlaneXResolution, pixels per unit
    plane_y_res: tuple[int, int] | None = None
    plane_unit: int | None = None                       # 2 inch, 3 cm, 4 mm, 5 um
    pixel_x: int | None = None                          # PixelXDimension of the EXIF image
    pixel_y: int | None = None
    maker_note: Entry | None = None
    subject_area: Entry | None = None                   # where the subject is, see subject_area.py
    subject_location: Entry | None = None
    date_time_original: str | None = None               # "YYYY:MM:DD HH:MM:SS"
    lens_make: str | None = None
    lens_model: str | None = None
    lens_spec: tuple[float, float, float, float] | None = None   # LensSpecification, 0 = unknown


def read_exif(tiff: bytes) -> Exif | None:
    """Standard tags of a TIFF/EXIF block, or None when it has no valid TIFF header."""
    first = read_first_ifd(tiff)
    if first is None:
        return None
    ifd0, order = first
    exif = Exif(tiff=tiff, order=order)
    exif.make = _text(ifd0.get(MAKE))
    exif.model = _text(ifd0.get(MODEL))
    exif.orientation = _int(ifd0.get(ORIENTATION))
    sub = ifd0.get(EXIF_IFD)
    sub_pos = _int(sub)
    tags = read_ifd(tiff, sub_pos, order)[0] if sub_pos else {}
    exif.focal_mm = _positive(tags.get(FOCAL_LENGTH))
    exif.f_number = _positive(tags.get(FNUMBER))
    exif.aperture_apex = _finite(tags.get(APERTURE_VALUE))
    exif.focal_35mm = _positive(tags.get(FOCAL_35MM))
    exif.subject_distance = _rational(tags.get(SUBJECT_DISTANCE))
    exif.plane_x_res = _rational(tags.get(FOCAL_PLANE_X_RES))
    exif.plane_y_res = _rational(tags.get(FOCAL_PLANE_Y_RES))
    exif.plane_unit = _int(tags.get(FOCAL_PLANE_UNIT))
    exif.pixel_x = _int(tags.get(PIXEL_X))
    exif.pixel_y = _int(tags.get(PIXEL_Y))
    exif.subject_area, exif.subject_location = tags.get(SUBJECT_AREA), tags.get(SUBJECT_LOCATION)
    exif.date_time_original = _text(tags.get(DATE_TIME_ORIGINAL))
    exif.lens_make, exif.lens_model = _text(tags.get(LENS_MAKE)), _text(tags.get(LENS_MODEL))
    exif.lens_spec = lens_spec(tags.get(LENS_SPECIFICATION))
    note = tags.get(MAKER_NOTE)
    exif.maker_note = note if note is not None and note.data else None
    return exif


def lens_spec(entry: Entry | None) -> tuple[float, float, float, float] | None:
    """Four rationals: shortest and longest focal length (mm), smallest f-number at each; an
    unknown value is written 0/0 (NaN here, 0 in the result). None unless both focal lengths
    are known and ordered."""
    values = entry.numbers() if entry is not None and entry.type == 5 else []
    if len(values) != 4:
        return None
    spec = tuple(v if math.isfinite(v) and v > 0 else 0.0 for v in values)
    return spec if 0 < spec[0] <= spec[1] else None


def _text(entry: Entry | None) -> str | None:
    return (entry.text() or None) if entry is not None else None


def _int(entry: Entry | None) -> int | None:
    value = entry.first() if entry is not None else None
    return int(value) if value is not None and math.isfinite(value) else None


def _finite(entry: Entry | None) -> float | None:
    value = entry.first() if entry is not None else None
    return float(value) if value is not None and math.isfinite(value) else None


def _positive(entry: Entry | None) -> float | None:
    value = _finite(entry)
    return value if value is not None and value > 0 else None


def _rational(entry: Entry | None) -> tuple[int, int] | None:
    pairs = entry.rationals() if entry is not None else []
    return pairs[0] if pairs else None
