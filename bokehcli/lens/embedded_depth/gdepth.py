"""Google depth map metadata: GDepth (the map) and GFocus (the focus) in a JPEG's XMP.

Google Camera's lens-blur and portrait JPEGs describe the map in the main XMP packet
(``GDepth:Format``, ``Near``, ``Far``, ``Units``, ``Mime``) and store it base64-encoded in
``GDepth:Data``, usually in extended XMP because it does not fit one APP1 segment. Defaults
are the published ones: Format RangeInverse, Mime image/jpeg, Units m (``mm`` also exists).
The map is stretched to fit the colour image, pixel for pixel the stored (not yet rotated)
frame. ``GFocus:FocalDistance`` is in the map's units; ``FocalPointX``/``Y`` are fractions of
the image width and height.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from xml.etree.ElementTree import Element

from ...depthio import resize_depth
from ..container import Blocks
from .maps import fit_to_photo, open_map, range_to_depth, samples, upright_point
from .model import DepthProblem, EmbeddedDepth
from .xmpdoc import base64_value, document_properties, extended_guid, packet_with, parse_packet, real, reassemble

GDEPTH = "http://ns.google.com/photos/1.0/depthmap/"
GFOCUS = "http://ns.google.com/photos/1.0/focus/"
_METRES_PER_UNIT = {"m": 1.0, "mm": 0.001}


@dataclass
class _Found:
    source: str
    depth: dict[str, str]      # GDepth properties, main packet first
    focus: dict[str, str]      # GFocus properties


def _locate(blocks: Blocks) -> _Found | None:
    """The GDepth description of a JPEG, extended XMP reassembled when the map lives there."""
    source = "GDepth (XMP)"
    main = packet_with(blocks.xmp, GDEPTH, source)
    if main is None:
        return None
    packets = [main]
    if "Data" not in document_properties(main, GDEPTH):
        guid = extended_guid(main, source)
        if guid is None:
            raise DepthProblem(source, "GDepth:Data is missing")
        source = "GDepth (extended XMP)"
        packets.append(parse_packet(reassemble(blocks.extended_xmp, guid, source), source, "extended XMP"))
    return _Found(source, _merged(packets, GDEPTH), _merged(packets, GFOCUS))


def _merged(packets: list[Element], namespace: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for packet in packets:
        for name, value in document_properties(packet, namespace).items():
            found.setdefault(name, value)
    return found


def describe(blocks: Blocks) -> str | None:
    """``"<source> <w>x<h> <image format> <encoding>"`` of the stored map, None without one."""
    found = _locate(blocks)
    if found is None:
        return None
    im = _map_image(found)
    _depth_of(np.zeros((0, 0)), found)          # checks the encoding and range without the pixels
    return f"{found.source} {im.size[0]}x{im.size[1]} {im.format} {_encoding(found)}"


def read(blocks: Blocks, size_wh: tuple[int, int], orientation: int | None) -> EmbeddedDepth | None:
    """The GDepth map as depth (metres unless the units are unknown) fitted to the photo."""
    found = _locate(blocks)
    if found is None:
        return None
    unit_m = _unit_m(found)
    depth = fit_to_photo(_depth_of(samples(_map_image(found), found.source), found), orientation, size_wh,
                         found.source, resize_depth)
    focus_xy, focus_m = recorded_focus(found.focus, unit_m or 1.0, orientation, size_wh, found.source)
    return EmbeddedDepth(depth_m=depth, metric=unit_m is not None, source=found.source, focus_xy=focus_xy,
                         focus_m=focus_m)


def _unit_m(found: _Found) -> float | None:
    """Metres per map unit; None for units other than the published m and mm."""
    return _METRES_PER_UNIT.get(found.depth.get("Units", "m").strip().lower())


def _depth_of(dn: np.ndarray, found: _Found) -> np.ndarray:
    """Normalised samples -> depth in metres (map units when those are unknown)."""
    props, source = found.depth, found.source
    depth = range_to_depth(dn, _encoding(found), real(props, "Near", source, "GDepth"),
                           real(props, "Far", source, "GDepth"), source)
    return depth * np.float32(_unit_m(found) or 1.0)


def recorded_focus(focus: dict[str, str], unit_m: float, orientation: int | None, size_wh: tuple[int, int],
                   source: str) -> tuple[tuple[float, float] | None, float | None]:
    """GFocus point (upright pixels) and distance (times ``unit_m``). The focus is extra to the
    map: a value that is not a number or out of its range (a fraction outside [0, 1], a distance
    not positive and finite) counts as absent rather than spoiling the map."""
    def number(name: str) -> float | None:
        try:
            return real(focus, name, source, "GFocus")
        except DepthProblem:
            return None

    x_frac, y_frac, distance = number("FocalPointX"), number("FocalPointY"), number("FocalDistance")
    point = None
    if x_frac is not None and y_frac is not None and 0.0 <= x_frac <= 1.0 and 0.0 <= y_frac <= 1.0:
        point = upright_point(x_frac, y_frac, orientation, size_wh)
    focus_m = distance * unit_m if distance is not None and math.isfinite(distance) and distance > 0 else None
    return point, focus_m


def _encoding(found: _Found) -> str:
    return found.depth.get("Format", "RangeInverse").strip()


def _map_image(found: _Found):
    raw = base64_value(found.depth.get("Data", ""), found.source, "GDepth:Data")
    return open_map(raw, found.depth.get("Mime", "image/jpeg"), found.source)
