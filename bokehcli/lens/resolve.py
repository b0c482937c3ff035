"""Combine EXIF, maker notes and XMP into a LensMetadata, with sanity bounds
(docs/lens-metadata.md).

Focus sources, first plausible one wins: EXIF SubjectDistance, the maker note, XMP
(aux:ApproximateFocusDistance, exif:SubjectDistance, GFocus:FocalDistance). A distance is
plausible when it lies between the focal length (the shortest lens's when unknown) and 10 km,
or is an infinity sentinel; the far bound of a range beyond 10 km is read as infinity (no lens
here tells 10 km from it).

Where the camera focused (AF points, subject area, faces): ``_fill_focus_points`` gathers the
records of the maker note, EXIF and XMP and ``focus_points`` picks and places one.

Crop factor: FocalLengthIn35mmFilm / FocalLength, else the focal-plane resolution (Canon's
rationals encode the sensor size directly), else a maker-note sensor diagonal, else full
frame with a warning. ``crop = 43.27 / sensor_diag_mm``.
"""

from __future__ import annotations

import contextlib
import math
import os
from typing import Iterator

from ..imageio.tags import SUBJECT_DISTANCE_INFINITY
from ..optics import F_NUMBER_RANGE, FULL_FRAME_DIAGONAL_MM
from .container import Blocks, read_blocks
from .exif import Exif, read_exif
from .focus_points import place_faces, place_focus
from .makernotes import Note, Reading, read_maker_af, read_maker_lens, read_maker_note
from .subject_area import subject_records
from .types import LensMetadata, LensWarning
from .xmp import read_xmp_focus
from .xmp_regions import read_xmp_regions

MAX_FOCUS_M = 10_000.0
FOCAL_MM_RANGE = (0.5, 10_000.0)    # phone ultra-wides .. the longest telephotos
CROP_RANGE = (0.2, 30.0)            # 4x5" large format .. tiny thermal/phone sensors
SENSOR_DIAGONAL_MM_RANGE = (FULL_FRAME_DIAGONAL_MM / CROP_RANGE[1], FULL_FRAME_DIAGONAL_MM / CROP_RANGE[0])
FOCUS_M_RANGE = (FOCAL_MM_RANGE[0] / 1000.0, MAX_FOCUS_M)  # no lens focuses nearer than its focal length
SENSOR_DEFAULT_WARNING = "sensor size unknown: assuming full frame (crop factor 1.0)"
_PLANE_UNIT_MM = {1: 25.4, 2: 25.4, 3: 10.0, 4: 1.0, 5: 0.001}   # 1 = "none": EXIF says inches
_INCH_MM = 25.4


def read_lens(path: str | os.PathLike) -> LensMetadata:
    """Lens metadata of one photo. Raises InputError only when the file cannot be read."""
    return resolve(str(path), read_blocks(path))


def resolve(path: str, blocks: Blocks) -> LensMetadata:
    info = LensMetadata(path=path, width=blocks.width, height=blocks.height, warnings=list(blocks.warnings))
    # the focus reader looks through standard and extended XMP alike (a property may sit in either)
    xmp = blocks.xmp + [chunk.data for chunk in blocks.extended_xmp]
    exif = read_exif(blocks.tiff) if blocks.tiff else None
    reading, note = None, None
    if exif is None:
        info.warnings.append("no EXIF metadata")
    else:
        note = maker_note(exif)
        if note is not None:
            reading = read_maker_note(note)
        _fill_camera(info, exif, reading)
        _fill_lens_name(info, exif, note)
        with _warnings_about(info, "sensor"):
            _fill_sensor(info, exif, reading)
    with _warnings_about(info, "focus_m"):
        _fill_focus(info, exif, reading, xmp)
    with _warnings_about(info, "focus_point"):
        _fill_focus_points(info, exif, note, xmp)
    return info


def maker_note(exif: Exif) -> Note | None:
    """The EXIF's maker note, located in its TIFF block for the maker decoders, or None."""
    if exif.maker_note is None:
        return None
    return Note(exif.tiff, exif.maker_note.data_pos, len(exif.maker_note.data), exif.order,
                exif.make or "", exif.model or "")


@contextlib.contextmanager
def _warnings_about(info: LensMetadata, about: str) -> Iterator[None]:
    """The warnings added meanwhile concern the ``about`` value (see :class:`LensWarning`)."""
    start = len(info.warnings)
    yield
    info.warnings[start:] = [LensWarning(text, about) for text in info.warnings[start:]]


def _fill_camera(info: LensMetadata, exif: Exif, reading: Reading | None) -> None:
    info.make, info.model = _printable(exif.make), _printable(exif.model)
    info.orientation = exif.orientation if exif.orientation in range(1, 9) else None
    if info.width is None and exif.pixel_x and exif.pixel_y:
        info.width, info.height = exif.pixel_x, exif.pixel_y
    if exif.focal_mm is not None:
        # a garbage focal length would also veto every focus distance shorter than it
        if FOCAL_MM_RANGE[0] <= exif.focal_mm <= FOCAL_MM_RANGE[1]:
            info.focal_mm, info.sources["focal_mm"] = exif.focal_mm, "EXIF:FocalLength"
        else:
            info.warnings.append(f"ignored implausible focal length {exif.focal_mm:g} mm (EXIF:FocalLength)")
    f_number, source = exif.f_number, "EXIF:FNumber"
    if f_number is None and reading is not None and reading.f_number is not None:
        f_number, source = reading.f_number, reading.f_number_source or "maker note"
    if f_number is None and exif.aperture_apex is not None and abs(exif.aperture_apex) < 64:
        f_number, source = 2.0 ** (exif.aperture_apex / 2.0), "EXIF:ApertureValue"
    if f_number is not None:
        if F_NUMBER_RANGE[0] <= f_number <= F_NUMBER_RANGE[1]:
            info.f_number, info.sources["f_number"] = f_number, source
        else:
            info.warnings.append(f"ignored implausible f-number {f_number:g} ({source})")


def _fill_lens_name(info: LensMetadata, exif: Exif, note: Note | None) -> None:
    """Lens model, make and specification: standard EXIF first, the maker note for what it lacks."""
    for key, value in (("lens_make", exif.lens_make), ("lens_model", exif.lens_model)):
        if _printable(value):
            setattr(info, key, _printable(value))
            info.sources[key] = f"EXIF:{key.title().replace('_', '')}"
    if exif.lens_spec is not None:
        info.lens_spec, info.sources["lens_spec"] = exif.lens_spec, "EXIF:LensSpecification"
    if note is None or (info.lens_model and info.lens_spec):
        return
    named = read_maker_lens(note)
    if named is None:
        return
    info.warnings.extend(named.warnings)
    if info.lens_model is None and named.model:
        info.lens_model, info.sources["lens_model"] = named.model, named.model_source
    if info.lens_spec is None and named.spec is not None:
        info.lens_spec, info.sources["lens_spec"] = named.spec, named.spec_source


def _fill_sensor(info: LensMetadata, exif: Exif, reading: Reading | None) -> None:
    for crop, source in _crop_candidates(info, exif, reading):
        if CROP_RANGE[0] <= crop <= CROP_RANGE[1]:
            info.crop_factor, info.sources["crop_factor"] = crop, source
            break
        info.warnings.append(f"ignored implausible crop factor {crop:.3g} ({source})")
    else:
        info.crop_factor, info.sources["crop_factor"] = 1.0, "default"
        info.warnings.append(SENSOR_DEFAULT_WARNING)
    info.sensor_diag_mm = FULL_FRAME_DIAGONAL_MM / info.crop_factor
    info.sources["sensor_diag_mm"] = info.sources["crop_factor"]
    from_35mm = info.sources["crop_factor"] == "EXIF:FocalLengthIn35mmFilm"
    if exif.focal_35mm is not None and (from_35mm or info.focal_mm is None):
        info.focal_35mm, info.sources["focal_35mm"] = exif.focal_35mm, "EXIF:FocalLengthIn35mmFilm"
    elif info.focal_mm is not None and info.sources["crop_factor"] != "default":
        info.focal_35mm = info.focal_mm * info.crop_factor
        info.sources["focal_35mm"] = f"FocalLength x crop factor ({info.sources['crop_factor']})"


def _crop_candidates(info: LensMetadata, exif: Exif, reading: Reading | None):
    """(crop factor, source) in order of trust; a generator, so later ones cost nothing."""
    if exif.focal_35mm is not None and info.focal_mm is not None:
        yield exif.focal_35mm / info.focal_mm, "EXIF:FocalLengthIn35mmFilm"
    diagonal_mm = _canon_plane_diagonal_mm(exif) if (exif.make or "").upper().startswith("CANON") else None
    if diagonal_mm is not None:
        yield FULL_FRAME_DIAGONAL_MM / diagonal_mm, "EXIF:FocalPlaneResolution(Canon)"
    diagonal_mm = _plane_diagonal_mm(exif, info.width, info.height)
    if diagonal_mm is not None:
        yield FULL_FRAME_DIAGONAL_MM / diagonal_mm, "EXIF:FocalPlaneResolution"
    if reading is not None and reading.sensor_diag_mm:
        yield FULL_FRAME_DIAGONAL_MM / reading.sensor_diag_mm, reading.diagonal_source or "maker note"


def _canon_plane_diagonal_mm(exif: Exif) -> float | None:
    """Canon writes FocalPlaneX/YResolution as (pixels * 1000) / (sensor inches * 1000).

    The denominators are then the sensor size in thousandths of an inch, and they survive
    editors that rescale the numerators with the image. Accept denominators that fit that
    pattern: a landscape sensor between 0.061" x 0.036" and 1.5" x 1", aspect 1.2 .. 1.8.
    """
    if exif.plane_x_res is None or exif.plane_y_res is None:
        return None
    (xn, xd), (yn, yd) = exif.plane_x_res, exif.plane_y_res
    if xn > 0 and yn > 0 and 61 <= xd < 1500 and 36 <= yd < 1000 and 1.2 <= xd / yd <= 1.8:
        return math.hypot(xd, yd) * _INCH_MM / 1000.0
    return None


def _plane_diagonal_mm(exif: Exif, width: int | None, height: int | None) -> float | None:
    """Sensor diagonal from FocalPlaneX/YResolution (pixels per unit) and the EXIF image size."""
    px_w, px_h = exif.pixel_x or width, exif.pixel_y or height
    if exif.plane_x_res is None or not px_w or not px_h:
        return None
    unit_mm = _PLANE_UNIT_MM.get(exif.plane_unit if exif.plane_unit is not None else 2)
    x_res = _ratio(exif.plane_x_res)
    y_res = _ratio(exif.plane_y_res) if exif.plane_y_res is not None else x_res
    if unit_mm is None or not x_res or not y_res:
        return None
    return math.hypot(px_w / x_res * unit_mm, px_h / y_res * unit_mm)


def _ratio(pair: tuple[int, int]) -> float | None:
    num, den = pair
    return num / den if num > 0 and den > 0 else None


def _fill_focus(info: LensMetadata, exif: Exif | None, reading: Reading | None, xmp: list[bytes]) -> None:
    # Without a focal length, the shortest lens bounds the focus from below (a subnormal 1e-320 m
    # would otherwise pass, and its harmonic mean overflow to a focus of 0 m).
    focal_m = info.focal_mm / 1000.0 if info.focal_mm else FOCUS_M_RANGE[0]
    candidates = []
    if exif is not None and exif.subject_distance is not None:
        candidates.append(("EXIF:SubjectDistance", _subject_distance(exif.subject_distance)))
    if reading is not None and reading.source and reading.distances_m:
        candidates.append((reading.source, reading.distances_m))
    found = read_xmp_focus(xmp) if xmp else None
    if found is not None:
        candidates.append((found[0], (found[1],)))
    chosen = None
    for source, distances in candidates:
        checked = _plausible(distances, focal_m, source, info.warnings)
        if checked is not None:
            chosen = source
            _set_focus(info, checked, source)
            break
    if reading is not None and chosen != "EXIF:SubjectDistance":      # maker caveats only when they matter
        info.warnings.extend(reading.warnings)


def _fill_focus_points(info: LensMetadata, exif: Exif | None, note: Note | None, xmp: list[bytes]) -> None:
    """AF points and faces from the maker note, EXIF SubjectArea/Location and XMP, in upright
    pixels of the image (SubjectArea and pixel-unit maker records count in the EXIF image)."""
    focus, faces = [], []
    af = read_maker_af(note) if note is not None else None
    if af is not None:
        focus += af.focus
        faces += af.faces
        info.warnings.extend(af.warnings)
    if exif is not None:
        focus += subject_records(exif, info.warnings)
    image = (info.width, info.height) if info.width and info.height else None
    if xmp:
        regions = read_xmp_regions(xmp, info.warnings, image, info.orientation)
        focus += regions.focus
        faces += regions.faces
    exif_frame = (exif.pixel_x, exif.pixel_y) if exif is not None and exif.pixel_x and exif.pixel_y else None
    placed = place_focus(focus, image, exif_frame, info.orientation, info.warnings)
    info.focus_points, info.focus_area, info.focus_point_source = placed.points, placed.bounding_box, placed.source
    placed = place_faces(faces, image, exif_frame, info.orientation, info.warnings)
    info.faces, info.faces_source = placed.boxes, placed.source


def _subject_distance(raw: tuple[int, int]) -> tuple[float, ...]:
    """EXIF SubjectDistance in metres: 0 means unknown, 0xFFFFFFFF infinity."""
    num, den = raw
    if num == SUBJECT_DISTANCE_INFINITY:
        return (math.inf,)
    return (num / den,) if num > 0 and den > 0 else ()


def _plausible(distances: tuple[float, ...], focal_m: float, source: str,
               warnings: list[str]) -> tuple[float, ...] | None:
    """The distances if physically plausible (far bound > 10 km becomes infinity), else None."""
    if not distances:
        return None
    values = list(distances)
    if len(values) == 2 and math.isfinite(values[1]) and values[1] > MAX_FOCUS_M:
        warnings.append(f"far focus bound {values[1]:.4g} m ({source}) read as infinity")
        values[1] = math.inf
    for value in values:
        if math.isinf(value):
            continue
        if not value > focal_m or value > MAX_FOCUS_M:
            warnings.append(f"ignored implausible focus distance {value:.4g} m ({source})")
            return None
    return tuple(values)


def _set_focus(info: LensMetadata, distances: tuple[float, ...], source: str) -> None:
    info.sources["focus_m"] = source
    if len(distances) == 2:
        info.focus_near_m, info.focus_far_m = distances
    # one distance as recorded (1 / (1 / d) need not give d back exactly); a range: its harmonic mean
    inverse = sum(1.0 / d for d in distances) / len(distances)     # 1/inf = 0
    if inverse == 0.0:
        info.focus_infinite = True
    else:
        info.focus_m = distances[0] if len(distances) == 1 else 1.0 / inverse


def _printable(text: str | None) -> str | None:
    if text is None:
        return None
    cleaned = "".join(ch for ch in text if ch.isprintable()).strip()
    return cleaned or None
