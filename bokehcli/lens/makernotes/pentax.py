"""Pentax maker note: which AF points focused, by name.

Headers: ``AOC\\0`` + byte order (``MM``/``II``) with the IFD at byte 6 and TIFF-relative
offsets, or ``PENTAX \\0`` + byte order with the IFD at byte 10 and offsets counted from the
note's start. Named AF points (placed through ``af_named``):

- AFInfo (0x021F) byte 0x0B, AFPointsInFocus of the 11-point bodies: one or two names per
  value (table below; "Center (horizontal)"/"(vertical)" are both the centre point);
- AFPointsInFocus (0x000F) of older models: a u16 naming a cell of a 3 x 3 grid (0 = fixed
  centre or several, 0xFFFF = none: neither names a point). The K-3 writes a u32 bit mask
  over 27 points instead, which is not read;
- AFPointSelected (0x000E), the 11-point name the photographer selected (values from 0xFFFB
  are modes, not points).

FocusMode (0x000D) 3 is manual focus.
"""

from __future__ import annotations

from ..af_named import named_record
from .base import AfReading, Note, first_int

_FOCUS_MODE, _AF_POINT_SELECTED, _AF_POINTS_IN_FOCUS, _AF_INFO = 0x000D, 0x000E, 0x000F, 0x021F
_MANUAL_FOCUS, _AF_INFO_IN_FOCUS_AT = 3, 0x0B
POINTS_11 = ("Upper-left", "Top", "Upper-right", "Left", "Mid-left", "Center", "Mid-right", "Right",
             "Lower-left", "Bottom", "Lower-right")             # AFPointSelected 1..11
GRID_3X3 = ("Top-left", "Top-center", "Top-right", "Left", "Center", "Right",
            "Bottom-left", "Bottom-center", "Bottom-right")     # AFPointsInFocus 1..9
AF_INFO_IN_FOCUS = (     # AFInfo byte 0x0B, values 1..20 (0 = none)
    ("Lower-left", "Bottom"), ("Bottom",), ("Lower-right", "Bottom"), ("Mid-left", "Center"),
    ("Center",), ("Mid-right", "Center"), ("Upper-left", "Top"), ("Top",), ("Upper-right", "Top"),
    ("Right",), ("Lower-left", "Mid-left"), ("Upper-left", "Mid-left"), ("Bottom", "Center"),
    ("Top", "Center"), ("Lower-right", "Mid-right"), ("Upper-right", "Mid-right"), ("Left",),
    ("Mid-left",), ("Center",), ("Mid-right",),
)


def read_af(note: Note) -> AfReading | None:
    if note.data.startswith(b"PENTAX \0"):
        tags = note.ifd(10, note.order_at(8), base=note.pos)
    elif note.data.startswith(b"AOC\0"):
        tags = note.ifd(6, note.order_at(4))
    else:
        return None
    reading = AfReading()
    mode = first_int(tags.get(_FOCUS_MODE))
    if mode == _MANUAL_FOCUS:
        if any(tag in tags for tag in (_AF_INFO, _AF_POINTS_IN_FOCUS, _AF_POINT_SELECTED)):
            reading.refuse_manual("Pentax:FocusMode")
        return reading
    info = tags.get(_AF_INFO)
    if info is not None and len(info.data) > _AF_INFO_IN_FOCUS_AT:
        value = info.data[_AF_INFO_IN_FOCUS_AT]
        if 1 <= value <= len(AF_INFO_IN_FOCUS):
            reading.add(named_record("Pentax:AFPointsInFocus", list(AF_INFO_IN_FOCUS[value - 1])))
    in_focus = tags.get(_AF_POINTS_IN_FOCUS)
    value = first_int(in_focus) if in_focus is not None and in_focus.type == 3 else None
    if value is not None and 1 <= value <= len(GRID_3X3):
        reading.add(named_record("Pentax:AFPointsInFocus", [GRID_3X3[value - 1]]))
    value = first_int(tags.get(_AF_POINT_SELECTED))
    if value is not None and 1 <= value <= len(POINTS_11) and not note.model.upper().startswith("PENTAX K-1"):
        reading.add(named_record("Pentax:AFPointSelected", [POINTS_11[value - 1]]))
    return reading
