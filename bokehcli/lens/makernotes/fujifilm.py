"""Fujifilm maker note: where the camera focused and the faces it detected.

Header ``FUJIFILM`` (``GENERALE`` on GE-made models), then a little-endian u32 at byte 8: the
IFD's offset from the note's start, which is also the base of its offsets; the IFD is
little-endian whatever the TIFF's order. FocusPixel (0x1023) is the AF point (x, y) in pixels
of the full image; FacePositions (0x4103) holds left, top, right, bottom pixels per face, as
many as FacesDetected (0x4100) says. FocusMode (0x1021) 1 is manual focus.
"""

from __future__ import annotations

import struct

from ..focus_points import AfArea, AfRecord
from .base import AfReading, Note, first_int, shorts

_FOCUS_MODE, _FOCUS_PIXEL, _FACES_DETECTED, _FACE_POSITIONS = 0x1021, 0x1023, 0x4100, 0x4103
_MANUAL_FOCUS = 1
MAX_FACES = 64


def read_af(note: Note) -> AfReading | None:
    if note.size < 12:
        return None
    (offset,) = struct.unpack_from("<I", note.data, 8)
    tags = note.ifd(offset, "<", base=note.pos)
    reading = AfReading()
    pixel = shorts(tags.get(_FOCUS_PIXEL))
    if len(pixel) == 2:
        if first_int(tags.get(_FOCUS_MODE)) == _MANUAL_FOCUS:
            reading.refuse_manual("Fujifilm:FocusMode")
        else:
            reading.add(AfRecord("Fujifilm:FocusPixel", (AfArea(*pixel),), frame=None))
    count = first_int(tags.get(_FACES_DETECTED)) or 0
    boxes = shorts(tags.get(_FACE_POSITIONS))
    if count > MAX_FACES or 4 * count > len(boxes):
        reading.warnings.append(f"ignored Fujifilm:FacePositions: {count} faces in {len(boxes)} values")
    elif count:
        faces = tuple(AfArea((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0)
                      for x0, y0, x1, y1 in (boxes[4 * i:4 * i + 4] for i in range(count)))
        reading.faces.append(AfRecord("Fujifilm:FacePositions", faces, frame=None))
    return reading
