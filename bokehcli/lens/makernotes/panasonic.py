"""Panasonic maker note: where the camera focused, the lens's name.

Header ``Panasonic\\0\\0\\0``, then an IFD at byte 12 whose offsets count from the TIFF header.
AFPointPosition (0x004D) is two unsigned rationals, the centre of the primary AF area as
fractions of the frame; 16777216 in both means none. FocusMode (0x0007) 2 is manual focus.
"""

from __future__ import annotations

from ..focus_points import AfArea, AfRecord
from .base import AfReading, LensName, Note, first_int, lens_text

_FOCUS_MODE, _AF_POINT_POSITION, _LENS_TYPE = 0x0007, 0x004D, 0x0051    # LensType: ASCII lens name
_MANUAL_FOCUS, _NONE = 2, 16777216.0


def read_lens(note: Note) -> LensName | None:
    model = lens_text(note.ifd(12).get(_LENS_TYPE))
    return LensName(model, "Panasonic:LensType") if model else None


def read_af(note: Note) -> AfReading:
    tags, reading = note.ifd(12), AfReading()
    entry = tags.get(_AF_POINT_POSITION)
    values = entry.numbers() if entry is not None and entry.type == 5 else []
    if len(values) != 2 or values == [_NONE, _NONE]:
        return reading
    if first_int(tags.get(_FOCUS_MODE)) == _MANUAL_FOCUS:
        reading.refuse_manual("Panasonic:FocusMode")
    else:
        reading.add(AfRecord("Panasonic:AFPointPosition", (AfArea(*values),)))
    return reading
