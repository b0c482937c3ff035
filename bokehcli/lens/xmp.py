"""Focus distance from XMP packets (Adobe aux, EXIF-in-XMP, Google GFocus).

XMP is XML, but we only need three simple properties, written either as attributes
(``aux:ApproximateFocusDistance="81/100"``) or as elements; a bounded regular expression
reads both without building a parser (no entity expansion, linear time).
"""

from __future__ import annotations

import math
import re

MAX_XMP_BYTES = 1 << 20
# (source name, property) in SPEC §2 order. aux: and exif: values are rationals or decimals in
# metres; GFocus:FocalDistance (Google depth photos) is a decimal in metres.
_PROPERTIES = (
    ("XMP:aux:ApproximateFocusDistance", "aux:ApproximateFocusDistance"),
    ("XMP:exif:SubjectDistance", "exif:SubjectDistance"),
    ("XMP:GFocus:FocalDistance", "GFocus:FocalDistance"),
)
_NUMBER = r"\s*([0-9.eE+-]{1,32}(?:/[0-9.eE+-]{1,32})?)\s*"
_INFINITY_RATIONAL = "4294967295/1"


def read_xmp_focus(packets: list[bytes]) -> tuple[str, float] | None:
    """First focus distance (metres, ``math.inf`` allowed) found in the packets, with its source."""
    text = b"".join(packets)[:MAX_XMP_BYTES].decode("utf-8", "replace")
    for source, name in _PROPERTIES:
        for pattern in (rf'{name}="{_NUMBER}"', rf"{name}='{_NUMBER}'", rf"<{name}>{_NUMBER}</{name}>"):
            match = re.search(pattern, text)
            value = _parse(match.group(1)) if match else None
            if value is not None:
                return source, value
    return None


def _parse(text: str) -> float | None:
    if text == _INFINITY_RATIONAL:
        return math.inf
    try:
        if "/" in text:
            num, den = (float(part) for part in text.split("/", 1))
            value = num / den if den else math.nan
        else:
            value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None
