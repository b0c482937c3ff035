"""Casio maker note: ObjectDistance in millimetres.

Type 1 notes are a bare IFD (tag 0x0006); type 2 start with ``QVC\\0`` and their IFD at
byte 6 (tag 0x2022, where values from 0x20000000 up mean infinity). Offsets are
TIFF-relative in both.
"""

from __future__ import annotations

from .base import INF, Note, Reading

_TYPE1_DISTANCE, _TYPE2_DISTANCE = 0x0006, 0x2022
_TYPE2_INFINITY = 0x20000000


def read(note: Note) -> Reading | None:
    if note.data.startswith(b"QVC\0"):
        entry, infinity = note.ifd(6).get(_TYPE2_DISTANCE), _TYPE2_INFINITY
    else:
        entry, infinity = note.ifd(0).get(_TYPE1_DISTANCE), None
    raw = entry.first() if entry is not None and entry.type == 4 else None
    if not raw:
        return None
    if infinity is not None and raw >= infinity:
        return Reading("Casio:ObjectDistance", (INF,))
    return Reading("Casio:ObjectDistance", (raw / 1000.0,))
