"""The standard EXIF subject position: SubjectArea (0x9214) and SubjectLocation (0xA214).

Both are SHORT pixel coordinates in the main image (PixelX/YDimension), stored orientation.
SubjectArea holds 2 values for a point (x, y), 3 for a circle (centre x, y, diameter d) and
4 for a rectangle (centre x, y, width, height); SubjectLocation holds a point. Any other
count is garbage and is refused with a warning.
"""

from __future__ import annotations

from .exif import Exif
from .focus_points import AfArea, AfRecord
from .tiff import Entry


def subject_records(exif: Exif, warnings: list[str]) -> list[AfRecord]:
    records = []
    for entry, source, counts in ((exif.subject_area, "EXIF:SubjectArea", (2, 3, 4)),
                                  (exif.subject_location, "EXIF:SubjectLocation", (2,))):
        record = _record(entry, source, counts, warnings) if entry is not None else None
        if record is not None:
            records.append(record)
    return records


def _record(entry: Entry, source: str, counts: tuple[int, ...], warnings: list[str]) -> AfRecord | None:
    if entry.type != 3 or entry.count not in counts or len(entry.data) != 2 * entry.count:
        warnings.append(f"ignored {source} with {entry.count} values")
        return None
    values = entry.numbers()
    x, y = values[0], values[1]
    if len(values) == 3:
        area = AfArea(x, y, values[2], values[2])
    elif len(values) == 4:
        area = AfArea(x, y, values[2], values[3])
    else:
        area = AfArea(x, y)
    return AfRecord(source, (area,), frame=None)
