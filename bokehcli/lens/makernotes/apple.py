"""Apple maker note: FocusDistanceRange (0x000C), two signed rationals in metres.

Header ``Apple iOS\\0\\0\\x01MM`` (14 bytes) then a big-endian IFD whose offsets count from
the note's start. The two values are the near and far ends of the range the lens focused
within; they are not always stored in that order.
"""

from __future__ import annotations

from .base import Note, Reading

_FOCUS_RANGE = 0x000C


def read(note: Note) -> Reading | None:
    if not note.data.startswith(b"Apple iOS\0"):
        return None
    order = note.order_at(12) or ">"
    entry = note.ifd(14, order, base=note.pos).get(_FOCUS_RANGE)
    values = entry.numbers() if entry is not None and entry.type == 10 else []
    if len(values) != 2 or not all(v > 0 for v in values):     # NaN fails the comparison too
        return None
    return Reading("Apple:FocusDistanceRange", (min(values), max(values)))
