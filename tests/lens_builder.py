"""Build small TIFF/EXIF/JPEG byte structures for the lens-metadata tests."""

from __future__ import annotations

import struct

_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1, 8: 2, 9: 4, 10: 8}
_CODES = {1: "B", 3: "H", 4: "I", 8: "h", 9: "i", 13: "I"}


def value(typ: int, values, order: str = "<") -> tuple[int, int, bytes]:
    """(type, count, raw bytes) of an entry value; rationals take (num, den) pairs."""
    if typ in (2, 7):
        raw = values if isinstance(values, bytes) else values.encode() + b"\0"
        return typ, len(raw), raw
    if typ in (5, 10):
        code = "I" if typ == 5 else "i"
        flat = [x for pair in values for x in pair]
        return typ, len(values), struct.pack(f"{order}{code * len(flat)}", *flat)
    return typ, len(values), struct.pack(f"{order}{_CODES[typ] * len(values)}", *values)


def ifd(entries: dict[int, tuple[int, int, bytes]], order: str, at: int, base: int = 0) -> bytes:
    """An IFD placed at absolute position ``at``, its long values right after it.

    Offsets are written relative to ``base`` (absolute position of what they count from).
    """
    return ifd_at(entries, order, at, base)[0]


def ifd_at(entries, order: str, at: int, base: int = 0) -> tuple[bytes, dict[int, int]]:
    """``ifd`` plus the absolute position of each out-of-line value."""
    table = bytearray(struct.pack(order + "H", len(entries)))
    data = bytearray()
    data_at = at + 2 + 12 * len(entries) + 4
    positions = {}
    for tag in sorted(entries):
        typ, count, raw = entries[tag]
        if len(raw) <= 4:
            field = raw.ljust(4, b"\0")
        else:
            positions[tag] = data_at + len(data)
            field = struct.pack(order + "I", (data_at + len(data) - base) & 0xFFFFFFFF)
            data += raw + (b"\0" if len(raw) % 2 else b"")
        table += struct.pack(order + "HHI", tag, typ, count) + field
    return bytes(table + struct.pack(order + "I", 0) + data), positions


def tiff(make: str, model: str, exif: dict | None = None, note=None, order: str = "<",
         ifd0: dict | None = None) -> bytes:
    """A TIFF/EXIF block. ``note(pos)`` returns the maker-note bytes for note position ``pos``;
    ``ifd0`` adds entries to IFD0 (e.g. Orientation 0x0112)."""
    exif = dict(exif or {})
    head = (b"II*\0" if order == "<" else b"MM\0*") + struct.pack(order + "I", 8)
    first = {**(ifd0 or {}), 0x010F: value(2, make, order), 0x0110: value(2, model, order)}
    exif_at = 8 + len(ifd({**first, 0x8769: value(4, [0], order)}, order, 8))
    ifd0 = ifd({**first, 0x8769: value(4, [exif_at], order)}, order, 8)
    if note is not None:
        size = len(note(0))
        exif[0x927C] = (7, size, b"\0" * size)
        note_pos = ifd_at(exif, order, exif_at)[1][0x927C]
        exif[0x927C] = (7, size, note(note_pos))
    return head + ifd0 + ifd(exif, order, exif_at)


def jpeg(tiff_block: bytes | None, xmp: bytes | None = None, size=(640, 480)) -> bytes:
    """Headers of a JPEG (SOI, APP1 EXIF, APP1 XMP, SOF0, SOS, EOI) with the given blocks."""
    out = bytearray(b"\xff\xd8")
    if tiff_block is not None:
        body = b"Exif\0\0" + tiff_block
        out += b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
    if xmp is not None:
        body = b"http://ns.adobe.com/xap/1.0/\0" + xmp
        out += b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
    sof = struct.pack(">BHHB", 8, size[1], size[0], 3) + b"\x01\x11\x00\x02\x11\x00\x03\x11\x00"
    out += b"\xff\xc0" + struct.pack(">H", len(sof) + 2) + sof
    out += b"\xff\xda\x00\x02\xff\xd9"
    return bytes(out)
