"""Casio maker note: ObjectDistance in millimetres.

Type 1 notes are a bare IFD (tag 0x0006); type 2 start with ``QVC\\0`` and their IFD at
byte 6 (tag 0x2022, where values from 0x20000000 up mean infinity). Offsets are
TIFF-relative in both.

Where the camera focused (``read_af``, type 2 only): AFPointPosition (0x2021), four u16
``x_num, x_den, y_num, y_den`` giving the AF point as fractions of the frame (65535 = not
recorded). FocusMode (0x3003) 0 is manual focus.
"""

from __future__ import annotations

import math

from ..focus_points import AfArea, AfRecord
from .base import AfReading, Note, Reading, first_int, shorts

_TYPE1_DISTANCE, _TYPE2_DISTANCE = 0x0006, 0x2022
_TYPE2_INFINITY = 0x20000000
_AF_POINT_POSITION, _FOCUS_MODE, _MANUAL_FOCUS, _NOT_RECORDED = 0x2021, 0x3003, 0, 0xFFFF


def read(note: Note) -> Reading | None:
    if note.data.startswith(b"QVC\0"):
        entry, infinity = note.ifd(6).get(_TYPE2_DISTANCE), _TYPE2_INFINITY
    else:
        entry, infinity = note.ifd(0).get(_TYPE1_DISTANCE), None
    raw = entry.first() if entry is not None and entry.type == 4 else None
    if not raw:
        return None
    if infinity is not None and raw >= infinity:
        return Reading("Casio:ObjectDistance", (math.inf,))
    return Reading("Casio:ObjectDistance", (raw / 1000.0,))


def read_af(note: Note) -> AfReading | None:
    if not note.data.startswith(b"QVC\0"):
        return None
    tags, reading = note.ifd(6), AfReading()
    values = shorts(tags.get(_AF_POINT_POSITION))
    if len(values) != 4 or _NOT_RECORDED in values or not values[1] or not values[3]:
        return reading
    if first_int(tags.get(_FOCUS_MODE)) == _MANUAL_FOCUS:
        reading.refuse_manual("Casio:FocusMode")
    else:
        x_num, x_den, y_num, y_den = values
        reading.add(AfRecord("Casio:AFPointPosition", (AfArea(x_num / x_den, y_num / y_den),)))
    return reading
