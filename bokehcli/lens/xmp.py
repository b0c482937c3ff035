"""Focus distance from XMP packets (Adobe aux, EXIF-in-XMP, Google GFocus).

XMP is XML, but we only need a few simple properties, written either as attributes
(``aux:ApproximateFocusDistance="81/100"``) or as elements; bounded regular expressions read
both without building a parser (no entity expansion). Everything here runs in time linear in the
packet, which is capped at ``MAX_XMP_BYTES``: comments are cut by one forward scan (a regular
expression over unclosed ``<!--`` would rescan the rest of the packet from each one). Properties are matched by
namespace, not by a fixed prefix: a packet may bind any prefix to the aux namespace, and
``myaux:`` is not ``aux:``. Comments are ignored.
"""

from __future__ import annotations

import math
import re

MAX_XMP_BYTES = 1 << 20
# (source name, namespace URI, usual prefix, property) in precedence order
# (docs/lens-metadata.md#focus-distance-sources). aux: and exif: values are rationals or decimals
# in metres; GFocus:FocalDistance (Google depth photos) is a decimal in metres.
_PROPERTIES = (
    ("XMP:aux:ApproximateFocusDistance", "http://ns.adobe.com/exif/1.0/aux/", "aux", "ApproximateFocusDistance"),
    ("XMP:exif:SubjectDistance", "http://ns.adobe.com/exif/1.0/", "exif", "SubjectDistance"),
    ("XMP:GFocus:FocalDistance", "http://ns.google.com/photos/1.0/focus/", "GFocus", "FocalDistance"),
)
_NUMBER = r"\s*([0-9.eE+-]{1,32}(?:/[0-9.eE+-]{1,32})?)\s*"
_INFINITY_RATIONAL = "4294967295/1"
_PREFIX = r"[A-Za-z_][\w.-]{0,63}"
_DECLARATION = re.compile(rf"""xmlns:({_PREFIX})\s*=\s*["']([^"']{{0,200}})["']""")
# A property as an attribute in double or single quotes, or as an element: (prefix, name, value).
_NAMES = "|".join(name for *_, name in _PROPERTIES)
_FORMS = (re.compile(rf'(?<![\w.:-])({_PREFIX}):({_NAMES})\s*=\s*"{_NUMBER}"'),
          re.compile(rf"(?<![\w.:-])({_PREFIX}):({_NAMES})\s*=\s*'{_NUMBER}'"),
          re.compile(rf"<({_PREFIX}):({_NAMES})(?:\s[^<>]{{0,200}})?>{_NUMBER}</\1:\2>"))


def xmp_text(packets: list[bytes]) -> str:
    """The packets as one string, capped at ``MAX_XMP_BYTES`` and with comments removed."""
    return strip_comments(b"".join(packets)[:MAX_XMP_BYTES].decode("utf-8", "replace"))


def strip_comments(text: str) -> str:
    """``text`` without ``<!-- ... -->`` comments; an unclosed one runs to the end. One pass:
    every character is looked at a bounded number of times."""
    kept, pos = [], 0
    while (start := text.find("<!--", pos)) >= 0:
        kept.append(text[pos:start])
        end = text.find("-->", start + 4)
        if end < 0:
            return "".join(kept)
        pos = end + 3
    kept.append(text[pos:])
    return "".join(kept)


def read_xmp_focus(packets: list[bytes]) -> tuple[str, float] | None:
    """First focus distance (metres, ``math.inf`` allowed) found in the packets, with its source.

    Each way of writing a property is searched once for every prefix at the same time (not once
    per bound prefix: a packet can bind tens of thousands of prefixes, each search reading the
    whole packet); the first value of each (form, prefix, property) is kept."""
    text = xmp_text(packets)
    bound = {prefix: uri for prefix, uri in _DECLARATION.findall(text)}
    written: dict[tuple[int, str, str], str] = {}
    for form, pattern in enumerate(_FORMS):
        for match in pattern.finditer(text):
            written.setdefault((form, match.group(1), match.group(2)), match.group(3))
    for source, uri, usual, name in _PROPERTIES:
        # the usual prefix also counts where the packet (or fragment) does not bind it elsewhere
        prefixes = [p for p, u in bound.items() if u == uri] + ([usual] if usual not in bound else [])
        for prefix in prefixes:
            for form in range(len(_FORMS)):
                raw = written.get((form, prefix, name))
                value = _parse(raw) if raw is not None else None
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
