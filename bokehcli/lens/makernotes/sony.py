"""Sony maker note: the enciphered 0x9402 block, byte 0x2D (FocusPosition2).

``SONY DSC \\0\\0\\0`` / ``SONY CAM \\0\\0\\0`` notes put a TIFF-relative IFD at byte 12; newer
bodies write a bare IFD at byte 0. The 0x94xx blocks are enciphered byte by byte with
``c = p**3 mod 249`` for ``p < 249`` (bytes 249..255 unchanged); since 249 = 3 * 83 and 3 is
coprime to both 2 and 82, cubing is a bijection there and the inverse table deciphers.

FocusPosition2 is a lens-encoder position, not a calibrated distance, and no published
conversion to metres exists; rather than invent one we decode it and report it in a warning,
so Sony files fall through to the next focus source.

Where the camera focused (``read_af``): FocusLocation (0x2027), four u16: the image width and
height, then the x, y of the focus location in that image (origin top-left, y down); zeros
mean not recorded.
"""

from __future__ import annotations

from ..focus_points import AfArea, AfRecord
from .base import AfReading, Note, Reading

_BLOCK, _FOCUS_POSITION_AT = 0x9402, 0x2D
_FOCUS_LOCATION = 0x2027
_MODULUS = 249

_ENCIPHER = bytes([pow(p, 3, _MODULUS) for p in range(_MODULUS)] + list(range(_MODULUS, 256)))
_DECIPHER = bytes(_ENCIPHER.index(c) for c in range(256))


def decipher(data: bytes) -> bytes:
    """Undo Sony's byte-cube substitution (``decipher(encipher(x)) == x``)."""
    return data.translate(_DECIPHER)


def encipher(data: bytes) -> bytes:
    return data.translate(_ENCIPHER)


def read(note: Note) -> Reading | None:
    entry = _main_ifd(note).get(_BLOCK)
    if entry is None or len(entry.data) <= _FOCUS_POSITION_AT:
        return None
    position = decipher(entry.data[_FOCUS_POSITION_AT:_FOCUS_POSITION_AT + 1])[0]
    return Reading(warnings=[f"Sony FocusPosition2 = {position} has no published conversion to metres"])


def read_af(note: Note) -> AfReading:
    reading = AfReading()
    entry = _main_ifd(note).get(_FOCUS_LOCATION)
    values = entry.numbers() if entry is not None and entry.type == 3 else []
    if len(values) == 4 and any(values):
        width, height, x, y = values
        reading.add(AfRecord("Sony:FocusLocation", (AfArea(x, y),), (width, height)))
    return reading


def _main_ifd(note: Note) -> dict:
    return note.ifd(12 if note.data.startswith((b"SONY DSC ", b"SONY CAM ")) else 0)
