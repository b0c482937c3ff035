"""Nikon maker note: focus distance from LensData (0x0098); AF points through ``nikon_af``.

Note layouts: ``Nikon\\0\\x02..`` embeds its own TIFF header at byte 10 (offsets count from
there, byte order from that header); ``Nikon\\0\\x01..`` has its IFD at byte 8 and older
headerless notes at byte 0, both with TIFF-relative offsets.

LensData starts with a 4-character version. 0101 and 0201-0203 keep the focus distance in
byte 0x09, 0204 in byte 0x0A; from 0201 on everything after the version is enciphered with
the serial number (0x001D) and shutter count (0x00A7), see ``nikon_cipher``. The byte is a
log scale: ``distance_m = 0.01 * 10 ** (raw / 40)``; 0 means not recorded.
"""

from __future__ import annotations

from . import nikon_af
from ..exif import lens_spec
from .base import AfReading, LensName, Note, Reading
from .nikon_cipher import decrypt

_SERIAL, _SHUTTER_COUNT, _LENS_DATA = 0x001D, 0x00A7, 0x0098
_DISTANCE_BYTE = {b"0101": 0x09, b"0201": 0x09, b"0202": 0x09, b"0203": 0x09, b"0204": 0x0A}
_ENCRYPTED_FROM = 4     # the version string stays clear
_LENS = 0x0084          # 4 rationals, as EXIF LensSpecification: focal range (mm), smallest f-number at each


def read(note: Note) -> Reading | None:
    tags = _main_ifd(note)
    entry = tags.get(_LENS_DATA)
    if entry is None or len(entry.data) < 0x0B:
        return None
    version = entry.data[:4]
    at = _DISTANCE_BYTE.get(version)
    if at is None:
        return None
    data = entry.data
    if version != b"0101":
        serial_entry, count_entry = tags.get(_SERIAL), tags.get(_SHUTTER_COUNT)
        count = count_entry.first() if count_entry is not None else None
        if count is None:
            return Reading(warnings=["Nikon LensData is encrypted but the shutter count is missing"])
        serial = _serial_key(serial_entry.text() if serial_entry is not None else "", note.model)
        data = data[:_ENCRYPTED_FROM] + decrypt(data[_ENCRYPTED_FROM:at + 1], serial, int(count))
    raw = data[at]
    if raw == 0:
        return None
    return Reading("Nikon:LensData", (0.01 * 10 ** (raw / 40),))


def read_lens(note: Note) -> LensName | None:
    spec = lens_spec(_main_ifd(note).get(_LENS))
    return LensName(spec=spec, spec_source="Nikon:Lens") if spec else None


def read_af(note: Note) -> AfReading:
    return nikon_af.read(_main_ifd(note), note.model)


def _main_ifd(note: Note) -> dict:
    head = note.data[:10]
    if head.startswith(b"Nikon\0\x02"):
        order = note.order_at(10)
        if order is None or note.size < 18:
            return {}
        offset = int.from_bytes(note.data[14:18], "little" if order == "<" else "big")
        return note.ifd(10 + offset, order, base=note.pos + 10)
    if head.startswith(b"Nikon\0\x01"):
        return note.ifd(8)
    return note.ifd(0)


def _serial_key(serial: str, model: str) -> int:
    """The serial number when it is a decimal integer, else the model's fixed key."""
    if serial.isdigit():
        return int(serial)
    return 0x22 if model.upper().rstrip().endswith("D50") else 0x60
