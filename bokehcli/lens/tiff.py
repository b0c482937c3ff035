"""A bounded, validating reader for TIFF image file directories (IFDs).

EXIF data and most maker notes are TIFF structures: a byte-order mark, then IFDs of 12-byte
entries ``(tag u16, type u16, count u32, value-or-offset u32)``. Values longer than four bytes
live out of line at ``base + offset``. Maker notes differ only in where the IFD starts and
which ``base`` their offsets count from, so one reader serves all of them.

Hostile input is expected: every offset and count is checked against the buffer, IFDs with
absurd entry counts are refused, and callers follow only fixed, known pointer paths (never a
generic chain), so work is bounded by the buffer size and no loop is possible.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# TIFF field types -> (struct code of one element, size in bytes). Rationals are two codes.
_TYPES: dict[int, tuple[str, int]] = {
    1: ("B", 1), 2: ("s", 1), 3: ("H", 2), 4: ("I", 4), 5: ("II", 8), 6: ("b", 1), 7: ("s", 1),
    8: ("h", 2), 9: ("i", 4), 10: ("ii", 8), 11: ("f", 4), 12: ("d", 8), 13: ("I", 4),
}
RATIONAL_TYPES = (5, 10)
MAX_ENTRIES = 1000      # real IFDs hold a few hundred at most; more means we are reading noise


def byte_order(buf: bytes, pos: int = 0) -> str | None:
    """The struct byte-order prefix of a TIFF-style mark at ``buf[pos]`` ('<', '>') or None."""
    mark = buf[pos:pos + 2]
    return {b"II": "<", b"MM": ">"}.get(mark)


@dataclass(frozen=True)
class Entry:
    """One IFD entry with its value bytes resolved (``data`` is empty when out of bounds)."""

    tag: int
    type: int
    count: int
    data: bytes
    data_pos: int       # index of the value bytes in the buffer the IFD was read from
    order: str

    def numbers(self) -> list[float]:
        """All values as numbers; a rational is ``num / den`` (NaN when ``den == 0``)."""
        code, size = _TYPES.get(self.type, ("s", 1))
        if code == "s" or not self.data:
            return list(self.data)
        n = len(self.data) // size
        flat = struct.unpack(f"{self.order}{code * n}", self.data[: n * size])
        if self.type in RATIONAL_TYPES:
            return [num / den if den else float("nan") for num, den in zip(flat[::2], flat[1::2])]
        return list(flat)

    def rationals(self) -> list[tuple[int, int]]:
        """Raw ``(numerator, denominator)`` pairs of a rational entry (empty for other types)."""
        if self.type not in RATIONAL_TYPES:
            return []
        code = _TYPES[self.type][0]
        n = len(self.data) // 8
        flat = struct.unpack(f"{self.order}{code * n}", self.data[: n * 8])
        return list(zip(flat[::2], flat[1::2]))

    def first(self) -> float | None:
        values = self.numbers()
        return values[0] if values else None

    def text(self) -> str:
        """An ASCII/undefined value as text, cut at the first NUL, stripped."""
        raw = self.data.split(b"\0", 1)[0]
        return raw.decode("latin-1").strip()


def read_ifd(buf: bytes, pos: int, order: str, base: int = 0) -> tuple[dict[int, Entry], int]:
    """Entries of the IFD at ``buf[pos]`` and the offset of the next IFD (0 when none).

    Out-of-line values are read from ``buf[base + offset]``. An IFD that does not fit in
    ``buf`` or claims more than ``MAX_ENTRIES`` entries yields no entries; an entry whose
    value lies outside ``buf`` keeps an empty ``data``.
    """
    if pos < 0 or pos + 2 > len(buf):
        return {}, 0
    (n,) = struct.unpack_from(order + "H", buf, pos)
    if n == 0 or n > MAX_ENTRIES or pos + 2 + 12 * n > len(buf):
        return {}, 0
    entries: dict[int, Entry] = {}
    for i in range(n):
        at = pos + 2 + 12 * i
        tag, typ, count = struct.unpack_from(order + "HHI", buf, at)
        if typ not in _TYPES:
            continue
        size = _TYPES[typ][1] * count
        if size <= 4:
            data_pos = at + 8
        else:
            (offset,) = struct.unpack_from(order + "I", buf, at + 8)
            data_pos = base + offset
        ok = 0 <= data_pos and data_pos + size <= len(buf)
        data = bytes(buf[data_pos:data_pos + size]) if ok else b""
        entries.setdefault(tag, Entry(tag, typ, count, data, data_pos, order))
    next_at = pos + 2 + 12 * n
    nxt = struct.unpack_from(order + "I", buf, next_at)[0] if next_at + 4 <= len(buf) else 0
    return entries, nxt


def read_first_ifd(tiff: bytes) -> tuple[dict[int, Entry], str] | None:
    """IFD0 of a TIFF structure (header at ``tiff[0]``) and its byte order, or None without a
    valid header."""
    order = byte_order(tiff)
    if order is None or len(tiff) < 8:
        return None
    entries, _ = read_ifd(tiff, struct.unpack_from(order + "I", tiff, 4)[0], order)
    return entries, order


def plausible_ifd(buf: bytes, pos: int, order: str) -> bool:
    """True when ``buf[pos]`` looks like an IFD: a sane entry count and known field types."""
    entries, _ = read_ifd(buf, pos, order)
    if not entries:
        return False
    (n,) = struct.unpack_from(order + "H", buf, pos)
    return len(entries) >= max(1, n // 2)
