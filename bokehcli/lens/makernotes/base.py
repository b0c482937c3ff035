"""What every maker-note decoder receives and returns."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..focus_points import AfRecord
from ..tiff import Entry, byte_order, plausible_ifd, read_ifd


@dataclass(frozen=True)
class Note:
    """A maker note inside its TIFF block.

    ``pos``/``size`` locate the note in ``tiff``; ``order`` is the TIFF's byte order. Notes
    that do not declare their own order usually share it, but editors that rewrite EXIF in
    the other order copy the note verbatim, so undeclared orders are detected per IFD.
    ``make``/``model`` come from IFD0.
    """

    tiff: bytes
    pos: int
    size: int
    order: str
    make: str = ""
    model: str = ""

    @property
    def data(self) -> bytes:
        return self.tiff[self.pos:self.pos + self.size]

    def ifd(self, start: int, order: str | None = None, base: int = 0) -> dict[int, Entry]:
        """Entries of the IFD at ``note + start``; out-of-line offsets count from ``tiff[base]``.

        Without an explicit ``order`` the TIFF's order is tried first, then the other one.
        """
        return read_ifd(self.tiff, self.pos + start, order or self.detect_order(start), base)[0]

    def detect_order(self, start: int) -> str:
        """The byte order in which ``note + start`` reads as a plausible IFD (TIFF's first)."""
        other = "<" if self.order == ">" else ">"
        for order in (self.order, other):
            if plausible_ifd(self.tiff, self.pos + start, order):
                return order
        return self.order

    def order_at(self, start: int) -> str | None:
        return byte_order(self.tiff, self.pos + start)


@dataclass
class Reading:
    """What a maker note says about focus and the sensor.

    ``distances_m`` holds one distance, or ``(near, far)`` for a range; ``math.inf`` stands
    for infinity. ``source`` names the tag, e.g. ``"Canon:ShotInfo"``.
    """

    source: str | None = None
    distances_m: tuple[float, ...] = ()
    sensor_diag_mm: float | None = None
    diagonal_source: str | None = None
    f_number: float | None = None
    f_number_source: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class LensName:
    """The lens a maker note names: ``model`` as the camera wrote it, or ``spec`` (shortest and
    longest focal length in mm, smallest f-number at each) where it records only that, with the
    tag each came from."""

    model: str | None = None
    model_source: str | None = None
    spec: tuple[float, float, float, float] | None = None
    spec_source: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class AfReading:
    """Where the maker note says the camera focused: AF records (``focus``), face regions
    (``faces``) and why records were refused (manual focus, garbage)."""

    focus: list[AfRecord] = field(default_factory=list)
    faces: list[AfRecord] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(self, record: AfRecord | None) -> None:
        if record is not None:
            self.focus.append(record)

    def refuse_manual(self, mode_source: str) -> None:
        """The camera was focused by hand: its AF record says nothing about where."""
        self.warnings.append(f"manual focus ({mode_source}): the AF record says nothing about "
                             "where the camera focused")


def lens_text(entry: Entry | None) -> str | None:
    """A maker note's lens name: printable text, None when empty or a placeholder."""
    text = "".join(ch for ch in entry.text() if ch.isprintable()).strip() if entry is not None else ""
    return text if text and text.strip("-_ 0") else None


def shorts(entry: Entry | None) -> list[int]:
    """A SHORT entry's values (empty for any other type)."""
    return [int(v) for v in entry.numbers()] if entry is not None and entry.type == 3 else []


def first_int(entry: Entry | None) -> int | None:
    """An entry's first value as an integer, None when absent or not a finite number."""
    value = entry.first() if entry is not None else None
    return int(value) if value is not None and math.isfinite(value) else None


def signed16(value: float) -> int:
    """A u16 read as two's-complement int16 (AF offsets from the frame centre are signed)."""
    raw = int(value) & 0xFFFF
    return raw - 0x10000 if raw >= 0x8000 else raw
