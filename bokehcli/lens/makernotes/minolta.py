"""Minolta / Konica Minolta maker note: CameraSettings focus distance and f-number.

The note is a bare IFD with TIFF-relative offsets. CameraSettings (0x0001 in older models,
0x0003 in newer) is an array of big-endian u32 whatever the note's byte order. Element 19
is the focus distance in millimetres, 0 meaning infinity; element 10 the f-number as
``N = 2 ** ((raw / 8 - 1) / 2)`` (APEX in eighths, offset by one), which models without an
EXIF FNumber record more finely than their EXIF ApertureValue.
"""

from __future__ import annotations

import math
import struct

from .base import Note, Reading

_SETTINGS_TAGS = (0x0003, 0x0001)
_FOCUS_INDEX, _F_NUMBER_INDEX = 19, 10


def read(note: Note) -> Reading | None:
    tags = note.ifd(0)
    for tag in _SETTINGS_TAGS:
        entry = tags.get(tag)
        if entry is None or entry.type not in (4, 7) or len(entry.data) < 4 * (_FOCUS_INDEX + 1):
            continue
        (raw,) = struct.unpack_from(">I", entry.data, 4 * _FOCUS_INDEX)
        (raw_f,) = struct.unpack_from(">I", entry.data, 4 * _F_NUMBER_INDEX)
        reading = Reading("Minolta:CameraSettings", (math.inf if raw == 0 else raw / 1000.0,))
        if 0 < raw_f < 256:
            reading.f_number = 2.0 ** ((raw_f / 8.0 - 1.0) / 2.0)
            reading.f_number_source = "Minolta:CameraSettings"
        return reading
    return None
