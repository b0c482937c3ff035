"""What every maker-note decoder receives and returns."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..tiff import Entry, byte_order, plausible_ifd, read_ifd

INF = math.inf


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
    sensor_diagonal_mm: float | None = None
    diagonal_source: str | None = None
    f_number: float | None = None
    f_number_source: str | None = None
    warnings: list[str] = field(default_factory=list)
