"""Where a named AF point sits in the frame, for records that give only its name.

Older bodies record the AF point that focused as a name ("Left", "Center", "Bottom", ...).
So that such a file still yields a focus point, each name is placed at that point's position
in the viewfinder, as fractions of the stored frame (x right, y down; stored orientation,
which is how the camera names its points).

The positions follow one documented grid. Canon's AiAF compacts record their AF grid in
AFInfo: the outer columns and rows sit 0.18 of the frame from its centre (409/2272, 370/2048
and 253/1408 of the width, 52/284 and 48/256 of the AF height), so ``Left``/``Right`` and
``Top``/``Bottom`` (the third's point of a 3-point layout, one per third of the frame) are
0.18 from the centre. Nikon's and Pentax's 11-point layouts add inner ``Mid-`` points halfway
(0.12), ``Far`` points further out (0.24), and corner points at the inner columns, 0.14 above
or below the centre. Pentax compacts name a 3 x 3 grid (``Top-left`` ... ``Bottom-right``) on
the outer columns and rows. These are approximations of the printed viewfinder layouts, good
to a few percent of the frame: enough to find the subject's third, not its pixel.
"""

from __future__ import annotations

from .focus_points import AfArea, AfRecord

_OUTER, _INNER, _FAR, _CORNER = 0.18, 0.12, 0.24, 0.14
_C = 0.5
NAMED_POINTS: dict[str, tuple[float, float]] = {
    "Center": (_C, _C),
    "Left": (_C - _OUTER, _C), "Right": (_C + _OUTER, _C),
    "Top": (_C, _C - _OUTER), "Bottom": (_C, _C + _OUTER),
    "Mid-left": (_C - _INNER, _C), "Mid-right": (_C + _INNER, _C),
    "Far Left": (_C - _FAR, _C), "Far Right": (_C + _FAR, _C),
    "Upper-left": (_C - _INNER, _C - _CORNER), "Upper-right": (_C + _INNER, _C - _CORNER),
    "Lower-left": (_C - _INNER, _C + _CORNER), "Lower-right": (_C + _INNER, _C + _CORNER),
    "Top-left": (_C - _OUTER, _C - _OUTER), "Top-center": (_C, _C - _OUTER),
    "Top-right": (_C + _OUTER, _C - _OUTER),
    "Bottom-left": (_C - _OUTER, _C + _OUTER), "Bottom-center": (_C, _C + _OUTER),
    "Bottom-right": (_C + _OUTER, _C + _OUTER),
}


def named_record(source: str, names: list[str]) -> AfRecord | None:
    """A record with one area per known name (fractions of the frame), None when no name is known."""
    areas = tuple(AfArea(*NAMED_POINTS[name]) for name in names if name in NAMED_POINTS)
    return AfRecord(source, areas) if areas else None


def grid_record(source: str, cells: list[tuple[float, float]], pitch: tuple[float, float]) -> AfRecord | None:
    """A record for points of a regular AF grid: ``cells`` are (column, row) offsets from the
    centre point, ``pitch`` the spacing of columns and rows as fractions of the frame."""
    areas = tuple(AfArea(_C + col * pitch[0], _C + row * pitch[1]) for col, row in cells)
    return AfRecord(source, areas) if areas else None


def bits(mask: int, count: int) -> list[int]:
    """Indices of the set bits of ``mask`` below ``count`` (bit 0 first)."""
    return [i for i in range(count) if mask >> i & 1]
