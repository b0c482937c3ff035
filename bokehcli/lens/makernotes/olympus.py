"""Olympus / OM System maker note: focus distance from FocusInfo (0x2050), tag 0x0305.

Headers: ``OLYMPUS\\0II\\x03\\0`` (and ``OM SYSTEM\\0...``) declare their byte order, put the IFD
at byte 12 (16 for OM System) and count offsets from the note's start; the older ``OLYMP\\0``
has its IFD at byte 8 with TIFF-relative offsets. FocusInfo is either a sub-IFD pointer
(type IFD/LONG) or, in older notes, an UNDEFINED blob that is itself an IFD whose offsets
keep the note's base. The distance is stored as a rational whose numerator is millimetres
(the denominator, 10 on newer bodies, is not a scale: ExifTool's readings and the E-1's /1
agree on numerator / 1000 m); a numerator of 0xFFFFFFFF means infinity.
The sensor diagonal (mm) is FocalPlaneDiagonal: Equipment (0x2010) tag 0x0103, or 0x0205
in the main IFD of older notes.

Where the camera focused (``read_af``), from CameraSettings (0x2020): AFAreas (0x0304, 64
u32, each non-zero one an area packed as bytes x0, y0, x1, y1 on a 0..255 grid) and
AFPointSelected (0x0305, 5 signed rationals: an unused one, then x0, y0, x1, y1 as fractions
of the frame; undefined ones are "n/a"). FocusMode (0x0301) 10 is manual focus and
FocusProcess (0x0302) 0 "AF not used"; then neither says where the camera focused.
"""

from __future__ import annotations

import math

from ..focus_points import AfArea, AfRecord
from .base import AfReading, LensName, Note, Reading, first_int, lens_text

_EQUIPMENT, _FOCUS_INFO = 0x2010, 0x2050
_CAMERA_SETTINGS, _FOCUS_MODE, _FOCUS_PROCESS, _AF_AREAS, _AF_POINT_SELECTED = 0x2020, 0x0301, 0x0302, 0x0304, 0x0305
_MANUAL_FOCUS, _AF_NOT_USED = 10, 0
_AF_GRID = 255.0
_FOCUS_DISTANCE, _PLANE_DIAGONAL, _OLD_PLANE_DIAGONAL = 0x0305, 0x0103, 0x0205
_LENS_MODEL = 0x0203     # Equipment: ASCII, e.g. "OLYMPUS M.17mm F1.8"
_INFINITY_MM = 0xFFFFFFFF


def read(note: Note) -> Reading | None:
    layout = _layout(note)
    if layout is None:
        return None
    start, order, base = layout
    tags = note.ifd(start, order, base)
    reading = Reading()
    equipment = _sub_ifd(note, tags.get(_EQUIPMENT), order, base)
    diagonal = equipment.get(_PLANE_DIAGONAL) or tags.get(_OLD_PLANE_DIAGONAL)
    diagonal_mm = diagonal.first() if diagonal is not None else None
    if diagonal_mm is not None and 1.0 <= diagonal_mm <= 100.0:
        reading.sensor_diag_mm, reading.diagonal_source = diagonal_mm, "Olympus:FocalPlaneDiagonal"
    focus = _sub_ifd(note, tags.get(_FOCUS_INFO), order, base).get(_FOCUS_DISTANCE)
    pairs = focus.rationals() if focus is not None else []
    if pairs:
        num = pairs[0][0]
        if num == _INFINITY_MM:
            reading.source, reading.distances_m = "Olympus:FocusInfo", (math.inf,)
        elif num > 0:
            reading.source, reading.distances_m = "Olympus:FocusInfo", (num / 1000.0,)
    return reading if reading.source or reading.sensor_diag_mm else None


def read_lens(note: Note) -> LensName | None:
    equipment = _main_sub_ifd(note, _EQUIPMENT)
    model = lens_text(equipment.get(_LENS_MODEL)) if equipment is not None else None
    return LensName(model, "Olympus:LensModel") if model else None


def read_af(note: Note) -> AfReading | None:
    settings = _main_sub_ifd(note, _CAMERA_SETTINGS)
    if settings is None:
        return None
    reading = AfReading()
    areas = _af_areas(settings.get(_AF_AREAS))
    selected = _af_point_selected(settings.get(_AF_POINT_SELECTED))
    if not areas and selected is None:
        return reading
    mode, process = (first_int(settings.get(tag)) for tag in (_FOCUS_MODE, _FOCUS_PROCESS))
    if mode == _MANUAL_FOCUS or process == _AF_NOT_USED:
        reading.refuse_manual("Olympus:CameraSettings")
        return reading
    if areas:
        reading.add(AfRecord("Olympus:AFAreas", areas, (_AF_GRID, _AF_GRID)))
    reading.add(selected)
    return reading


def _af_areas(entry) -> tuple[AfArea, ...]:
    if entry is None or entry.type != 4:
        return ()
    areas = []
    for packed in entry.numbers():
        x0, y0, x1, y1 = int(packed).to_bytes(4, "big")
        if packed:
            areas.append(AfArea((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0))
    return tuple(areas)


def _af_point_selected(entry) -> AfRecord | None:
    values = entry.numbers() if entry is not None and entry.type == 10 else []
    if len(values) != 5 or not all(math.isfinite(v) for v in values[1:]):
        return None
    x0, y0, x1, y1 = values[1:]
    return AfRecord("Olympus:AFPointSelected", (AfArea((x0 + x1) / 2, (y0 + y1) / 2, abs(x1 - x0), abs(y1 - y0)),))


def _layout(note: Note) -> tuple[int, str, int] | None:
    """(IFD start in the note, byte order, base of offsets in the TIFF) for this header."""
    head = note.data[:16]
    if head.startswith(b"OLYMPUS\0"):
        order = note.order_at(8)
        return (12, order, note.pos) if order else None
    if head.startswith(b"OM SYSTEM\0"):
        order = note.order_at(12)
        return (16, order, note.pos) if order else None
    if head.startswith(b"OLYMP\0"):
        return 8, note.order, 0
    return None


def _main_sub_ifd(note: Note, tag: int) -> dict | None:
    """Entries of the sub-IFD ``tag`` of the note's main IFD; None when the note's layout is unknown."""
    layout = _layout(note)
    if layout is None:
        return None
    start, order, base = layout
    return _sub_ifd(note, note.ifd(start, order, base).get(tag), order, base)


def _sub_ifd(note: Note, entry, order: str, base: int) -> dict:
    if entry is None:
        return {}
    if entry.type in (4, 13):
        offset = entry.first()
        return note.ifd(base + int(offset) - note.pos, order, base) if offset else {}
    if entry.type == 7 and entry.data:
        return note.ifd(entry.data_pos - note.pos, order, base)
    return {}
