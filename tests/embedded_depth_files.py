"""Build the other depth-carrying photos, each from its published description:

- Android Dynamic Depth 1.0: items appended after the primary JPEG, listed in the primary's XMP
  (``Device:Container`` / ``Container:Directory``), the map described by ``Camera:DepthMap``;
- iPhone JPEG: CIPA Multi-Picture Format (APP2 ``MPF`` index, offsets from its TIFF header)
  with secondary JPEGs whose XMP uses Apple's pixel-data-info namespace;
- HEIC: ISO/IEC 23008-12 items assembled around images encoded by pillow-heif (which cannot
  write auxiliary images itself): a depth auxiliary image (``auxC``
  ``urn:mpeg:hevc:2015:auxid:2`` whose subtype carries the HEVC depth representation info SEI
  message, ISO/IEC 23008-2) and the Apple portrait-effects matte auxiliary image.
"""

from __future__ import annotations

import io
import math
import struct
from pathlib import Path

import numpy as np
from PIL import Image

from gdepth_builder import XMP_ID, image_bytes, insert_segments, insertion_point, photo_jpeg, segment, xmp_packet
from lens_builder import tiff, value

DD = "http://ns.google.com/photos/dd/1.0/"
DD_NAMESPACES = {"Device": DD + "device/", "Container": DD + "container/", "Item": DD + "item/",
                 "Camera": DD + "camera/", "DepthMap": DD + "depthmap/"}
APDI = "http://ns.apple.com/pixeldatainfo/1.0/"
DEPTH_DATA = "http://ns.apple.com/depthData/1.0/"
HDIS = int.from_bytes(b"hdis", "big")
L008 = int.from_bytes(b"L008", "big")
MATTE_URN = "urn:com:apple:photo:2018:aux:portraiteffectsmatte"
GAIN_MAP_URN = "urn:com:apple:photo:2020:aux:hdrgainmap"


# ---- Dynamic Depth ---------------------------------------------------------------------------------

def dynamic_depth_xmp(items: list[dict[str, str]], depth_map: dict[str, str], element_form: bool = False) -> bytes:
    """The primary's XMP: the container directory of ``items`` (Item:* fields, the primary
    first) and one camera whose DepthMap has ``depth_map`` (DepthMap:* fields). ``element_form``
    writes the items' fields as child elements instead of attributes (both are valid RDF)."""
    def item(fields):
        if element_form:
            inner = "".join(f"<Item:{k}>{v}</Item:{k}>" for k, v in fields.items())
            return f'<rdf:li rdf:parseType="Resource"><Container:Item rdf:parseType="Resource">{inner}</Container:Item></rdf:li>'
        attrs = " ".join(f'Item:{k}="{v}"' for k, v in fields.items())
        return f'<rdf:li rdf:parseType="Resource"><Container:Item {attrs}/></rdf:li>'

    directory = "".join(item(fields) for fields in items)
    camera_attrs = " ".join(f'DepthMap:{k}="{v}"' for k, v in depth_map.items())
    inner = (f"<Device:Container><Container:Directory><rdf:Seq>{directory}</rdf:Seq></Container:Directory>"
             f"</Device:Container><Device:Cameras><rdf:Seq><rdf:li rdf:parseType=\"Resource\">"
             f'<Device:Camera Camera:Trait="Physical"><Camera:DepthMap {camera_attrs}/></Device:Camera>'
             f"</rdf:li></rdf:Seq></Device:Cameras>")
    return xmp_packet(DD_NAMESPACES, {}, inner)


def build_dynamic_depth_jpeg(path: str | Path, srgb_uint8: np.ndarray, map_samples: np.ndarray, near: float,
                             far: float, *, fmt: str = "RangeInverse", units: str = "Meters",
                             mime: str = "image/jpeg", orientation: int = 1, primary_padding: int = 0,
                             extra_items: list[tuple[str, bytes, int]] = (), element_form: bool = False,
                             jpeg_options: dict | None = None, truncate_by: int = 0) -> Path:
    """Write a Dynamic Depth JPEG: the photo (saved with ``jpeg_options``), ``primary_padding``
    zero bytes, each of ``extra_items`` (mime, bytes, padding) and then the depth item holding
    ``map_samples`` encoded as ``mime``. ``truncate_by`` cuts that many bytes off the end."""
    depth_bytes = image_bytes(map_samples, mime)
    items = [{"Mime": "image/jpeg", "Length": "0", "Padding": str(primary_padding), "DataURI": "primary_image"}]
    items += [{"Mime": m, "Length": str(len(b)), "Padding": str(pad), "DataURI": f"android/extra{i}"}
              for i, (m, b, pad) in enumerate(extra_items)]
    items.append({"Mime": mime, "Length": str(len(depth_bytes)), "Padding": "0", "DataURI": "android/depthmap"})
    depth_map = {"ItemSemantic": "Depth", "Format": fmt, "Near": repr(near), "Far": repr(far), "Units": units,
                 "DepthURI": "android/depthmap", "MeasureType": "OpticalAxis"}
    buf = io.BytesIO()
    exif = Image.Exif()
    if orientation != 1:
        exif[0x0112] = orientation
    Image.fromarray(srgb_uint8).save(buf, format="JPEG", quality=90, exif=exif.tobytes(), **(jpeg_options or {}))
    primary = insert_segments(buf.getvalue(), [segment(0xE1, XMP_ID + dynamic_depth_xmp(items, depth_map, element_form))])
    data = primary + bytes(primary_padding) + b"".join(b + bytes(pad) for _, b, pad in extra_items) + depth_bytes
    path = Path(path)
    path.write_bytes(data[:len(data) - truncate_by])
    return path


# ---- iPhone JPEG with MPF secondary images ----------------------------------------------------------

def apple_xmp(fields: dict[str, str]) -> bytes:
    """A secondary image's XMP: ``fields`` are qualified names in the apdi/depthData namespaces."""
    return xmp_packet({"apdi": APDI, "depthData": DEPTH_DATA}, fields)


def disparity_fields(float_min: float, float_max: float, accuracy: str = "relative") -> dict[str, str]:
    return {"apdi:AuxiliaryImageType": "disparity", "apdi:NativeFormat": str(HDIS), "apdi:StoredFormat": str(L008),
            "apdi:IntMinValue": "0", "apdi:IntMaxValue": "255", "apdi:FloatMinValue": repr(float(float_min)),
            "apdi:FloatMaxValue": repr(float(float_max)), "depthData:Accuracy": accuracy, "depthData:Quality": "high"}


def secondary_jpeg(samples: np.ndarray, fields: dict[str, str]) -> bytes:
    """A grey secondary JPEG (quality 100) with its own XMP."""
    return insert_segments(image_bytes(samples, "image/jpeg"), [segment(0xE1, XMP_ID + apple_xmp(fields))])


def build_mpf_jpeg(path: str | Path, srgb_uint8: np.ndarray, secondaries: list[bytes], orientation: int = 1) -> Path:
    """Write the photo with an APP2 MPF index listing ``secondaries``, appended after it.

    MPF: the index is a TIFF structure after ``MPF\\0``; MP entry ``i`` (16 bytes: attribute,
    size, offset, two dependent-image numbers) gives image ``i``'s offset from that TIFF header
    (0 for the primary image itself)."""
    primary = photo_jpeg(srgb_uint8, orientation)
    count = len(secondaries) + 1

    def app2(primary_size: int, tiff_start: int) -> bytes:
        entries = struct.pack("<IIIHH", 0x030000, primary_size, 0, 0, 0)
        position = primary_size
        for image in secondaries:
            entries += struct.pack("<IIIHH", 0, len(image), position - tiff_start, 0, 0)
            position += len(image)
        ifd_entries = [(0xB000, 7, 4, b"0100"), (0xB001, 4, 1, struct.pack("<I", count)),
                       (0xB002, 7, len(entries), None)]
        table_len = 2 + 12 * len(ifd_entries) + 4
        body = bytearray(b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", len(ifd_entries)))
        for tag, typ, n, raw in ifd_entries:
            field = raw if raw is not None else struct.pack("<I", 8 + table_len)
            body += struct.pack("<HHI", tag, typ, n) + field.ljust(4, b"\0")
        body += struct.pack("<I", 0) + entries
        return segment(0xE2, b"MPF\0" + bytes(body))

    # The APP2 size does not depend on the offsets, so measure it with dummies, then place it.
    primary_size = len(primary) + len(app2(0, 0))
    tiff_start = insertion_point(primary) + 4 + len(b"MPF\0")       # after marker, length and "MPF\0"
    final = insert_segments(primary, [app2(primary_size, tiff_start)])
    path = Path(path)
    path.write_bytes(final + b"".join(secondaries))
    return path


# ---- HEIC with auxiliary images ---------------------------------------------------------------------

def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _full_box(kind: bytes, version: int, flags: int, payload: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags) + payload)


def _children(data: bytes, start: int, end: int) -> dict[bytes, tuple[int, int]]:
    """Child boxes in ``data[start:end]``: type -> (payload start, box end) (first of each)."""
    found = {}
    while start + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, start)
        found.setdefault(kind, (start + 8, start + size))
        start += size
    return found


def _encoded_item(im: Image.Image) -> tuple[list[bytes], bytes]:
    """Encode ``im`` losslessly with pillow-heif; return its primary item's property boxes (in
    association order) and its coded data, read back out of the file pillow-heif wrote."""
    import pillow_heif

    buf = io.BytesIO()
    pillow_heif.from_pillow(im).save(buf, quality=-1)
    data = buf.getvalue()
    meta_start, meta_end = _children(data, 0, len(data))[b"meta"]
    meta = _children(data, meta_start + 4, meta_end)
    (item_id,) = struct.unpack_from(">H", data, meta[b"pitm"][0] + 4)
    iprp = _children(data, *meta[b"iprp"])
    ipco_start, ipco_end = iprp[b"ipco"]
    properties, pos = [], ipco_start
    while pos < ipco_end:
        size = struct.unpack_from(">I", data, pos)[0]
        properties.append(data[pos:pos + size])
        pos += size
    ipma = iprp[b"ipma"][0]
    flags = struct.unpack_from(">I", data, ipma)[0] & 0xFFFFFF
    count, pos = struct.unpack_from(">I", data, ipma + 4)[0], ipma + 8
    associated = []
    for _ in range(count):
        entry_id, n = struct.unpack_from(">HB", data, pos)
        pos += 3
        for _ in range(n):
            raw = struct.unpack_from(">H" if flags & 1 else ">B", data, pos)[0]
            pos += 2 if flags & 1 else 1
            if entry_id == item_id:
                associated.append(properties[(raw & (0x7FFF if flags & 1 else 0x7F)) - 1])
    iloc = meta[b"iloc"][0]
    version = data[iloc]
    sizes = struct.unpack_from(">H", data, iloc + 4)[0]
    offset_size, length_size, base_size = sizes >> 12, (sizes >> 8) & 15, (sizes >> 4) & 15
    index_size = sizes & 15 if version in (1, 2) else 0
    pos = iloc + 6
    (items,) = struct.unpack_from(">H", data, pos)
    pos += 2

    def number(at: int, size: int) -> int:
        return int.from_bytes(data[at:at + size], "big")

    for _ in range(items):
        (entry_id,) = struct.unpack_from(">H", data, pos)
        pos += 2 + (2 if version in (1, 2) else 0) + 2
        base = number(pos, base_size)
        pos += base_size
        (extents,) = struct.unpack_from(">H", data, pos)
        pos += 2
        chunks = []
        for _ in range(extents):
            pos += index_size
            offset, length = number(pos, offset_size), number(pos + offset_size, length_size)
            pos += offset_size + length_size
            chunks.append(data[base + offset:base + offset + length])
        if entry_id == item_id:
            return associated, b"".join(chunks)
    raise ValueError("pillow-heif wrote no location for its image")


class _BitWriter:
    def __init__(self):
        self.bits: list[int] = []

    def put(self, number: int, width: int) -> None:
        self.bits += [(number >> (width - 1 - i)) & 1 for i in range(width)]

    def ue(self, number: int) -> None:
        """Exp-Golomb ue(v)."""
        code = number + 1
        self.put(0, code.bit_length() - 1)
        self.put(code, code.bit_length())

    def element(self, x: float, mantissa_bits: int = 24) -> None:
        """depth_rep_info_element: sign u(1), exponent u(7), mantissa_len_minus1 u(5), mantissa;
        x = 2^(e-31) * (1 + m / 2^len) for 0 < e < 127."""
        exponent = math.floor(math.log2(abs(x))) + 31
        mantissa = round((abs(x) / 2.0 ** (exponent - 31) - 1.0) * 2 ** mantissa_bits)
        self.put(1 if x < 0 else 0, 1)
        self.put(exponent, 7)
        self.put(mantissa_bits - 1, 5)
        self.put(mantissa, mantissa_bits)

    def bytes(self) -> bytes:
        bits = self.bits + [1] + [0] * (-(len(self.bits) + 1) % 8)     # rbsp trailing bits
        return bytes(int("".join(map(str, bits[i:i + 8])), 2) for i in range(0, len(bits), 8))


def depth_representation_sei(representation: int, z_near=None, z_far=None, d_min=None, d_max=None) -> bytes:
    """The auxC subtype libheif reads: u32 length, then one SEI NAL (u32 size, NAL header of
    type 39, payload type 177 = depth_representation_info, payload size, payload)."""
    bits = _BitWriter()
    for present in (z_near, z_far, d_min, d_max):
        bits.put(present is not None, 1)
    bits.ue(representation)
    if d_min is not None or d_max is not None:
        bits.ue(0)                                  # disparity_ref_view_id
    for present in (z_near, z_far, d_min, d_max):
        if present is not None:
            bits.element(present)
    payload = bits.bytes()
    nal = bytes([39 << 1, 1, 177, len(payload)]) + payload
    return struct.pack(">I", 4 + len(nal)) + struct.pack(">I", len(nal)) + nal


def build_heic(path: str | Path, srgb_uint8: np.ndarray, depth_samples: np.ndarray | None, depth_sei: bytes | None,
               matte_uint8: np.ndarray | None = None, make: str = "Apple") -> Path:
    """Write a HEIC: the primary image, an Exif item naming ``make``, an optional depth
    auxiliary image (grey samples, auxC subtype ``depth_sei``) and an optional portrait matte."""
    images = [(Image.fromarray(srgb_uint8), None)]
    if depth_samples is not None:
        images.append((Image.fromarray(depth_samples), b"urn:mpeg:hevc:2015:auxid:2\0" + (depth_sei or b"")))
    if matte_uint8 is not None:
        images.append((Image.fromarray(matte_uint8), MATTE_URN.encode() + b"\0"))
    properties, associations, payloads = [], [], []
    for im, aux in images:
        boxes, coded = _encoded_item(im)
        if aux is not None:
            boxes = boxes + [_full_box(b"auxC", 0, 0, aux)]
        first = len(properties) + 1
        properties += boxes
        associations.append(list(range(first, first + len(boxes))))
        payloads.append(coded)
    exif_tiff = tiff(make, "iPhone 13 Pro", {0x920A: value(5, [(57, 10)])})
    payloads.append(struct.pack(">I", 0) + exif_tiff)
    ids = list(range(1, len(payloads) + 1))
    exif_id = ids[-1]
    infe = [_full_box(b"infe", 2, 1 if i > 1 and i != exif_id else 0,
                      struct.pack(">HH", i, 0) + (b"Exif" if i == exif_id else b"hvc1") + b"\0") for i in ids]
    iinf = _full_box(b"iinf", 0, 0, struct.pack(">H", len(infe)) + b"".join(infe))
    refs = b"".join(_box(b"auxl", struct.pack(">HHH", i, 1, 1)) for i in ids[1:-1])
    refs += _box(b"cdsc", struct.pack(">HHH", exif_id, 1, 1))
    iref = _full_box(b"iref", 0, 0, refs)
    ipma = struct.pack(">I", len(associations))
    for i, indices in zip(ids, associations):
        ipma += struct.pack(">HB", i, len(indices)) + bytes(0x80 | k for k in indices)
    iprp = _box(b"iprp", _box(b"ipco", b"".join(properties)) + _full_box(b"ipma", 0, 0, ipma))
    hdlr = _full_box(b"hdlr", 0, 0, b"\0" * 4 + b"pict" + b"\0" * 12 + b"\0")
    pitm = _full_box(b"pitm", 0, 0, struct.pack(">H", 1))
    ftyp = _box(b"ftyp", b"heic" + struct.pack(">I", 0) + b"mif1heic")

    def meta(data_start: int) -> bytes:
        iloc = struct.pack(">HH", 0x4400, len(ids))       # 4-byte offsets and lengths, no base offset
        at = data_start
        for i, payload in zip(ids, payloads):
            iloc += struct.pack(">HHHII", i, 0, 1, at, len(payload))
            at += len(payload)
        return _full_box(b"meta", 0, 0, hdlr + pitm + _full_box(b"iloc", 0, 0, iloc) + iinf + iref + iprp)

    head_len = len(ftyp) + len(meta(0)) + 8
    path = Path(path)
    path.write_bytes(ftyp + meta(head_len) + _box(b"mdat", b"".join(payloads)))
    return path
