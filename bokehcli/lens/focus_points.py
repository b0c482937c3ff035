"""Where the camera focused: AF records from every source, validated, in upright pixels.

Decoders (maker notes, EXIF, XMP) describe what they read as ``AfRecord``s: the source tag
and a list of AF areas, each a centre and a size in the units of the record's frame (origin
at the frame's top-left corner, y down, in the *stored* orientation; size 0 where the record
gives none). ``place_focus`` keeps the first record that passes validation, in the order of
``PRECEDENCE`` (most specific first):

1. maker-note AF areas with in-focus flags: Canon AFInfo3, AFInfo2, AFInfo; Nikon AFInfo2's
   contrast-detect area;
2. a focus position the maker note records without flags: Olympus AFAreas then
   AFPointSelected, Sony FocusLocation, Fujifilm FocusPixel, Panasonic and Casio
   AFPointPosition;
3. EXIF SubjectArea, then SubjectLocation;
4. XMP: Google's GFocus FocalPointX/Y, then MWG regions of type Focus;
5. named AF points in focus (Canon ShotInfo, Nikon AFPointsInFocus and AFPointsUsed, Pentax
   AFPointsInFocus), placed where ``af_named`` puts that point in the frame;
6. points the camera selected, without an in-focus flag (Canon AFPointsSelected where fewer
   than all, Canon AFPoint, Nikon AFPoint and PrimaryAFPoint, Pentax AFPointSelected).

A record is rejected with a warning, never repaired, when an area's centre lies outside its
frame, a value is not finite, a size is negative or larger than the frame, or the frame itself
is empty; the next record is then tried. The chosen areas are scaled from their frame to the
stored image (``x_px = x / frame_w * width``), then turned upright by the EXIF Orientation
(``upright_point``). Face regions (MWG, Fujifilm FacePositions) go the same way in
``place_faces``, where a face must also have a size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PRECEDENCE = (
    "Canon:AFInfo3", "Canon:AFInfo2", "Canon:AFInfo", "Nikon:AFInfo2",
    "Olympus:AFAreas", "Olympus:AFPointSelected", "Sony:FocusLocation", "Fujifilm:FocusPixel",
    "Panasonic:AFPointPosition", "Casio:AFPointPosition",
    "EXIF:SubjectArea", "EXIF:SubjectLocation",
    "XMP:GFocus", "XMP:mwg-rs:Focus",
    "Canon:ShotInfo", "Nikon:AFPointsInFocus", "Nikon:AFPointsUsed", "Pentax:AFPointsInFocus",
    "Canon:AFPointsSelected", "Canon:AFPoint", "Nikon:AFPoint", "Nikon:PrimaryAFPoint", "Pentax:AFPointSelected",
)
FACE_PRECEDENCE = ("XMP:mwg-rs:Face", "Fujifilm:FacePositions")
MAX_AREAS = 1024        # more areas than any AF system has: a misread count


@dataclass(frozen=True)
class AfArea:
    """One area: centre ``(x, y)`` and ``width`` x ``height`` in its record's frame units."""

    x: float
    y: float
    width: float = 0.0
    height: float = 0.0


@dataclass(frozen=True)
class AfRecord:
    """What one tag says. ``frame`` is the (width, height) the areas are measured in:
    ``(1, 1)`` for fractions of the image, None for pixels of the EXIF image
    (PixelX/YDimension), or the record's own coordinate system (Canon AFImageWidth/Height)."""

    source: str
    areas: tuple[AfArea, ...]
    frame: tuple[float, float] | None = (1.0, 1.0)


@dataclass(frozen=True)
class Placement:
    """Areas of the chosen record in upright pixels: centres, their boxes and the source."""

    points: list[tuple[float, float]]
    boxes: list[tuple[float, float, float, float]]
    source: str | None

    @property
    def bounding_box(self) -> tuple[float, float, float, float] | None:
        if not self.boxes:
            return None
        x0s, y0s, x1s, y1s = zip(*self.boxes)
        return min(x0s), min(y0s), max(x1s), max(y1s)



def place_focus(records: list[AfRecord], image: tuple[int, int] | None, exif_frame: tuple[int, int] | None,
                orientation: int | None, warnings: list[str]) -> Placement:
    """The first valid record by ``PRECEDENCE``; ``image`` is the stored (width, height)."""
    return _place(sorted(records, key=lambda r: PRECEDENCE.index(r.source)), image, exif_frame,
                  orientation, warnings, need_size=False)


def place_faces(records: list[AfRecord], image: tuple[int, int] | None, exif_frame: tuple[int, int] | None,
                orientation: int | None, warnings: list[str]) -> Placement:
    """The first valid face record by ``FACE_PRECEDENCE``; each face is its box."""
    return _place(sorted(records, key=lambda r: FACE_PRECEDENCE.index(r.source)), image, exif_frame,
                  orientation, warnings, need_size=True)


def _place(records, image, exif_frame, orientation, warnings, need_size: bool) -> Placement:
    for record in records:
        fractions = _fractions(record, exif_frame or image, need_size, warnings)
        if fractions is None:
            continue
        if image is None or not (image[0] > 0 and image[1] > 0):
            warnings.append(f"image size unknown: cannot place the focus point ({record.source})")
            break
        return _upright(fractions, image, orientation, record.source)
    return Placement([], [], None)


def _fractions(record: AfRecord, exif_frame, need_size: bool, warnings: list[str]) -> list[AfArea] | None:
    """The record's areas as fractions of its frame, or None (with a warning) when invalid."""
    frame = record.frame or exif_frame
    if frame is None or not all(math.isfinite(v) and v > 0 for v in frame):
        warnings.append(f"ignored focus record without a usable frame size ({record.source})")
        return None
    if not record.areas or len(record.areas) > MAX_AREAS:
        warnings.append(f"ignored focus record with {len(record.areas)} areas ({record.source})")
        return None
    frame_w, frame_h = frame
    out = []
    for area in record.areas:
        scaled = AfArea(area.x / frame_w, area.y / frame_h, area.width / frame_w, area.height / frame_h)
        values = (scaled.x, scaled.y, scaled.width, scaled.height)
        if not all(math.isfinite(v) for v in values):
            warnings.append(f"ignored focus record with non-numeric values ({record.source})")
            return None
        if not (0.0 <= scaled.x <= 1.0 and 0.0 <= scaled.y <= 1.0):
            warnings.append(f"ignored focus point outside the frame ({record.source})")
            return None
        if not (0.0 <= scaled.width <= 1.0 and 0.0 <= scaled.height <= 1.0) or \
                (need_size and not (scaled.width > 0 and scaled.height > 0)):
            warnings.append(f"ignored focus area of impossible size ({record.source})")
            return None
        out.append(scaled)
    return out


def _upright(areas: list[AfArea], image: tuple[int, int], orientation: int | None, source: str) -> Placement:
    width, height = image
    points, boxes = [], []
    for area in areas:
        cx, cy = area.x * width, area.y * height
        half_w, half_h = area.width * width / 2, area.height * height / 2
        corners = (max(cx - half_w, 0.0), max(cy - half_h, 0.0),
                   min(cx + half_w, float(width)), min(cy + half_h, float(height)))
        points.append(upright_point(cx, cy, width, height, orientation))
        boxes.append(upright_box(corners, width, height, orientation))
    return Placement(points, boxes, source)


def upright_point(x: float, y: float, width: float, height: float, orientation: int | None) -> tuple[float, float]:
    """Stored-frame pixel coordinates ``(x, y)`` (image ``width`` x ``height``, origin top-left,
    y down) in the frame the EXIF ``orientation`` displays: 1 as stored, 2 mirrored left-right,
    3 turned 180 degrees, 4 mirrored top-bottom, 5 transposed, 6 turned 90 degrees clockwise,
    7 transversed, 8 turned 90 degrees counter-clockwise. Unknown values count as 1."""
    return {
        2: (width - x, y),
        3: (width - x, height - y),
        4: (x, height - y),
        5: (y, x),
        6: (height - y, x),
        7: (height - y, width - x),
        8: (y, width - x),
    }.get(orientation, (x, y))


def upright_box(box: tuple[float, float, float, float], width: float, height: float,
                orientation: int | None) -> tuple[float, float, float, float]:
    """A stored-frame box ``(x0, y0, x1, y1)`` as the upright box covering the same pixels."""
    (ax, ay), (bx, by) = (upright_point(box[0], box[1], width, height, orientation),
                          upright_point(box[2], box[3], width, height, orientation))
    return min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)
