"""Sanyo maker note: ManualFocusDistance (0x0223), a rational in metres.

Header ``SANYO\\0\\x01\\0`` then an IFD at byte 8 with TIFF-relative offsets.
"""

from __future__ import annotations

from .base import Note, Reading

_MANUAL_FOCUS_DISTANCE = 0x0223


def read(note: Note) -> Reading | None:
    if not note.data.startswith(b"SANYO\0"):
        return None
    entry = note.ifd(8).get(_MANUAL_FOCUS_DISTANCE)
    value = entry.first() if entry is not None and entry.type == 5 else None
    if value is None or not value > 0:
        return None
    return Reading("Sanyo:ManualFocusDistance", (value,))
