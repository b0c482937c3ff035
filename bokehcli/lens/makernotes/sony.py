"""Sony maker note: the enciphered 0x9402 block, byte 0x2D (FocusPosition2).

``SONY DSC \\0\\0\\0`` / ``SONY CAM \\0\\0\\0`` notes put a TIFF-relative IFD at byte 12; newer
bodies write a bare IFD at byte 0. The 0x94xx blocks are enciphered byte by byte with
``c = p**3 mod 249`` for ``p < 249`` (bytes 249..255 unchanged); since 249 = 3 * 83 and 3 is
coprime to both 2 and 82, cubing is a bijection there and the inverse table deciphers.

FocusPosition2 is a lens-encoder position, not a calibrated distance, and no published
conversion to metres exists; rather than invent one we decode it and report it in a warning,
so Sony files fall through to the next focus source.
"""

from __future__ import annotations

from .base import Note, Reading

_BLOCK, _FOCUS_POSITION_AT = 0x9402, 0x2D
_MODULUS = 249

_ENCIPHER = bytes([pow(p, 3, _MODULUS) for p in range(_MODULUS)] + list(range(_MODULUS, 256)))
_DECIPHER = bytes(_ENCIPHER.index(c) for c in range(256))


def decipher(data: bytes) -> bytes:
    """Undo Sony's byte-cube substitution (``decipher(encipher(x)) == x``)."""
    return data.translate(_DECIPHER)


def encipher(data: bytes) -> bytes:
    return data.translate(_ENCIPHER)


def read(note: Note) -> Reading | None:
    start = 12 if note.data.startswith((b"SONY DSC ", b"SONY CAM ")) else 0
    entry = note.ifd(start).get(_BLOCK)
    if entry is None or len(entry.data) <= _FOCUS_POSITION_AT:
        return None
    position = decipher(entry.data[_FOCUS_POSITION_AT:_FOCUS_POSITION_AT + 1])[0]
    return Reading(warnings=[f"Sony FocusPosition2 = {position} has no published conversion to metres"])
