"""Android Dynamic Depth 1.0: a depth map appended after the primary JPEG.

The primary image's XMP holds a ``Device`` whose ``Container:Directory`` lists the items stored
back to back after the primary JPEG (``Item:Mime``, ``Length``, ``Padding``, ``DataURI``), the
first item being the primary image itself, and whose ``Camera:DepthMap`` says how to read the
map (``Format``, ``Near``, ``Far``, ``Units``) and which item holds it (``DepthURI``).
Item ``k`` starts at the end of the primary JPEG plus the primary's padding plus
``Length + Padding`` of items ``1 .. k-1``. The end of the primary JPEG is found by walking its
segments and scanning its entropy-coded data for the end-of-image marker (0xFF bytes in
entropy-coded data are always followed by 0x00 or a restart marker, so the scan cannot stop
early).
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass

import numpy as np

from ...depthio import resize_depth
from ..container import Blocks
from .gdepth import GFOCUS, recorded_focus
from .maps import fit_to_photo, open_map, range_to_depth, samples
from .model import DepthProblem, EmbeddedDepth
from .xmpdoc import document_properties, packet_with, properties, real

SOURCE = "Dynamic Depth"
_DD = "http://ns.google.com/photos/dd/1.0/"
CONTAINER, ITEM, CAMERA, DEPTH_MAP = (_DD + name + "/" for name in ("container", "item", "camera", "depthmap"))
MAX_ITEM_BYTES = 256 << 20
_MAX_ITEM_FIELD = 1 << 40


@dataclass
class _Found:
    depth: dict[str, str]        # DepthMap properties
    focus: dict[str, str]        # GFocus properties, if the packet has them
    mime: str
    offset: int                  # from the end of the primary JPEG
    length: int


def _locate(blocks: Blocks) -> _Found | None:
    main = packet_with(blocks.xmp, DEPTH_MAP, SOURCE)
    if main is None:
        return None
    maps = [properties(element, DEPTH_MAP) for element in main.iter(f"{{{CAMERA}}}DepthMap")]
    maps = [props for props in maps if props.get("ItemSemantic", "Depth").strip().lower() != "segmentation"]
    if not maps:
        raise DepthProblem(SOURCE, "no Camera:DepthMap element describes a depth map")
    depth = maps[0]
    uri = depth.get("DepthURI")
    if not uri:
        raise DepthProblem(SOURCE, "DepthMap:DepthURI is missing")
    items = [properties(element, ITEM) for element in main.iter(f"{{{CONTAINER}}}Item")]
    index = next((i for i, item in enumerate(items) if item.get("DataURI") == uri), None)
    if index is None:
        raise DepthProblem(SOURCE, f"no Container item holds DepthURI {uri[:60]!r}")
    if index == 0:
        raise DepthProblem(SOURCE, "DepthURI names the primary image, not an appended item")
    offset = _field(items[0], "Padding", 0)
    for item in items[1:index]:
        offset += _field(item, "Length", None) + _field(item, "Padding", 0)
    length = _field(items[index], "Length", None)
    if not 0 < length <= MAX_ITEM_BYTES:
        raise DepthProblem(SOURCE, f"depth item length {length} is implausible")
    return _Found(depth, document_properties(main, GFOCUS), items[index].get("Mime", ""), offset, length)


def _field(item: dict[str, str], name: str, default: int | None) -> int:
    text = item.get(name)
    if text is None:
        if default is None:
            raise DepthProblem(SOURCE, f"a Container item has no Item:{name}")
        return default
    try:
        value = int(text.strip())
    except ValueError:
        raise DepthProblem(SOURCE, f"Item:{name} {text[:40]!r} is not an integer") from None
    if not 0 <= value < _MAX_ITEM_FIELD:
        raise DepthProblem(SOURCE, f"Item:{name} {value} is out of range")
    return value


def _item_bytes(path: str | os.PathLike, found: _Found) -> bytes:
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
        end = jpeg_end(data)
        if end is None:
            raise DepthProblem(SOURCE, "the end of the primary JPEG cannot be found")
        start = end + found.offset
        if start + found.length > len(data):
            raise DepthProblem(SOURCE, f"the depth item ({found.length} bytes at {start}) lies beyond the end "
                                       f"of the file ({len(data)} bytes): it was cut off or stripped")
        return data[start:start + found.length]


def jpeg_end(data) -> int | None:
    """Offset just past the end-of-image marker of the JPEG at ``data[0]`` (a bytes-like
    object with ``find``), or None when its structure breaks first. Linear in its length."""
    size = len(data)
    if data[:2] != b"\xff\xd8":
        return None
    pos = 2
    while pos + 2 <= size:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:                              # fill byte before a marker
            pos += 1
            continue
        if marker == 0xD9:
            return pos + 2
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:    # markers without a length
            pos += 2
            continue
        if pos + 4 > size:
            return None
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if length < 2:
            return None
        pos += 2 + length
        if marker == 0xDA:                              # a scan: skip its entropy-coded data
            pos = _scan_end(data, pos)
            if pos is None:
                return None
    return None


def _scan_end(data, pos: int) -> int | None:
    """Position of the first marker after entropy-coded data starting at ``pos``."""
    size = len(data)
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= size:
            return None
        following = data[pos + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7:   # stuffed 0xFF or restart marker
            pos += 2
        elif following == 0xFF:                                # fill
            pos += 1
        else:
            return pos


def describe(blocks: Blocks, path: str | os.PathLike) -> str | None:
    found = _locate(blocks)
    if found is None:
        return None
    im = open_map(_item_bytes(path, found), found.mime, SOURCE)
    _depth_of(np.zeros((0, 0)), found)          # checks the encoding and range without the pixels
    return f"{SOURCE} {im.size[0]}x{im.size[1]} {im.format} {found.depth.get('Format', '?').strip()}"


def read(blocks: Blocks, path: str | os.PathLike, size_wh: tuple[int, int],
         orientation: int | None) -> EmbeddedDepth | None:
    """The Dynamic Depth map fitted to the photo; metres when its Units are Meters (the
    other published units, Diopters and None, mark data that is not metrically accurate)."""
    found = _locate(blocks)
    if found is None:
        return None
    dn = samples(open_map(_item_bytes(path, found), found.mime, SOURCE), SOURCE)
    depth = fit_to_photo(_depth_of(dn, found), orientation, size_wh, SOURCE, resize_depth)
    focus_xy, focus_m = recorded_focus(found.focus, 1.0, orientation, size_wh, SOURCE)
    return EmbeddedDepth(depth_m=depth, metric=found.depth.get("Units", "").strip().lower() == "meters",
                         source=SOURCE, focus_xy=focus_xy, focus_m=focus_m)


def _depth_of(dn: np.ndarray, found: _Found) -> np.ndarray:
    props = found.depth
    return range_to_depth(dn, props.get("Format", "").strip(), real(props, "Near", SOURCE, "DepthMap"),
                          real(props, "Far", SOURCE, "DepthMap"), SOURCE)
