"""Canon maker note: focus distance from ShotInfo (0x0004) or FileInfo (0x0093); AF points.

The note is a bare IFD whose offsets count from the TIFF header. Editors that move the note
leave the original offset in an 8-byte footer (``II*\\0`` or ``MM\\0*`` + u32 offset); the
difference to the note's current position is the base correction.

Both arrays hold u16 with element 0 = byte size. ShotInfo 19/20 and FileInfo 20/21 are the
upper/lower focus distance. EOS bodies record centimetres with 65535 = infinity. PowerShot
compacts write only the upper value (lower 0): in centimetres, as ExifTool reads it, except the
first generation (2001-2002, ``_MILLIMETRE_MODEL_IDS`` by the ModelID tag 0x0010), which records
millimetres (the corpus evidence: docs/lens-metadata.md#canon-compacts). Other compacts are read
in centimetres with a warning that the scale is uncertain. EXIF SubjectDistance, where present,
is preferred anyway (docs/lens-metadata.md#focus-distance-sources; the maker note's warnings are
reported only when its distance is the one used).

Where the camera focused (``read_af``): AFInfo (0x0012, older models) and AFInfo2 (0x0026) /
AFInfo3 (0x003C, same layout) are u16 arrays, n = NumAFPoints:

    AFInfo:  n, valid, image w, h, AF frame w, h, area w, h, X[n], Y[n], in-focus bits
    AFInfo2: size, AFAreaMode, n, valid, image w, h, AF frame w, h, W[n], H[n], X[n], Y[n],
             in-focus bits, selected bits (EOS)

Positions are int16 offsets of each area's centre from the centre of the AF frame (AF frame
w x h). y grows upwards on EOS bodies and downwards on PowerShot/IXUS compacts. The bit masks
take ceil(n / 16) words, bit i of word k being point 16k + i; only points below ``valid``
exist. AFAreaMode 0 and CameraSettings FocusMode 3 or 6 mean manual focus: no AF point.
Older models record only names: ShotInfo element 14 (0x3000 + bits Right 1, Center 2, Left 4;
0x3000 alone is manual focus) and CameraSettings element 19 (the selected point).
"""

from __future__ import annotations

import math
import struct

from ..af_named import bits, named_record
from ..focus_points import AfArea, AfRecord
from .base import AfReading, LensName, Note, Reading, first_int, lens_text, shorts, signed16

_SHOT_INFO, _FILE_INFO = 0x0004, 0x0093
_INFINITY_RAW = 0xFFFF
_CAMERA_SETTINGS, _AF_INFO, _AF_INFO2, _AF_INFO3 = 0x0001, 0x0012, 0x0026, 0x003C
_FOCUS_MODE_AT, _SELECTED_POINT_AT, _SHOT_POINTS_AT = 7, 19, 14
_FOCAL_RANGE_AT, _FOCAL_UNITS_AT = (23, 24), 25       # CameraSettings: longest, shortest focal; units per mm
_MANUAL_FOCUS_MODES = (3, 6)
_SHOT_MANUAL = 0x3000
_SHOT_POINT_BITS = ("Right", "Center", "Left")          # bits 0..2 of ShotInfo element 14
_SELECTED_POINT = {0x3002: "Right", 0x3003: "Center", 0x3004: "Left"}
_LENS_MODEL = 0x0095      # ASCII, e.g. "EF-S18-55mm f/3.5-5.6 IS"
_MODEL_ID = 0x0010
# Compacts whose ShotInfo focus distance is in millimetres, each shown so by a corpus photo
# (docs/lens-metadata.md#canon-compacts): EXIF SubjectDistance exactly a tenth of the centimetre
# reading, a face's size, or the scene.
_MILLIMETRE_MODEL_IDS = {
    0x1040000: "PowerShot S300 / Digital IXUS 300",
    0x1060000: "PowerShot A20",
    0x1100000: "PowerShot G2",
    0x1110000: "PowerShot S40",
    0x1120000: "PowerShot S30",
    0x1130000: "PowerShot A40",
    0x1160000: "PowerShot S200 / Digital IXUS v2",
}
_MAX_AF_POINTS = 4096        # the densest Canon AF systems record about a thousand areas


def read(note: Note) -> Reading | None:
    base = _base_correction(note)
    tags = note.ifd(0, base=base)
    if not tags:
        return None
    is_eos = "EOS" in note.model.upper()
    for tag, upper_at, source in ((_SHOT_INFO, 19, "Canon:ShotInfo"), (_FILE_INFO, 20, "Canon:FileInfo")):
        values = shorts(tags.get(tag))
        if len(values) <= upper_at + 1:
            continue
        upper, lower = values[upper_at], values[upper_at + 1]
        if upper == 0:
            continue
        if is_eos:
            near, far = sorted((_metres(lower), _metres(upper)))      # some bodies swap the two
            return Reading(source, (near, far) if lower else (_metres(upper),))
        if first_int(tags.get(_MODEL_ID)) in _MILLIMETRE_MODEL_IDS:
            return Reading(source, (upper / 1000.0,))
        return Reading(source, (_metres(upper),),
                       warnings=["Canon compact focus distance has an uncertain scale "
                                 "(read as cm; some models record mm)"])
    return None


def read_lens(note: Note) -> LensName | None:
    """LensModel (EOS bodies), and the zoom range from CameraSettings: elements 23 and 24 are the
    longest and shortest focal length in FocalUnits (element 25) per mm; f-numbers unknown."""
    tags = note.ifd(0, base=_base_correction(note))
    named = LensName(lens_text(tags.get(_LENS_MODEL)), "Canon:LensModel")
    settings = shorts(tags.get(_CAMERA_SETTINGS))
    if len(settings) > _FOCAL_UNITS_AT and settings[_FOCAL_UNITS_AT] > 0:
        longest, shortest = (settings[at] / settings[_FOCAL_UNITS_AT] for at in _FOCAL_RANGE_AT)
        if 0 < shortest <= longest:
            named.spec, named.spec_source = (shortest, longest, 0.0, 0.0), "Canon:CameraSettings"
    return named if named.model or named.spec else None


def read_af(note: Note) -> AfReading:
    """AF areas in focus (AFInfo3, AFInfo2, AFInfo) and named points (ShotInfo, AFPoint)."""
    tags = note.ifd(0, base=_base_correction(note))
    reading = AfReading()
    settings = shorts(tags.get(_CAMERA_SETTINGS))
    if len(settings) > _FOCUS_MODE_AT and settings[_FOCUS_MODE_AT] in _MANUAL_FOCUS_MODES:
        if any(tag in tags for tag in (_AF_INFO, _AF_INFO2, _AF_INFO3)):
            reading.refuse_manual("Canon:CameraSettings")
        return reading
    is_eos = "EOS" in note.model.upper()
    for tag, source in ((_AF_INFO3, "Canon:AFInfo3"), (_AF_INFO2, "Canon:AFInfo2"), (_AF_INFO, "Canon:AFInfo")):
        values = shorts(tags.get(tag))
        if values:
            for record in _af_info(values, tag == _AF_INFO, is_eos, source, reading.warnings):
                reading.add(record)
    shot = shorts(tags.get(_SHOT_INFO))
    if len(shot) > _SHOT_POINTS_AT and shot[_SHOT_POINTS_AT] >> 4 == _SHOT_MANUAL >> 4:
        if shot[_SHOT_POINTS_AT] == _SHOT_MANUAL:
            reading.warnings.append("manual focus (Canon:ShotInfo): no AF point")
        names = [_SHOT_POINT_BITS[i] for i in bits(shot[_SHOT_POINTS_AT], 3)]
        reading.add(named_record("Canon:ShotInfo", names))
    if len(settings) > _SELECTED_POINT_AT and settings[_SELECTED_POINT_AT] in _SELECTED_POINT:
        reading.add(named_record("Canon:AFPoint", [_SELECTED_POINT[settings[_SELECTED_POINT_AT]]]))
    return reading


def _af_info(values: list[int], old: bool, is_eos: bool, source: str, warnings: list[str]) -> list[AfRecord]:
    """The in-focus areas of an AFInfo (``old``) or AFInfo2/3 array, and for EOS bodies without
    any in focus, the selected ones when they are fewer than all."""
    head = 8        # both layouts keep their fixed fields in the first 8 values
    if len(values) < head:
        warnings.append(f"ignored truncated {source}")
        return []
    if old:
        n, valid, frame, size = values[0], values[1], (values[4], values[5]), (values[6], values[7])
        arrays = 2
    else:
        if values[1] == 0:
            warnings.append(f"manual focus ({source} AFAreaMode): no AF point")
            return []
        n, valid, frame, size = values[2], values[3], (values[6], values[7]), None
        arrays = 4
    words = (n + 15) // 16
    masks_at = head + arrays * n
    if not 0 < n <= _MAX_AF_POINTS or len(values) < masks_at + words:
        warnings.append(f"ignored garbled {source} ({n} AF points in {len(values)} values)")
        return []
    offsets = [signed16(v) for v in values[head:masks_at]]
    if old:
        xs, ys = offsets[:n], offsets[n:]
        widths, heights = [size[0]] * n, [size[1]] * n
    else:
        widths, heights, xs, ys = (offsets[i * n:(i + 1) * n] for i in range(4))
    y_up = -1 if is_eos else 1

    def record(name: str, indices: list[int]) -> list[AfRecord]:
        # A garbled count of valid points may exceed the points the arrays hold; so may a mask bit.
        if any(i >= min(valid, n) for i in indices):
            warnings.append(f"ignored garbled {source}: AF point beyond the {min(valid, n)} valid ones")
            return []
        areas = tuple(AfArea(frame[0] / 2 + xs[i], frame[1] / 2 + y_up * ys[i], widths[i], heights[i])
                      for i in indices)
        return [AfRecord(name, areas, frame)]

    in_focus = _bit_list(values[masks_at:masks_at + words])
    if in_focus:
        return record(source, in_focus)
    selected = _bit_list(values[masks_at + words:masks_at + 2 * words]) if is_eos and not old else []
    if 0 < len(selected) < valid:
        return record("Canon:AFPointsSelected", selected)
    return []


def _bit_list(words: list[int]) -> list[int]:
    """Point indices set in a mask of 16-bit words (bit i of word k is point 16k + i)."""
    return [16 * k + i for k, word in enumerate(words) for i in bits(word, 16)]


def _metres(raw: int) -> float:
    return math.inf if raw == _INFINITY_RAW else raw / 100.0


def _base_correction(note: Note) -> int:
    """Offset to add to the note's TIFF-relative offsets (non-zero when an editor moved it)."""
    footer = note.data[-8:]
    if len(footer) == 8 and footer[:4] in (b"II*\0", b"MM\0*"):
        order = "<" if footer[:2] == b"II" else ">"
        (original,) = struct.unpack(order + "I", footer[4:])
        return note.pos - original
    return 0
