"""Focus distance from XMP packets (Adobe aux, EXIF-in-XMP, Google GFocus).

XMP is XML, but we only need three simple properties, written either as attributes
(``aux:ApproximateFocusDistance="81/100"``) or as elements; bounded regular expressions read
both without building a parser (no entity expansion, linear time). Properties are matched by
namespace, not by a fixed prefix: a packet may bind any prefix to the aux namespace, and
``myaux:`` is not ``aux:``. Comments are ignored.
"""

from __future__ import annotations

import math
import re

MAX_XMP_BYTES = 1 << 20
# (source name, namespace URI, usual prefix, property) in SPEC §2 order. aux: and exif: values
# are rationals or decimals in metres; GFocus:FocalDistance (Google depth photos) is a decimal
# in metres.
_PROPERTIES = (
    ("XMP:aux:ApproximateFocusDistance", "http://ns.adobe.com/exif/1.0/aux/", "aux", "ApproximateFocusDistance"),
    ("XMP:exif:SubjectDistance", "http://ns.adobe.com/exif/1.0/", "exif", "SubjectDistance"),
    ("XMP:GFocus:FocalDistance", "http://ns.google.com/photos/1.0/focus/", "GFocus", "FocalDistance"),
)
_NUMBER = r"\s*([0-9.eE+-]{1,32}(?:/[0-9.eE+-]{1,32})?)\s*"
_INFINITY_RATIONAL = "4294967295/1"
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_DECLARATION = re.compile(r"""xmlns:([A-Za-z_][\w.-]{0,63})\s*=\s*["']([^"']{0,200})["']""")


def read_xmp_focus(packets: list[bytes]) -> tuple[str, float] | None:
    """First focus distance (metres, ``math.inf`` allowed) found in the packets, with its source."""
    text = _COMMENT.sub("", b"".join(packets)[:MAX_XMP_BYTES].decode("utf-8", "replace"))
    bound = {prefix: uri for prefix, uri in _DECLARATION.findall(text)}
    for source, uri, usual, name in _PROPERTIES:
        # the usual prefix also counts where the packet (or fragment) does not bind it elsewhere
        prefixes = [p for p, u in bound.items() if u == uri] + ([usual] if usual not in bound else [])
        for prefix in prefixes:
            qname = re.escape(f"{prefix}:{name}")
            for pattern in (rf'(?<![\w.:-]){qname}\s*=\s*"{_NUMBER}"', rf"(?<![\w.:-]){qname}\s*=\s*'{_NUMBER}'",
                            rf"<{qname}(?:\s[^<>]{{0,200}})?>{_NUMBER}</{qname}>"):
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
