"""Writing rendered photos: ``save_photo`` (JPEG, 8-bit PNG or 16-bit RGB TIFF, atomically,
with the source's EXIF stamped with the rendering and its ICC profile)."""

from __future__ import annotations

import struct
import warnings
import zlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, TiffImagePlugin

from .. import __version__
from ..defaults import JPEG_QUALITY
from ..files import atomic_path
from .read import Photo
from .tags import (APERTURE_VALUE, DESCRIPTION, EXIF_IFD, FNUMBER, FOCAL_35MM, GPS_IFD, INTEROP_IFD, MAKER_NOTE,
                   ORIENTATION, PIXEL_X, PIXEL_Y, SOFTWARE, SUBJECT_DISTANCE, TIFF_METADATA_TAGS)

OUTPUT_SUFFIX = {"jpeg": ".jpg", "png": ".png", "tiff": ".tif"}
FULL_CHROMA_QUALITY = 90        # from this JPEG quality on, chroma is stored at full resolution (4:4:4)
MAX_JPEG_EXIF_BYTES = 65533     # one APP1 segment
_INFINITY_RATIONAL = 0xFFFFFFFF  # EXIF SubjectDistance for infinity


@dataclass(frozen=True)
class LensRecord:
    """Lens facts an output keeps in standard EXIF tags because the source held them where a
    rewrite loses them: a maker note (not copied, see :func:`_stamp`) or XMP for the focus; the
    focal-plane resolution (Pillow reduces the rationals whose denominators encode a Canon
    sensor, and its pixel counts may not be the image's) for the sensor size."""

    focus_m: float | None = None       # -> SubjectDistance; inf allowed
    focal_35mm: float | None = None    # -> FocalLengthIn35mmFilm, whole mm


def save_photo(out_path: str | Path, srgb: np.ndarray, fmt: str = "jpeg", quality: int = JPEG_QUALITY,
               source: Photo | None = None, f_number: float | None = None,
               description: str | None = None, lens: LensRecord | None = None, replace: bool = True) -> list[str]:
    """Write float sRGB (H, W, 3) in [0, 1] to ``out_path`` atomically; return warnings.
    ``replace=False``: never replace a file there, even one another process wrote meanwhile
    (:class:`bokehcli.files.OutputExists`).

    fmt: "jpeg" (8-bit; 4:4:4 chroma from quality 90), "png" (8-bit) or "tiff" (16-bit RGB,
    deflate with horizontal prediction). ``lens``: facts to keep in standard tags (see
    :class:`LensRecord`). Metadata: see the package docstring (``bokehcli.imageio``).
    """
    if fmt not in OUTPUT_SUFFIX:
        raise ValueError(f"unknown output format {fmt!r}; expected one of {sorted(OUTPUT_SUFFIX)}")
    if srgb.ndim != 3 or srgb.shape[2] != 3:
        raise ValueError(f"srgb must be (H, W, 3), got {srgb.shape}")
    if not np.isfinite(srgb).all():
        raise ValueError("srgb holds non-finite values")
    out_path = Path(out_path)
    height, width = srgb.shape[:2]
    exif, notes = _output_exif(source, f_number, description, lens or LensRecord(), (width, height))
    icc = source.icc if source is not None else None
    with atomic_path(out_path, replace=replace) as tmp:
        if fmt == "tiff":
            _write_tiff16(tmp, _quantise(srgb, np.uint16), exif, icc)
        else:
            image = Image.fromarray(_quantise(srgb, np.uint8), "RGB")
            options = {"exif": exif.tobytes()}
            if icc:
                options["icc_profile"] = icc
            if fmt == "jpeg":
                options.update(quality=quality,
                               subsampling=0 if quality >= FULL_CHROMA_QUALITY else 2)
            image.save(tmp, format=fmt.upper(), **options)
    return notes


def _quantise(srgb: np.ndarray, dtype) -> np.ndarray:
    top = np.iinfo(dtype).max
    return np.rint(np.clip(srgb, 0.0, 1.0) * top).astype(dtype)


def _output_exif(source: Photo | None, f_number: float | None, description: str | None,
                 lens: LensRecord, size_wh: tuple[int, int]) -> tuple[Image.Exif, list[str]]:
    """The source's EXIF, upright and stamped with the rendering; a fresh minimal one (and a
    warning) when the source's cannot be written back."""
    if source is not None and source.exif:
        exif = Image.Exif()
        # Pillow reads sub-IFDs lazily and warns about odd ones: what counts is whether the
        # result can be written, so its warnings are silenced here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                exif.load(source.exif)
                _stamp(exif, f_number, description, lens, size_wh)
                if len(exif.tobytes()) <= MAX_JPEG_EXIF_BYTES:
                    return exif, []
                problem = "too large"
            # Absurd EXIF fails in many ways inside Pillow (struct.error for out-of-range values,
            # TypeError/ValueError for odd types, ...): none of them may stop the render.
            except Exception as exc:  # noqa: BLE001
                problem = f"unusable ({type(exc).__name__})"
        notes = [f"{source.path}: EXIF {problem}; wrote a minimal EXIF instead"]
    else:
        notes = []
    exif = Image.Exif()
    _stamp(exif, f_number, description, lens, size_wh)
    return exif, notes


def _stamp(exif: Image.Exif, f_number: float | None, description: str | None, lens: LensRecord,
           size_wh: tuple[int, int]) -> None:
    """Record the rendering: pixels are stored upright, the aperture is the rendered one.
    The Exif sub-IFD ends up as a dict in ``exif`` (its interop IFD too), which is what
    Pillow serialises in place of the source's offsets.

    The maker note is left out: offsets inside it count from the source's TIFF header, and
    Pillow moves the block, so readers (ours, ExifTool) would find wrong values there (a Canon
    focus of 10.9 m read back as 655 m). What ``lens`` holds survives in standard tags."""
    exif[ORIENTATION] = 1
    exif[SOFTWARE] = f"bokeh {__version__}"
    if description:
        exif[DESCRIPTION] = description
    sub = _sub_ifd(exif, EXIF_IFD)
    if INTEROP_IFD in sub and not isinstance(sub[INTEROP_IFD], dict):
        sub[INTEROP_IFD] = dict(exif.get_ifd(INTEROP_IFD))
    sub[PIXEL_X], sub[PIXEL_Y] = size_wh
    sub.pop(MAKER_NOTE, None)
    if lens.focus_m is not None and lens.focus_m > 0:
        sub[SUBJECT_DISTANCE] = (TiffImagePlugin.IFDRational(_INFINITY_RATIONAL, 1) if np.isinf(lens.focus_m)
                                 else exif_rational(lens.focus_m))
    if lens.focal_35mm is not None and 1 <= round(lens.focal_35mm) <= 0xFFFF:
        sub[FOCAL_35MM] = int(round(lens.focal_35mm))
    if f_number is not None:
        sub[FNUMBER] = exif_rational(f_number)
        sub.pop(APERTURE_VALUE, None)
        if f_number >= 1:  # APEX Av = 2 log2 N is an unsigned rational
            sub[APERTURE_VALUE] = exif_rational(2 * np.log2(f_number))
    exif[EXIF_IFD] = sub


def _sub_ifd(exif: Image.Exif, tag: int) -> dict:
    value = exif.get(tag)
    return dict(value) if isinstance(value, dict) else dict(exif.get_ifd(tag))


def exif_rational(value: float) -> TiffImagePlugin.IFDRational:
    """An EXIF RATIONAL close to ``value`` (denominator at most 10,000)."""
    fraction = Fraction(float(value)).limit_denominator(10_000)
    return TiffImagePlugin.IFDRational(fraction.numerator, fraction.denominator)


def _write_tiff16(path: Path, rgb16: np.ndarray, exif: Image.Exif, icc: bytes | None) -> None:
    """Baseline little-endian RGB TIFF, 16 bits per sample, deflate strips with horizontal
    prediction (TIFF 6.0 §14), IFD0 carrying the EXIF metadata, sub-IFDs and ICC profile.

    Pillow's IFD serialiser lays out the directory (``exif`` was already proven serialisable
    by ``_output_exif``). StripOffsets are given relative to the end of the directory, which
    the serialiser adds: that is how Pillow's own TIFF writer places strip data.
    """
    height, width, _ = rgb16.shape
    rows_per_strip = max(1, (1 << 20) // (width * 6))
    diffs = np.diff(rgb16, axis=1, prepend=np.uint16(0)).astype("<u2")  # wraps mod 2^16, as TIFF wants
    # zlib level 1: on photos 5x the speed of level 6 for 12% more bytes (measured, 8 MP).
    strips = [zlib.compress(diffs[y:y + rows_per_strip].tobytes(), 1) for y in range(0, height, rows_per_strip)]
    ifd = TiffImagePlugin.ImageFileDirectory_v2(prefix=b"II")
    for tag in TIFF_METADATA_TAGS:
        if tag in exif:
            ifd[tag] = exif[tag]
    for tag in (EXIF_IFD, GPS_IFD):
        if tag in exif:
            ifd[tag] = _sub_ifd(exif, tag)
    ifd[256], ifd[257] = width, height
    ifd[258] = (16, 16, 16)
    ifd[259] = 8           # deflate
    ifd[262] = 2           # RGB
    ifd[273] = tuple(np.cumsum([0] + [len(s) for s in strips[:-1]]).tolist())
    ifd[277] = 3
    ifd[278] = rows_per_strip
    ifd[279] = tuple(len(s) for s in strips)
    ifd[282] = ifd[283] = TiffImagePlugin.IFDRational(72, 1)
    ifd[284] = 1           # chunky
    ifd[296] = 2           # inches
    ifd[317] = 2           # horizontal differencing
    if icc:
        ifd[34675] = icc
    with open(path, "wb") as fh:
        fh.write(b"II*\x00" + struct.pack("<I", 8))
        fh.write(ifd.tobytes(8))
        for strip in strips:
            fh.write(strip)
