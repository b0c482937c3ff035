"""Leica maker note (``LEICA\\0\\x06\\0``, T/SL/CL/Q family): tag 0x040A, element 0.

The IFD sits at byte 8 and its offsets count from the note's start; 0x040A holds u16s whose
first element is the focus distance in millimetres (0 = not recorded, 65535 = infinity).
"""

from __future__ import annotations

import math

from .base import Note, Reading

_FOCUS_TAG = 0x040A
_INFINITY_MM = 0xFFFF


def read(note: Note) -> Reading | None:
    if not note.data.startswith(b"LEICA\0\x06\0"):
        return None
    entry = note.ifd(8, base=note.pos).get(_FOCUS_TAG)
    values = entry.numbers() if entry is not None and entry.type == 3 else []
    if not values or values[0] == 0:
        return None
    raw = int(values[0])
    return Reading("Leica:FocusDistance", (math.inf if raw == _INFINITY_MM else raw / 1000.0,))
