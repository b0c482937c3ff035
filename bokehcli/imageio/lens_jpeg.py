"""Write a JPEG whose EXIF states its lens: the one writer of such test and data photos
(synthetic data sets, `bokeh bench`, the demo, the tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ..files import atomic_path
from .tags import EXIF_IFD, FNUMBER, FOCAL_35MM, FOCAL_LENGTH, MAKE, MODEL, ORIENTATION, SUBJECT_AREA, SUBJECT_DISTANCE
from .write import JPEG_QUALITY, exif_rational


def lens_exif(focal_mm: float | None = None, f_number: float | None = None, focus_m: float | None = None,
              focal_35mm: float | None = None, make: str | None = None, model: str | None = None,
              orientation: int | None = None,
              subject_area_px: tuple[int, int, int, int] | None = None) -> Image.Exif:
    """EXIF with the given lens facts; None leaves a tag out. ``focus_m`` is finite (SubjectDistance);
    ``focal_35mm`` is rounded to whole mm; ``subject_area_px`` is SubjectArea as a rectangle
    (centre x, centre y, width, height in pixels: where the camera focused)."""
    exif = Image.Exif()
    for tag, value in ((MAKE, make), (MODEL, model), (ORIENTATION, orientation)):
        if value is not None:
            exif[tag] = value
    sub: dict = {}
    if focal_mm is not None:
        sub[FOCAL_LENGTH] = exif_rational(focal_mm)
    if f_number is not None:
        sub[FNUMBER] = exif_rational(f_number)
    if focus_m is not None:
        sub[SUBJECT_DISTANCE] = exif_rational(focus_m)
    if focal_35mm is not None:
        sub[FOCAL_35MM] = int(round(focal_35mm))
    if subject_area_px is not None:
        sub[SUBJECT_AREA] = tuple(int(v) for v in subject_area_px)  # 4 SHORTs
    exif[EXIF_IFD] = sub
    return exif


def write_lens_jpeg(path: str | Path, pixels: np.ndarray, exif: Image.Exif, quality: int = JPEG_QUALITY) -> Path:
    """Save uint8 RGB ``pixels`` (H, W, 3) as a JPEG with ``exif`` (see :func:`lens_exif`),
    chroma at full resolution, atomically (a crash leaves no half-written file)."""
    with atomic_path(path) as tmp:
        Image.fromarray(pixels, "RGB").save(tmp, format="JPEG", quality=quality, subsampling=0,
                                            exif=exif.tobytes())
    return Path(path)
