"""Where the subject is, from XMP: MWG regions (faces, focus) and Google's GFocus focal point.

MWG regions (``mwg-rs:Regions``, written by phones and photo managers) are a list of
structures, each with an ``mwg-rs:Area`` (``stArea:x``/``y`` = the area's centre and
``stArea:w``/``h`` its size, all fractions of the image when ``stArea:unit`` is
``normalized``) and an ``mwg-rs:Type`` (``Face``, ``Focus``, ...). A ``Focus`` region is a
focus point only when its ``mwg-rs:FocusUsage`` is ``EvaluatedUsed``. The coordinates describe
the stored pixels (a viewer that only changes the EXIF Orientation leaves them valid), except
that ``mwg-rs:AppliedToDimensions`` equal to the *upright* size of a rotated image, not the
stored one, says the writer measured them upright; they are then turned back to the stored
frame here so that every record reaches ``focus_points`` in one frame. GFocus
``FocalPointX``/``Y`` are fractions of the image.

RDF writes a property either as an attribute or as a child element, and a structure either
as ``rdf:parseType="Resource"`` or through an ``rdf:Description``; all forms are read.
The packets are scanned by ``_parse`` in one forward pass over ``xmp_text`` (capped, comments
removed), with bounded element depth and count, so hostile packets cost linear time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .focus_points import AfArea, AfRecord
from .xmp import xmp_text

_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_MWG_RS = "http://www.metadataworkinggroup.com/schemas/regions/"
_ST_AREA = "http://ns.adobe.com/xmp/sType/Area#"
_ST_DIM = "http://ns.adobe.com/xap/1.0/sType/Dimensions#"
_GFOCUS = "http://ns.google.com/photos/1.0/focus/"
# the prefixes these namespaces are bound to by convention, used where a fragment lacks xmlns
_USUAL = {"rdf": _RDF, "mwg-rs": _MWG_RS, "stArea": _ST_AREA, "stDim": _ST_DIM, "GFocus": _GFOCUS}
MAX_ELEMENTS = 100_000
MAX_DEPTH = 64
MAX_REGIONS = 256


@dataclass
class XmpRegions:
    focus: list[AfRecord] = field(default_factory=list)
    faces: list[AfRecord] = field(default_factory=list)


def read_xmp_regions(packets: list[bytes], warnings: list[str],
                     stored_size: tuple[int, int] | None = None, orientation: int | None = None) -> XmpRegions:
    """MWG face and focus regions and the GFocus focal point of the packets (stored frame)."""
    root = _parse(xmp_text(packets))
    out = XmpRegions()
    focal = _gfocus(root)
    if focal is not None:
        out.focus.append(focal)
    regions = next(root.find(_MWG_RS, "Regions"), None)
    if regions is not None:
        faces, focus = _mwg(_resource(regions), warnings, stored_size, orientation)
        if faces:
            out.faces.append(AfRecord("XMP:mwg-rs:Face", tuple(faces)))
        if focus:
            out.focus.append(AfRecord("XMP:mwg-rs:Focus", tuple(focus)))
    return out


@dataclass
class _Node:
    """An element: namespace URI, local name, attributes by (URI, local name), text, children."""

    uri: str
    name: str
    attrs: dict[tuple[str, str], str] = field(default_factory=dict)
    children: list[_Node] = field(default_factory=list)
    text: str = ""

    def find(self, uri: str, name: str):
        """Every descendant element ``uri``:``name``, depth first."""
        stack = list(reversed(self.children))
        while stack:
            node = stack.pop()
            if node.uri == uri and node.name == name:
                yield node
            stack.extend(reversed(node.children))

    def child(self, uri: str, name: str) -> _Node | None:
        return next((c for c in self.children if c.uri == uri and c.name == name), None)

    def value(self, uri: str, name: str) -> str | None:
        """A simple property of this resource: an attribute or a child element's text."""
        if (uri, name) in self.attrs:
            return self.attrs[(uri, name)].strip()
        node = self.child(uri, name)
        return node.text.strip() if node is not None else None


def _resource(node: _Node) -> _Node:
    """The node that carries a structure's fields: an inner rdf:Description, or the node."""
    inner = node.child(_RDF, "Description")
    return inner if inner is not None else node


def _gfocus(root: _Node) -> AfRecord | None:
    for node in root.find(_RDF, "Description"):
        x, y = _number(node.value(_GFOCUS, "FocalPointX")), _number(node.value(_GFOCUS, "FocalPointY"))
        if x is not None and y is not None:
            return AfRecord("XMP:GFocus", (AfArea(x, y),))
    return None


def _mwg(regions: _Node, warnings, stored_size, orientation) -> tuple[list[AfArea], list[AfArea]]:
    listed = regions.child(_MWG_RS, "RegionList")
    container = next((c for c in listed.children if c.uri == _RDF), None) if listed is not None else None
    items = [c for c in container.children if c.uri == _RDF and c.name == "li"] if container is not None else []
    if len(items) > MAX_REGIONS:
        warnings.append(f"ignored {len(items)} MWG regions (XMP:mwg-rs): more than any photo holds")
        return [], []
    upright = _measured_upright(regions, stored_size, orientation)
    faces, focus = [], []
    for item in items:
        region = _resource(item)
        kind = region.value(_MWG_RS, "Type")
        area_node = region.child(_MWG_RS, "Area")
        area = _area(_resource(area_node)) if area_node is not None else None
        if area is None:
            continue
        if upright:
            area = _to_stored(area, orientation)
        if kind == "Face":
            faces.append(area)
        elif kind == "Focus" and region.value(_MWG_RS, "FocusUsage") == "EvaluatedUsed":
            focus.append(area)
    return faces, focus


def _area(node: _Node) -> AfArea | None:
    unit = node.value(_ST_AREA, "unit")
    values = [_number(node.value(_ST_AREA, key)) for key in ("x", "y", "w", "h")]
    if unit not in (None, "normalized") or values[0] is None or values[1] is None:
        return None
    return AfArea(values[0], values[1], values[2] or 0.0, values[3] or 0.0)


def _measured_upright(regions: _Node, stored_size, orientation) -> bool:
    """True when AppliedToDimensions is the upright size of an image stored on its side."""
    dims = regions.child(_MWG_RS, "AppliedToDimensions")
    if dims is None or stored_size is None or orientation not in (5, 6, 7, 8):
        return False
    dims = _resource(dims)
    w, h = _number(dims.value(_ST_DIM, "w")), _number(dims.value(_ST_DIM, "h"))
    width, height = stored_size
    return width != height and (w, h) == (float(height), float(width))


def _to_stored(area: AfArea, orientation: int) -> AfArea:
    """An upright-frame area (fractions) in the stored frame: the inverse of the orientation."""
    x, y = area.x, area.y
    stored = {5: (y, x), 6: (y, 1 - x), 7: (1 - y, 1 - x), 8: (1 - y, x)}[orientation]
    return AfArea(stored[0], stored[1], area.height, area.width)


def _number(text: str | None) -> float | None:
    if text is None or len(text) > 32:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _parse(text: str) -> _Node:
    """A tolerant element tree of the XMP text, in one forward scan.

    Tags are found with ``str.find``; attribute values end at their closing quote (a tag
    whose quote never closes ends there). Namespace prefixes resolve through the ``xmlns``
    declarations in scope, else the conventional prefixes. Close tags pop the stack back to
    their match (unmatched ones are ignored), so broken nesting cannot loop.
    """
    root = _Node("", "")
    stack: list[tuple[_Node, dict[str, str], str]] = [(root, _USUAL, "")]
    pos, count = 0, 0
    while (start := text.find("<", pos)) >= 0 and count < MAX_ELEMENTS:
        end = text.find(">", start + 1)
        if end < 0:
            break
        node, scope, _ = stack[-1]
        if not node.children and not node.text.strip():    # a simple value is one run of text
            node.text = text[pos:start]
        tag, pos = text[start + 1:end], end + 1
        if tag.startswith(("?", "!")):
            continue
        if tag.startswith("/"):
            qname = tag[1:].strip()
            for depth in range(len(stack) - 1, 0, -1):
                if stack[depth][2] == qname:
                    del stack[depth:]
                    break
            continue
        closed = tag.endswith("/")
        qname, attrs = _tag(tag[:-1] if closed else tag)
        count += 1
        if qname is None or len(stack) > MAX_DEPTH:
            continue
        declared = {k[6:]: v for k, v in attrs if k.startswith("xmlns:")}
        scope = {**scope, **declared} if declared else scope
        uri, name = _resolve(qname, scope)
        element = _Node(uri, name, {_resolve(k, scope): v for k, v in attrs if not k.startswith("xmlns")})
        node.children.append(element)
        if not closed:
            stack.append((element, scope, qname))
    return root


def _tag(body: str) -> tuple[str | None, list[tuple[str, str]]]:
    """The qualified name of a start tag and its ``name="value"`` attributes."""
    parts = body.split(None, 1)
    if not parts:
        return None, []
    attrs, rest, pos = [], parts[1] if len(parts) > 1 else "", 0
    while (eq := rest.find("=", pos)) >= 0:
        names = rest[pos:eq].split()
        q = eq + 1
        while q < len(rest) and rest[q].isspace():
            q += 1
        if not names or q >= len(rest) or rest[q] not in "\"'":
            break
        close = rest.find(rest[q], q + 1)
        if close < 0:
            break
        attrs.append((names[-1], _unescape(rest[q + 1:close])))
        pos = close + 1
    return parts[0], attrs


def _resolve(qname: str, scope: dict[str, str]) -> tuple[str, str]:
    prefix, _, local = qname.rpartition(":")
    return scope.get(prefix, ""), local


def _unescape(text: str) -> str:
    return text.replace("&quot;", '"').replace("&apos;", "'").replace("&lt;", "<").replace("&gt;", ">") \
        .replace("&amp;", "&")
