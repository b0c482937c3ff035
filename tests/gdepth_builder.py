"""Build JPEGs that carry a Google depth map (GDepth), written from the published specifications:
Google's depth map metadata (GDepth, GFocus) and Adobe's XMP Specification Part 3 (extended XMP
split over APP1 segments, GUID = MD5 of the extended packet).

``build_gdepth_jpeg`` is the acceptance helper: a photo plus a metric depth map in, a GDepth
JPEG out. The lower-level pieces (range encoding, APP segments, extended XMP) are shared with
the tests' other depth-file builders.
"""

from __future__ import annotations

import base64
import hashlib
import io
import struct
from pathlib import Path

import numpy as np
from PIL import Image

XMP_ID = b"http://ns.adobe.com/xap/1.0/\0"
EXTENDED_ID = b"http://ns.adobe.com/xmp/extension/\0"
MAX_SEGMENT_BODY = 65533                                # APP length field (u16) minus its own 2 bytes
MAX_PORTION = MAX_SEGMENT_BODY - len(EXTENDED_ID) - 40  # GUID 32 + full length 4 + offset 4
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"


def encode_range(depth_m: np.ndarray, near_m: float, far_m: float, fmt: str, bits: int) -> np.ndarray:
    """Depth -> stored samples by the GDepth formulas (inverse of the decoder's):
    RangeInverse ``dn = far * (d - near) / (d * (far - near))``; RangeLinear
    ``dn = (d - near) / (far - near)``; ``dn`` clipped to [0, 1] and rounded to ``bits``."""
    depth = np.asarray(depth_m, dtype=np.float64)
    if not np.isfinite(depth).all() or (depth <= 0).any():
        raise ValueError("depth must be finite and positive everywhere (fill unknown pixels first)")
    if fmt == "RangeInverse":
        dn = far_m * (depth - near_m) / (depth * (far_m - near_m))
    elif fmt == "RangeLinear":
        dn = (depth - near_m) / (far_m - near_m)
    else:
        raise ValueError(fmt)
    white = (1 << bits) - 1
    return np.rint(np.clip(dn, 0.0, 1.0) * white).astype(np.uint16 if bits == 16 else np.uint8)


def image_bytes(samples: np.ndarray, mime: str) -> bytes:
    """Grey samples (uint8, or uint16 for PNG) as PNG or JPEG (quality 100) bytes."""
    buf = io.BytesIO()
    if mime == "image/png":
        Image.fromarray(samples).save(buf, format="PNG")
    elif mime == "image/jpeg":
        Image.fromarray(samples).save(buf, format="JPEG", quality=100, subsampling=0)
    else:
        raise ValueError(mime)
    return buf.getvalue()


def segment(marker: int, body: bytes) -> bytes:
    """One JPEG marker segment (``marker`` 0xE1 for APP1 ...)."""
    if len(body) > MAX_SEGMENT_BODY:
        raise ValueError(f"segment body of {len(body)} bytes does not fit")
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def insertion_point(jpeg: bytes) -> int:
    """Where new segments go: after SOI and the APP0/APP1 segments that follow it."""
    pos = 2
    while jpeg[pos] == 0xFF and jpeg[pos + 1] in (0xE0, 0xE1):
        pos += 2 + struct.unpack_from(">H", jpeg, pos + 2)[0]
    return pos


def insert_segments(jpeg: bytes, segments: list[bytes]) -> bytes:
    """``jpeg`` with ``segments`` inserted at its ``insertion_point``."""
    pos = insertion_point(jpeg)
    return jpeg[:pos] + b"".join(segments) + jpeg[pos:]


def extended_xmp(packet: bytes, portion_bytes: int = MAX_PORTION,
                 shuffle_seed: int | None = None) -> tuple[str, list[bytes]]:
    """The GUID and the APP1 segments of an extended XMP packet, portions in offset order or,
    with ``shuffle_seed``, in a random order (readers must go by offset)."""
    guid = hashlib.md5(packet).hexdigest().upper()
    offsets = list(range(0, len(packet), portion_bytes))
    if shuffle_seed is not None:
        offsets = [offsets[i] for i in np.random.default_rng(shuffle_seed).permutation(len(offsets))]
    segments = [segment(0xE1, EXTENDED_ID + guid.encode() + struct.pack(">II", len(packet), offset)
                        + packet[offset:offset + portion_bytes]) for offset in offsets]
    return guid, segments


def xmp_packet(namespaces: dict[str, str], attributes: dict[str, str], inner: str = "") -> bytes:
    """``<x:xmpmeta>`` with one ``rdf:Description`` carrying ``attributes`` (qualified names)."""
    xmlns = "".join(f'\n    xmlns:{prefix}="{uri}"' for prefix, uri in namespaces.items())
    attrs = "".join(f'\n    {name}="{value}"' for name, value in attributes.items())
    return (f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="{RDF}">'
            f'<rdf:Description rdf:about=""{xmlns}{attrs}>{inner}</rdf:Description>'
            f"</rdf:RDF></x:xmpmeta>").encode()


def photo_jpeg(srgb_uint8: np.ndarray, orientation: int = 1) -> bytes:
    """The colour image as a JPEG (quality 95), with an EXIF Orientation tag when not 1."""
    buf = io.BytesIO()
    exif = Image.Exif()
    if orientation != 1:
        exif[0x0112] = orientation
    Image.fromarray(srgb_uint8).save(buf, format="JPEG", quality=95, exif=exif.tobytes())
    return buf.getvalue()


GDEPTH_NAMESPACES = {"GDepth": "http://ns.google.com/photos/1.0/depthmap/",
                     "GFocus": "http://ns.google.com/photos/1.0/focus/",
                     "xmpNote": "http://ns.adobe.com/xmp/note/"}


def gdepth_segments(samples: np.ndarray, near: float, far: float, *, fmt: str = "RangeInverse",
                    mime: str = "image/png", units: str | None = "m", focus_frac: tuple[float, float] | None = None,
                    focus_distance: float | None = None, extended: bool = True, portion_bytes: int = MAX_PORTION,
                    shuffle_seed: int | None = None, extra: dict[str, str] | None = None,
                    data_text: str | None = None) -> list[bytes]:
    """APP1 segments of a GDepth description whose map is ``samples`` (stored frame):
    main packet first, then (``extended``) the extended portions (shuffled with ``shuffle_seed``).
    ``extra`` adds or replaces main-packet properties; ``data_text`` replaces GDepth:Data."""
    main = {"GDepth:Format": fmt, "GDepth:Near": repr(near), "GDepth:Far": repr(far), "GDepth:Mime": mime}
    if units is not None:
        main["GDepth:Units"] = units
    if focus_frac is not None:
        main["GFocus:FocalPointX"], main["GFocus:FocalPointY"] = (repr(v) for v in focus_frac)
    if focus_distance is not None:
        main["GFocus:FocalDistance"] = repr(focus_distance)
    data = base64.b64encode(image_bytes(samples, mime)).decode() if data_text is None else data_text
    portions: list[bytes] = []
    if extended:
        packet = xmp_packet({"GDepth": GDEPTH_NAMESPACES["GDepth"]}, {"GDepth:Data": data})
        main["xmpNote:HasExtendedXMP"], portions = extended_xmp(packet, portion_bytes, shuffle_seed)
    else:
        main["GDepth:Data"] = data
    main.update(extra or {})
    return [segment(0xE1, XMP_ID + xmp_packet(GDEPTH_NAMESPACES, main))] + portions


def build_gdepth_jpeg(path: str | Path, srgb_uint8: np.ndarray, depth_m: np.ndarray, near_m: float, far_m: float,
                      focus_xy: tuple[float, float] | None, focus_m: float | None, fmt: str = "RangeInverse",
                      mime: str = "image/png", *, bits: int | None = None, orientation: int = 1,
                      extended: bool = True, portion_bytes: int = MAX_PORTION,
                      shuffle_seed: int | None = None) -> Path:
    """Write ``path``: ``srgb_uint8`` (H, W, 3) as a JPEG carrying ``depth_m`` (H', W' metres,
    finite and positive; any size with the photo's aspect ratio) as a GDepth map.

    ``fmt``: RangeInverse or RangeLinear; ``mime``: image/png (``bits`` 16 by default, or 8) or
    image/jpeg (8 bits); Units "m". ``focus_xy``: the focus point in pixels of ``srgb_uint8``,
    written as GFocus fractions; ``focus_m`` as GFocus:FocalDistance. ``orientation``: the EXIF
    orientation to record (both images are given in the stored frame). ``extended``: the map
    goes to extended XMP in ``portion_bytes`` portions, shuffled with ``shuffle_seed``.
    """
    bits = bits if bits is not None else (16 if mime == "image/png" else 8)
    height, width = srgb_uint8.shape[:2]
    focus_frac = None if focus_xy is None else (focus_xy[0] / width, focus_xy[1] / height)
    segments = gdepth_segments(encode_range(depth_m, near_m, far_m, fmt, bits), near_m, far_m, fmt=fmt, mime=mime,
                               focus_frac=focus_frac, focus_distance=focus_m, extended=extended,
                               portion_bytes=portion_bytes, shuffle_seed=shuffle_seed)
    path = Path(path)
    path.write_bytes(insert_segments(photo_jpeg(srgb_uint8, orientation), segments))
    return path
