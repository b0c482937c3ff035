"""XMP packets as XML trees, extended XMP reassembled and checked, base64 property values.

Depth readers need nested RDF structures (lists of items, cameras) and megabyte-long base64
values, which the focus reader's bounded regular expressions are not made for. The packets
are parsed with defusedxml: no DTD, no entity expansion, so a hostile packet costs time
linear in its size, which is capped (one APP1 segment for a standard packet,
``MAX_EXTENDED_XMP_BYTES`` for an extended one).

Extended XMP (XMP Specification Part 3, JPEG): when the serialized XMP exceeds one APP1
segment, the main packet names the rest with ``xmpNote:HasExtendedXMP`` = a GUID, the 32
upper-case hex digits of the MD5 digest of the extended packet, which is split into portions
each stored with that GUID, the packet's full length and the portion's offset. Portions may
come in any order; portions with another GUID belong to nothing and are ignored.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import string
from typing import Iterable
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from ..container import ExtendedXmpChunk
from .model import DepthProblem

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XMP_NOTE = "http://ns.adobe.com/xmp/note/"
MAX_EXTENDED_XMP_BYTES = 64 << 20    # a 12 MP 16-bit PNG map in base64 is ~30 MB
_GUID_DIGITS = 32


def parse_packet(packet: bytes, source: str, what: str = "XMP") -> Element:
    """The XML tree of one packet: from its first ``<`` to its last ``>`` (a JPEG APP1 body
    starts with the namespace identifier; padding and NULs may follow the packet)."""
    start, end = packet.find(b"<"), packet.rfind(b">")
    if start < 0 or end < start:
        raise DepthProblem(source, f"the {what} holds no XML")
    try:
        return SafeET.fromstring(packet[start:end + 1])
    except DefusedXmlException:
        raise DepthProblem(source, f"the {what} declares a DTD or entities, which bokeh refuses to expand") from None
    except (ParseError, ValueError) as exc:
        raise DepthProblem(source, f"the {what} is not well-formed XML ({exc})") from None


def packet_with(packets: Iterable[bytes], namespace: str, source: str) -> Element | None:
    """The parsed first packet that mentions ``namespace``, or None when none does."""
    marker = namespace.encode()
    for packet in packets:
        if marker in packet:
            return parse_packet(packet, source)
    return None


def properties(element: Element, namespace: str) -> dict[str, str]:
    """Simple properties of ``namespace`` on one RDF resource, by local name.

    RDF writes a property as an attribute (``GDepth:Near="1.5"``), as a child element with text
    (``<GDepth:Near>1.5</GDepth:Near>``), or inside a nested ``rdf:Description`` (the form of
    struct fields); all three count, the first occurrence wins.
    """
    found: dict[str, str] = {}
    prefix = f"{{{namespace}}}"
    for name, value in element.attrib.items():
        if name.startswith(prefix):
            found.setdefault(name[len(prefix):], value)
    for child in element:
        if child.tag == f"{{{RDF}}}Description":
            for name, value in properties(child, namespace).items():
                found.setdefault(name, value)
        elif isinstance(child.tag, str) and child.tag.startswith(prefix) and len(child) == 0:
            found.setdefault(child.tag[len(prefix):], (child.text or "").strip())
    return found


def document_properties(root: Element, namespace: str) -> dict[str, str]:
    """``properties`` of every ``rdf:Description`` of a packet, merged (first one wins)."""
    found: dict[str, str] = {}
    for description in root.iter(f"{{{RDF}}}Description"):
        for name, value in properties(description, namespace).items():
            found.setdefault(name, value)
    return found


def extended_guid(main: Element, source: str) -> str | None:
    """The main packet's ``xmpNote:HasExtendedXMP`` GUID, None when it names none."""
    guid = document_properties(main, XMP_NOTE).get("HasExtendedXMP")
    if guid is None:
        return None
    if len(guid) != _GUID_DIGITS or any(ch not in string.hexdigits for ch in guid):
        raise DepthProblem(source, f"xmpNote:HasExtendedXMP {guid[:40]!r} is not an MD5 GUID")
    return guid.upper()


def reassemble(chunks: list[ExtendedXmpChunk], guid: str, source: str) -> bytes:
    """The extended packet named ``guid``, from its portions in any order.

    Checks that portions with that GUID exist, agree on the full length (at most
    ``MAX_EXTENDED_XMP_BYTES``), neither overlap nor leave gaps, end exactly at the full
    length, and that the MD5 digest of the result is the GUID.
    """
    mine = sorted((chunk for chunk in chunks if chunk.guid.upper() == guid), key=lambda chunk: chunk.offset)
    if not mine:
        other = " (its portions carry another GUID)" if chunks else ""
        raise DepthProblem(source, f"the extended XMP {guid} is missing{other}")
    lengths = {chunk.full_length for chunk in mine}
    if len(lengths) > 1:
        raise DepthProblem(source, f"extended XMP portions disagree on its length ({sorted(lengths)[:4]})")
    total = lengths.pop()
    if total > MAX_EXTENDED_XMP_BYTES:
        raise DepthProblem(source, f"extended XMP of {total} bytes is larger than the "
                                   f"{MAX_EXTENDED_XMP_BYTES >> 20} MiB bokeh reads")
    filled = 0
    for chunk in mine:
        if chunk.offset < filled:
            raise DepthProblem(source, f"extended XMP portion at offset {chunk.offset} overlaps the one before "
                                       f"it (duplicated or misplaced)")
        if chunk.offset > filled:
            raise DepthProblem(source, f"extended XMP bytes {filled}..{chunk.offset} are missing")
        filled = chunk.offset + len(chunk.data)
        if filled > total:
            raise DepthProblem(source, f"extended XMP portion at offset {chunk.offset} runs past its "
                                       f"length {total}")
    if filled < total:
        raise DepthProblem(source, f"extended XMP is incomplete: {filled} of {total} bytes present")
    packet = b"".join(chunk.data for chunk in mine)
    if hashlib.md5(packet).hexdigest().upper() != guid:
        raise DepthProblem(source, "extended XMP does not match its MD5 digest (GUID): the data is damaged")
    return packet


def base64_value(text: str, source: str, name: str) -> bytes:
    """A base64 property value (whitespace ignored) as bytes; anything else is a problem."""
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise DepthProblem(source, f"{name} is not valid base64") from None


def real(props: dict[str, str], name: str, source: str, label: str) -> float | None:
    """Property ``name`` as a float (None when absent; NaN and infinities are returned as
    such, for the caller's range checks to name)."""
    text = props.get(name)
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        raise DepthProblem(source, f"{label}:{name} {text[:40]!r} is not a number") from None
