"""XMP of photos: read beside the pixels, carried to the outputs.

XMP (RDF/XML) holds what a photo's cataloguer keeps beside EXIF: creator, rights, rating,
keywords, Lightroom's settings, named face regions; in a JPEG it may continue in *extended*
XMP (APP1 portions named by the MD5 digest of the rest, see ``bokehcli.lens.container``).
Outputs keep all of it, parsed and written anew rather than copied byte for byte:

- parsed with defusedxml (no DTD, no entity expansion: time linear in the size, which is
  capped at one APP1 segment for the main packet and ``MAX_EXTENDED_XMP_BYTES`` for the
  extended one), so what is written is well-formed XML of our own making whatever the source
  held (comments and processing instructions are dropped, namespace prefixes kept);
- stamped with what the render changed: ``exif:FNumber``/``exif:ApertureValue`` (where the
  packet records them) become the rendered aperture, ``tiff:Orientation`` 1 and the pixel
  sizes the output's (pixels are stored upright), MWG region areas turned into that upright
  frame, new ``xmp:MetadataDate``/``xmp:ModifyDate`` and ``xmpMM:InstanceID``, and an
  ``xmpMM:History`` event (action ``derived``, the rendering as its parameters); Google's
  depth map and original image (GDepth, GImage) are dropped from a photo whose pixels were
  turned upright: they are images in the source's unrotated frame;
- JPEG: the main packet in one APP1 segment; the extended packet re-serialised and split into
  portions, its new MD5 digest named in the main packet's ``xmpNote:HasExtendedXMP``.
  PNG (iTXt ``XML:com.adobe.xmp``) and TIFF (tag 700) have no segment limit: the extended
  packet's descriptions join the main one.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import math
import struct
import uuid
from dataclasses import dataclass
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError, SubElement

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from PIL import Image

from .. import __version__

X_META = "adobe:ns:meta/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XML_NS = "http://www.w3.org/XML/1998/namespace"
XMP_BASIC = "http://ns.adobe.com/xap/1.0/"
XMP_MM = "http://ns.adobe.com/xap/1.0/mm/"
ST_EVT = "http://ns.adobe.com/xap/1.0/sType/ResourceEvent#"
XMP_NOTE = "http://ns.adobe.com/xmp/note/"
EXIF_NS = "http://ns.adobe.com/exif/1.0/"
TIFF_NS = "http://ns.adobe.com/tiff/1.0/"
MWG_RS = "http://www.metadataworkinggroup.com/schemas/regions/"
ST_AREA = "http://ns.adobe.com/xmp/sType/Area#"
ST_DIM = "http://ns.adobe.com/xap/1.0/sType/Dimensions#"
# Google's depth map and original image, stored in the source's unrotated frame.
STORED_FRAME_IMAGES = ("http://ns.google.com/photos/1.0/depthmap/", "http://ns.google.com/photos/1.0/image/")
# The prefixes the XMP specification uses, for namespaces the stamp adds to a packet.
USUAL_PREFIXES = {X_META: "x", RDF: "rdf", XMP_BASIC: "xmp", XMP_MM: "xmpMM", ST_EVT: "stEvt", XMP_NOTE: "xmpNote",
                  EXIF_NS: "exif", TIFF_NS: "tiff", MWG_RS: "mwg-rs", ST_AREA: "stArea", ST_DIM: "stDim"}

XMP_APP1_ID = b"http://ns.adobe.com/xap/1.0/\0"
EXTENDED_APP1_ID = b"http://ns.adobe.com/xmp/extension/\0"
MAX_APP1_BODY = 65533                                   # a JPEG segment's length field counts itself
MAX_MAIN_XMP_BYTES = MAX_APP1_BODY - len(XMP_APP1_ID)
EXTENDED_PORTION_BYTES = 65400                          # + 35-byte id + 40-byte header < one segment
MAX_EXTENDED_XMP_BYTES = 64 << 20     # also caps a PNG's or TIFF's packet, which no segment limits
MAX_DEPTH = 64                        # real packets nest a dozen elements deep
_PADDING_BYTES = 2048           # room for an editor to change the packet in place, as the spec advises
_WRAPPER = ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>', '<?xpacket end="w"?>')


@dataclass(frozen=True)
class SourceXmp:
    """A photo's XMP as stored: standard packets and extended-XMP portions (JPEG only)."""

    packets: tuple[bytes, ...]
    extended: tuple = ()        # bokehcli.lens.container.ExtendedXmpChunk


@dataclass(frozen=True)
class XmpStamp:
    """What the render changed: the aperture, the upright pixel size, the source's EXIF
    orientation (now applied to the pixels) and a line describing the rendering."""

    f_number: float | None
    size_wh: tuple[int, int]
    orientation: int = 1
    description: str | None = None


@dataclass(frozen=True)
class OutputXmp:
    """The XMP to write: the main packet, and for a JPEG the extended packet and its GUID."""

    main: bytes
    extended: bytes | None = None
    guid: str | None = None


def read_xmp(path: Path, im: Image.Image) -> SourceXmp | None:
    """The XMP of an open photo: a JPEG's APP1 packets and extended portions (its segments
    are walked again: Pillow keeps no extended XMP), else the packet Pillow found."""
    from ..lens.container import jpeg_blocks

    if im.format in ("JPEG", "MPO"):
        with open(path, "rb") as fh:
            blocks = jpeg_blocks(fh)
        packets, extended = tuple(blocks.xmp), tuple(blocks.extended_xmp)
    else:
        packet = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
        if packet is None and hasattr(im, "tag_v2"):
            packet = im.tag_v2.get(700)
        packet = packet.encode("utf-8") if isinstance(packet, str) else packet
        packets, extended = ((bytes(packet),) if isinstance(packet, (bytes, bytearray)) and packet else ()), ()
    return SourceXmp(packets, extended) if packets else None


def output_xmp(source: SourceXmp, stamp: XmpStamp, fmt: str, name: str) -> tuple[OutputXmp | None, list[str]]:
    """The source's XMP stamped with ``stamp`` and serialised for ``fmt``; warnings name
    ``name`` and say what could not be kept (a packet that is not XMP keeps nothing)."""
    try:
        return _output_xmp(source, stamp, fmt, name)
    except ValueError as exc:
        return None, [f"{name}: XMP not carried to the output: {exc}"]
    # A packet of a shape no rule here foresaw must cost its XMP, not the render.
    except Exception as exc:  # noqa: BLE001
        return None, [f"{name}: XMP not carried to the output: unusable ({type(exc).__name__})"]


def _output_xmp(source: SourceXmp, stamp: XmpStamp, fmt: str, name: str) -> tuple[OutputXmp | None, list[str]]:
    notes: list[str] = []
    main, prefixes = parse_xmp(source.packets[0], MAX_EXTENDED_XMP_BYTES)
    extended = _extended_tree(main, source, prefixes, name, notes)
    trees = [main] + ([extended] if extended is not None else [])
    _stamp(trees, stamp)
    extended_bytes = guid = None
    if extended is not None and fmt == "jpeg":
        extended_bytes = serialise(extended, prefixes, wrap=False)
        guid = hashlib.md5(extended_bytes).hexdigest().upper()
        _set(trees, XMP_NOTE, "HasExtendedXMP", guid)
    elif extended is not None:
        _rdf(main).extend(_rdf(extended))          # one packet: its descriptions join the main one
        _remove(main, XMP_NOTE, "HasExtendedXMP")
    main_bytes = serialise(main, prefixes, wrap=MAX_MAIN_XMP_BYTES if fmt == "jpeg" else True)
    if fmt == "jpeg" and len(main_bytes) > MAX_MAIN_XMP_BYTES:
        raise ValueError("larger than one JPEG segment")
    return OutputXmp(main_bytes, extended_bytes, guid), notes


def jpeg_segments(xmp: OutputXmp) -> list[bytes]:
    """APP1 bodies: the main packet, then the extended packet's portions (GUID, full length,
    offset, data)."""
    bodies = [XMP_APP1_ID + xmp.main]
    if xmp.extended is not None:
        total = len(xmp.extended)
        for offset in range(0, total, EXTENDED_PORTION_BYTES):
            header = struct.pack(">32sII", xmp.guid.encode("ascii"), total, offset)
            bodies.append(EXTENDED_APP1_ID + header + xmp.extended[offset:offset + EXTENDED_PORTION_BYTES])
    return bodies


def insert_app1(jpeg: bytes, bodies: list[bytes]) -> bytes:
    """``jpeg`` with APP1 segments holding ``bodies`` after its leading APP0/APP1 segments (the
    JFIF header and EXIF Pillow wrote): XMP readers look for it among the first segments."""
    pos = 2
    while pos + 4 <= len(jpeg) and jpeg[pos] == 0xFF and jpeg[pos + 1] in (0xE0, 0xE1):
        pos += 2 + int.from_bytes(jpeg[pos + 2:pos + 4], "big")
    segments = b"".join(b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body for body in bodies)
    return jpeg[:pos] + segments + jpeg[pos:]


def parse_xmp(packet: bytes, max_bytes: int) -> tuple[Element, dict[str, str]]:
    """The packet's tree (rooted at ``x:xmpmeta``; a bare ``rdf:RDF`` gets one) and the prefix its
    writer bound to each namespace URI. ValueError: too large or too deep, not XML, a DTD, not XMP."""
    if len(packet) > max_bytes:
        raise ValueError(f"a packet of {len(packet)} bytes is over the {max_bytes} bytes bokeh reads")
    start, end = packet.find(b"<"), packet.rfind(b">")
    prefixes: dict[str, str] = {}
    root, depth = None, 0
    try:
        for event, item in SafeET.iterparse(io.BytesIO(packet[max(start, 0):end + 1]),
                                            events=("start-ns", "start", "end"), forbid_dtd=True):
            if event == "start-ns":
                prefixes.setdefault(item[1], item[0])
            elif event == "start":
                depth += 1
                if depth > MAX_DEPTH:       # the serialiser recurses once per level
                    raise ValueError(f"elements nested over {MAX_DEPTH} deep")
            else:
                depth -= 1
                root = item
    except DefusedXmlException:
        raise ValueError("it declares a DTD or entities, which bokeh refuses to expand") from None
    except ParseError as exc:
        raise ValueError(f"not well-formed XML ({' '.join(str(exc).split())[:120]})") from None
    if root is not None and root.tag == f"{{{RDF}}}RDF":
        wrapper = Element(f"{{{X_META}}}xmpmeta")
        wrapper.append(root)
        root = wrapper
    if root is None or root.tag != f"{{{X_META}}}xmpmeta" or root.find(f"{{{RDF}}}RDF") is None:
        raise ValueError("not an XMP packet (no x:xmpmeta / rdf:RDF)")
    return root, prefixes


def serialise(root: Element, prefixes: dict[str, str], wrap: int | bool = True) -> bytes:
    """UTF-8 XML of ``root`` with every namespace declared once on it under the source's prefix
    (else the usual one, else ``nsN``). ``wrap``: inside an ``<?xpacket?>`` wrapper, padded with
    up to 2 KB of spaces that fit within ``wrap`` bytes when it is a number."""
    used = sorted({_split(name)[0] for element in root.iter() for name in (element.tag, *element.attrib)} - {"", XML_NS})
    names: dict[str, str] = {XML_NS: "xml"}
    for uri in used:
        wanted = prefixes.get(uri) or USUAL_PREFIXES.get(uri) or "ns"
        prefix, n = wanted, 1
        while prefix in names.values() or prefix.lower().startswith("xml"):
            prefix, n = f"{wanted}{n}", n + 1
        names[uri] = prefix
    parts: list[str] = []
    declarations = "".join(f' xmlns:{names[uri]}="{_escape(uri, True)}"' for uri in used)
    _write(root, names, parts, declarations)
    body = "".join(parts)
    if not wrap:
        return body.encode("utf-8")
    head, tail = _WRAPPER
    text = (head + body).encode("utf-8")
    room = _PADDING_BYTES if wrap is True else max(0, min(_PADDING_BYTES, int(wrap) - len(text) - len(tail) - 1))
    return text + b"\n" + b" " * room + tail.encode("ascii")


def _write(element: Element, names: dict[str, str], parts: list[str], declarations: str = "") -> None:
    tag = _qualified(element.tag, names)
    attributes = "".join(f' {_qualified(k, names)}="{_escape(v, True)}"' for k, v in element.attrib.items())
    parts.append(f"<{tag}{declarations}{attributes}")
    if element.text is None and len(element) == 0:
        parts.append("/>")
    else:
        parts.append(">" + _escape(element.text or "", False))
        for child in element:
            _write(child, names, parts)
            parts.append(_escape(child.tail or "", False))
        parts.append(f"</{tag}>")


def _split(name: str) -> tuple[str, str]:
    """``{uri}local`` -> (uri, local); a name without a namespace -> ("", name)."""
    return tuple(name[1:].split("}", 1)) if name.startswith("{") else ("", name)


def _qualified(name: str, names: dict[str, str]) -> str:
    uri, local = _split(name)
    return f"{names[uri]}:{local}" if uri else local


def _escape(text: str, attribute: bool) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if attribute:  # a parser normalises raw whitespace in attributes: keep it as character references
        text = text.replace('"', "&quot;").replace("\t", "&#9;").replace("\n", "&#10;").replace("\r", "&#13;")
    return text.replace("\r", "&#13;")


def _extended_tree(main: Element, source: SourceXmp, prefixes: dict[str, str], name: str,
                   notes: list[str]) -> Element | None:
    """The extended packet the main one names, parsed (its prefixes join ``prefixes``); None
    when it names none or it is unusable (then a note says so)."""
    from ..lens.embedded_depth.model import DepthProblem
    from ..lens.embedded_depth.xmpdoc import extended_guid, reassemble

    try:
        guid = extended_guid(main, name)
        if guid is None:
            return None
        tree, found = parse_xmp(reassemble(list(source.extended), guid, name), MAX_EXTENDED_XMP_BYTES)
    except DepthProblem as exc:
        problem = exc.problem
    except ValueError as exc:
        problem = str(exc)
    else:
        for uri, prefix in found.items():
            prefixes.setdefault(uri, prefix)
        return tree
    _remove(main, XMP_NOTE, "HasExtendedXMP")
    notes.append(f"{name}: extended XMP not carried to the output: {problem}")
    return None


def _rdf(root: Element) -> Element:
    return root.find(f"{{{RDF}}}RDF")


def _descriptions(root: Element) -> list[Element]:
    return _rdf(root).findall(f"{{{RDF}}}Description")


def _first_description(root: Element) -> Element:
    """The packet's first ``rdf:Description`` (one is made in an empty ``rdf:RDF``)."""
    found = _descriptions(root)
    return found[0] if found else SubElement(_rdf(root), f"{{{RDF}}}Description", {f"{{{RDF}}}about": ""})


def _properties(root: Element, ns: str, name: str) -> list[str]:
    """Every simple value of property ``ns:name`` on the packet's descriptions."""
    key = f"{{{ns}}}{name}"
    values = []
    for description in _descriptions(root):
        if key in description.attrib:
            values.append(description.attrib[key])
        values += [(child.text or "").strip() for child in description.findall(key) if len(child) == 0]
    return values


def _remove(root: Element, ns: str, name: str) -> None:
    key = f"{{{ns}}}{name}"
    for description in _descriptions(root):
        description.attrib.pop(key, None)
        for child in description.findall(key):
            description.remove(child)


def _remove_everywhere(trees: list[Element], ns: str, name: str) -> None:
    for tree in trees:
        _remove(tree, ns, name)


def _set(trees: list[Element], ns: str, name: str, value: str) -> None:
    """Property ``ns:name`` = ``value``, once, as an attribute of the main packet's first
    description (a property may be stated once per packet set)."""
    _remove_everywhere(trees, ns, name)
    _first_description(trees[0]).set(f"{{{ns}}}{name}", value)


def _stamp(trees: list[Element], stamp: XmpStamp) -> None:
    """Record the rendering in the packets (``trees[0]`` the main one); see the module docstring."""
    from .write import exif_rational   # here: the writer imports this module

    def present(ns: str, name: str) -> bool:
        return any(_properties(tree, ns, name) for tree in trees)

    width, height = stamp.size_wh
    if stamp.f_number is not None:
        for name, value in (("FNumber", stamp.f_number), ("ApertureValue", 2 * math.log2(stamp.f_number))):
            if present(EXIF_NS, name) and value >= 0:   # APEX Av is unsigned (f-numbers below 1 have none)
                rational = exif_rational(value)
                _set(trees, EXIF_NS, name, f"{rational.numerator}/{rational.denominator}")
    for ns, name, value in ((TIFF_NS, "Orientation", 1), (EXIF_NS, "PixelXDimension", width),
                            (EXIF_NS, "PixelYDimension", height), (TIFF_NS, "ImageWidth", width),
                            (TIFF_NS, "ImageLength", height)):
        if present(ns, name):
            _set(trees, ns, name, str(value))
    if stamp.orientation != 1:
        for tree in trees:
            _upright_regions(tree, stamp.orientation, stamp.size_wh)
            _drop_namespaces(tree, STORED_FRAME_IMAGES)
    now = datetime.datetime.now(datetime.timezone.utc).astimezone().isoformat(timespec="seconds")
    instance = f"xmp.iid:{uuid.uuid4()}"
    _set(trees, XMP_BASIC, "ModifyDate", now)
    _set(trees, XMP_BASIC, "MetadataDate", now)
    _set(trees, XMP_MM, "InstanceID", instance)
    event = {"action": "derived", "instanceID": instance, "when": now, "softwareAgent": f"bokeh {__version__}",
             "parameters": stamp.description or "rendered with bokeh"}
    item = SubElement(_history(trees), f"{{{RDF}}}li", {f"{{{RDF}}}parseType": "Resource"})
    for field, value in event.items():
        SubElement(item, f"{{{ST_EVT}}}{field}").text = value


def _drop_namespaces(root: Element, namespaces: tuple[str, ...]) -> None:
    """Remove every property of ``namespaces`` from the packet's descriptions."""
    for description in _descriptions(root):
        for key in [key for key in description.attrib if _split(key)[0] in namespaces]:
            del description.attrib[key]
        for child in [child for child in description if _split(child.tag)[0] in namespaces]:
            description.remove(child)


def _history(trees: list[Element]) -> Element:
    """The ``rdf:Seq`` of ``xmpMM:History``, created in the main packet when there is none (a
    History written otherwise, not as the ordered list XMP defines, is replaced)."""
    for tree in trees:
        for description in _descriptions(tree):
            for history in description.findall(f"{{{XMP_MM}}}History"):
                seq = history.find(f"{{{RDF}}}Seq")
                if seq is not None:
                    return seq
    _remove_everywhere(trees, XMP_MM, "History")
    history = SubElement(_first_description(trees[0]), f"{{{XMP_MM}}}History")
    return SubElement(history, f"{{{RDF}}}Seq")


# Where a point (x, y) of the stored frame lands in the upright frame, in fractions of each:
# EXIF orientations 5..8 swap the axes (and so a region's width and height).
_UPRIGHT = {2: lambda x, y: (1 - x, y), 3: lambda x, y: (1 - x, 1 - y), 4: lambda x, y: (x, 1 - y),
            5: lambda x, y: (y, x), 6: lambda x, y: (1 - y, x), 7: lambda x, y: (1 - y, 1 - x),
            8: lambda x, y: (y, 1 - x)}


def _upright_regions(root: Element, orientation: int, upright_wh: tuple[int, int]) -> None:
    """MWG region areas (normalised centre and size) and their ``AppliedToDimensions`` turned
    from the stored frame into the upright one, as the pixels were. Regions whose writer measured
    them upright already (``AppliedToDimensions`` the upright size of a photo whose orientation
    swaps the axes, as ``bokehcli.lens.xmp_regions`` reads them) are left as they are."""
    swap = orientation >= 5
    for regions in root.iter(f"{{{MWG_RS}}}Regions"):
        dims = _fields(regions.find(f"{{{MWG_RS}}}AppliedToDimensions"), ST_DIM)
        dims_w, dims_h = _number(dims.get("w")), _number(dims.get("h"))
        if swap and (dims_w, dims_h) == upright_wh and upright_wh[0] != upright_wh[1]:
            continue
        for area in regions.iter(f"{{{MWG_RS}}}Area"):
            fields = _fields(area, ST_AREA)
            if fields.get("unit", "normalized") != "normalized":
                continue
            values = [_number(fields.get(key)) for key in "xywh"]
            if None in values[:2]:
                continue
            x, y = _UPRIGHT[orientation](values[0], values[1])
            w, h = (values[3], values[2]) if swap else (values[2], values[3])
            _put_fields(area, ST_AREA, {"x": x, "y": y, "w": w, "h": h})
        if swap and dims_w is not None and dims_h is not None:
            _put_fields(regions.find(f"{{{MWG_RS}}}AppliedToDimensions"), ST_DIM, {"w": dims_h, "h": dims_w})


def _struct_nodes(element: Element | None) -> list[Element]:
    """The nodes holding a struct's fields: the element, or its ``rdf:Description``."""
    if element is None:
        return []
    return [element] + element.findall(f"{{{RDF}}}Description")


def _fields(element: Element | None, ns: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for node in _struct_nodes(element):
        for key, value in node.attrib.items():
            if _split(key)[0] == ns:
                found.setdefault(_split(key)[1], value)
        for child in node:
            if _split(child.tag)[0] == ns and len(child) == 0:
                found.setdefault(_split(child.tag)[1], (child.text or "").strip())
    return found


def _put_fields(element: Element, ns: str, values: dict[str, float | None]) -> None:
    for node in _struct_nodes(element):
        for name, value in values.items():
            if value is None:
                continue
            text = f"{value:.6g}"
            key = f"{{{ns}}}{name}"
            if key in node.attrib:
                node.set(key, text)
            for child in node.findall(key):
                child.text = text


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None
