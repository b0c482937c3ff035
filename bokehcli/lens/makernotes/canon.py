"""Canon maker note: focus distance from ShotInfo (0x0004) or FileInfo (0x0093).

The note is a bare IFD whose offsets count from the TIFF header. Editors that move the note
leave the original offset in an 8-byte footer (``II*\\0`` or ``MM\\0*`` + u32 offset); the
difference to the note's current position is the base correction.

Both arrays hold u16 with element 0 = byte size. ShotInfo 19/20 and FileInfo 20/21 are the
upper/lower focus distance. EOS bodies record centimetres with 65535 = infinity. PowerShot
compacts write only the upper value (lower 0), on the same centimetre scale ExifTool uses;
where such a file also has EXIF SubjectDistance the two differ by exactly 10x, so the
resolver's preference for EXIF SubjectDistance (SPEC §2 order) decides (the maker note's
warnings are reported only when its distance is the one used).
"""

from __future__ import annotations

import struct

from .base import INF, Note, Reading

_SHOT_INFO, _FILE_INFO = 0x0004, 0x0093
_INFINITY_RAW = 0xFFFF


def read(note: Note) -> Reading | None:
    base = _base_correction(note)
    tags = note.ifd(0, base=base)
    if not tags:
        return None
    is_eos = "EOS" in note.model.upper()
    for tag, upper_at, source in ((_SHOT_INFO, 19, "Canon:ShotInfo"), (_FILE_INFO, 20, "Canon:FileInfo")):
        entry = tags.get(tag)
        values = [int(v) for v in entry.numbers()] if entry is not None and entry.type == 3 else []
        if len(values) <= upper_at + 1:
            continue
        upper, lower = values[upper_at], values[upper_at + 1]
        if upper == 0:
            continue
        if is_eos:
            near, far = sorted((_metres(lower), _metres(upper)))      # some bodies swap the two
            return Reading(source, (near, far) if lower else (_metres(upper),))
        return Reading(source, (_metres(upper),),
                       warnings=["Canon compact focus distance has an uncertain scale "
                                 "(read as cm; some models record mm)"])
    return None


def _metres(raw: int) -> float:
    return INF if raw == _INFINITY_RAW else raw / 100.0


def _base_correction(note: Note) -> int:
    """Offset to add to the note's TIFF-relative offsets (non-zero when an editor moved it)."""
    footer = note.data[-8:]
    if len(footer) == 8 and footer[:4] in (b"II*\0", b"MM\0*"):
        order = "<" if footer[:2] == b"II" else ">"
        (original,) = struct.unpack(order + "I", footer[4:])
        return note.pos - original
    return 0
