"""Nikon maker note: where the camera focused, from AFInfo (0x0088) and AFInfo2 (0x00B7).

AFInfo (older bodies, 4 bytes): AF area mode, the selected AFPoint (index into the 11-point
names below) and AFPointsInFocus, an int16 bit mask over the same names (big-endian on
"NIKON D" bodies, little-endian on compacts).

AFInfo2 (bodies with live view; version "01xx"): byte 4 ContrastDetectAF, 6 PhaseDetectAF
(the phase-detect layout: 1 = 51 points, 2 = 11, 3 = 39), 7 PrimaryAFPoint (1-based index),
8 AFPointsUsed (a bit mask, bit j of byte i = point 8i + j + 1; 2 bytes little-endian for
11 points, 7 for 51, 5 for 39). With contrast-detect AF, u16 fields at 0x10 give the AF image
width and height, the AF area's centre x, y and its width and height in that image, and byte
0x1C says whether it was in focus. Layouts other than these are left unread.

The 51- and 39-point grids have rows A..E and columns 1..11 around C6; rows A and E are
shorter and start further right (A1 sits above B2 on 51-point bodies, above B5 on 39-point
ones). Points are placed on that grid with a column pitch of 0.04 and a row pitch of 0.08 of
the frame, an approximation of the printed viewfinder layouts (the 11-point names go through
``af_named``).
"""

from __future__ import annotations

import struct

from ..af_named import bits, grid_record, named_record
from ..focus_points import AfArea, AfRecord
from .base import AfReading

_FOCUS_MODE, _AF_INFO, _AF_INFO2 = 0x0007, 0x0088, 0x00B7
# index order of AFInfo's AFPoint and AFPointsInFocus bits, and of AFInfo2's 11-point layout
AF_INFO_POINTS = ("Center", "Top", "Bottom", "Mid-left", "Mid-right", "Upper-left", "Upper-right",
                  "Lower-left", "Lower-right", "Far Left", "Far Right")
AF_INFO2_POINTS_11 = ("Center", "Top", "Bottom", "Mid-left", "Upper-left", "Lower-left", "Far Left",
                      "Mid-right", "Upper-right", "Lower-right", "Far Right")
# grid names in index order (index 1 first) and how far right rows A/E start
POINTS_51 = ("C6 B6 A5 D6 E5 C7 B7 A6 D7 E6 C5 B5 A4 D5 E4 C8 B8 A7 D8 E7 C9 B9 A8 D9 E8 C10 B10 A9 D10 "
             "E9 C11 B11 D11 C4 B4 A3 D4 E3 C3 B3 A2 D3 E2 C2 B2 A1 D2 E1 C1 B1 D1").split()
POINTS_39 = ("C6 B6 A2 D6 E2 C7 B7 A3 D7 E3 C5 B5 A1 D5 E1 C8 B8 D8 C9 B9 D9 C10 B10 D10 C11 B11 D11 "
             "C4 B4 D4 C3 B3 D3 C2 B2 D2 C1 B1 D1").split()
_GRIDS = {1: (POINTS_51, 1, 7), 3: (POINTS_39, 4, 5)}      # PhaseDetectAF: (names, A/E shift, mask bytes)
_GRID_PITCH = (0.04, 0.08)
_USED_AT, _CONTRAST_AT, _IN_FOCUS_AT = 8, 0x10, 0x1C


def read(tags: dict, model: str) -> AfReading:
    reading = AfReading()
    mode = tags.get(_FOCUS_MODE)
    if mode is not None and mode.text().upper().startswith(("MANUAL", "MF")):
        if _AF_INFO in tags or _AF_INFO2 in tags:
            reading.refuse_manual("Nikon:FocusMode")
        return reading
    info = tags.get(_AF_INFO)
    if info is not None:
        _af_info(info.data, "big" if model.upper().startswith("NIKON D") else "little", reading)
    info2 = tags.get(_AF_INFO2)
    if info2 is not None:
        _af_info2(info2.data, info2.order, reading)
    return reading


def _af_info(data: bytes, order: str, reading: AfReading) -> None:
    if len(data) < 4:
        reading.warnings.append("ignored truncated Nikon AFInfo")
        return
    in_focus = int.from_bytes(data[2:4], order)
    if in_focus >> len(AF_INFO_POINTS):
        reading.warnings.append(f"ignored garbled Nikon AFPointsInFocus 0x{in_focus:04x}")
    else:
        reading.add(named_record("Nikon:AFPointsInFocus",
                                 [AF_INFO_POINTS[i] for i in bits(in_focus, len(AF_INFO_POINTS))]))
    if data[1] < len(AF_INFO_POINTS):       # other values appear when nothing was selected
        reading.add(named_record("Nikon:AFPoint", [AF_INFO_POINTS[data[1]]]))


def _af_info2(data: bytes, order: str, reading: AfReading) -> None:
    if not data.startswith(b"01") or len(data) < _USED_AT:
        return
    contrast, phase, primary = data[4], data[6], data[7]
    if contrast and len(data) > _IN_FOCUS_AT:
        frame_w, frame_h, x, y, w, h = struct.unpack_from(order + "6H", data, _CONTRAST_AT)
        if data[_IN_FOCUS_AT] == 1 and frame_w and frame_h:
            reading.add(AfRecord("Nikon:AFInfo2", (AfArea(x, y, w, h),), (frame_w, frame_h)))
    if phase == 2:
        used = int.from_bytes(data[_USED_AT:_USED_AT + 2], "little")
        reading.add(named_record("Nikon:AFPointsUsed", [AF_INFO2_POINTS_11[i] for i in bits(used, 11)]))
        if 1 <= primary <= 11:
            reading.add(named_record("Nikon:PrimaryAFPoint", [AF_INFO2_POINTS_11[primary - 1]]))
    elif phase in _GRIDS:
        names, shift, size = _GRIDS[phase]
        mask = int.from_bytes(data[_USED_AT:_USED_AT + size], "little")    # byte i holds points 8i+1..8i+8
        reading.add(_grid("Nikon:AFPointsUsed", [names[i] for i in bits(mask, len(names))], shift))
        if 1 <= primary <= len(names):
            reading.add(_grid("Nikon:PrimaryAFPoint", [names[primary - 1]], shift))


def _grid(source: str, names: list[str], shift: int) -> AfRecord | None:
    """Grid names ("C6", "A1") as (column, row) offsets from C6."""
    cells = []
    for name in names:
        row, column = "ABCDE".index(name[0]) - 2, int(name[1:])
        cells.append((column + (shift if row in (-2, 2) else 0) - 6, row))
    return grid_record(source, cells, _GRID_PITCH)
