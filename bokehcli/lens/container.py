"""Find the metadata blocks of an image file: the EXIF TIFF structure, XMP packets, pixel size.

JPEG is walked segment by segment (only headers are read, never the entropy-coded data);
a TIFF file is its own EXIF block; every other format is left to Pillow, which knows where
PNG, WebP and HEIF keep their EXIF and XMP.

A JPEG's XMP may continue in *extended* XMP: APP1 segments whose body is the extension
namespace, a 32-character GUID (the MD5 of the whole extended packet), the packet's full
length and this portion's offset (both big-endian u32), then the portion. Those portions are
kept apart, with their headers decoded, so that readers can reassemble and check them. The
APP2 Multi-Picture Format index (MPF), which locates further images appended to the JPEG, is
kept with its position in the file, because its offsets count from there.
"""

from __future__ import annotations

import io
import os
import stat
import struct
from dataclasses import dataclass, field

from ..errors import InputError
from .tiff import read_first_ifd

MAX_TIFF_BYTES = 256 << 20       # read a TIFF file whole only up to this size
_EXIF_ID = b"Exif\0\0"
_XMP_ID = b"http://ns.adobe.com/xap/1.0/\0"
_EXTENDED_XMP_ID = b"http://ns.adobe.com/xmp/extension/\0"
_EXTENDED_HEADER = struct.Struct(">32sII")     # GUID, full length, offset of this portion
_MPF_ID = b"MPF\0"
# JPEG start-of-frame markers carry the pixel size (DHT C4, JPG C8 and DAC CC are not frames).
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


@dataclass(frozen=True)
class ExtendedXmpChunk:
    """One APP1 portion of extended XMP: ``data`` belongs at ``offset`` of a packet of
    ``full_length`` bytes whose MD5 (32 upper-case hex digits, as stored) is ``guid``."""

    guid: str
    full_length: int
    offset: int
    data: bytes


@dataclass
class Blocks:
    """Raw metadata of one file: TIFF bytes (EXIF), XMP packets, pixel size as stored.

    ``xmp``: standard packets; ``extended_xmp``: portions of extended XMP in file order (JPEG
    only); ``mpf``: the MPF index (a TIFF structure) and ``mpf_pos``, its file offset, from
    which the MPF image offsets count (JPEG only).
    """

    tiff: bytes | None = None
    xmp: list[bytes] = field(default_factory=list)
    extended_xmp: list[ExtendedXmpChunk] = field(default_factory=list)
    mpf: bytes | None = None
    mpf_pos: int | None = None
    width: int | None = None
    height: int | None = None
    warnings: list[str] = field(default_factory=list)


def read_blocks(path: str | os.PathLike) -> Blocks:
    """Metadata blocks of ``path``; raises InputError when the file cannot be read or is not an
    image at all (a JPEG or TIFF with broken metadata still gives its blocks and warnings)."""
    try:
        # Before opening: open() on a FIFO would wait for a writer forever.
        if not stat.S_ISREG(os.stat(path).st_mode):
            what = "is a directory" if os.path.isdir(path) else "not a regular file (a pipe or a device)"
            raise InputError(f"{path}: {what}, not a photo")
        with open(path, "rb") as fh:
            head = fh.read(4)
            fh.seek(0)
            if not head:
                raise InputError(f"{path}: empty file, not a photo")
            if head[:2] == b"\xff\xd8":
                return jpeg_blocks(fh)
            if head in (b"II*\0", b"MM\0*"):
                return _tiff_blocks(fh.read(MAX_TIFF_BYTES))
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return _pillow_blocks(path)


def jpeg_blocks(fh: io.BufferedIOBase) -> Blocks:
    """Walk JPEG marker segments (from the start of ``fh``) up to the first scan; collect
    APP1 EXIF/XMP, APP2 MPF and the SOF size."""
    blocks = Blocks()
    fh.seek(2)
    while True:
        marker = fh.read(2)
        while len(marker) == 2 and marker[0] == 0xFF and marker[1] == 0xFF:   # fill bytes
            marker = marker[1:] + fh.read(1)
        if len(marker) < 2 or marker[0] != 0xFF:
            if blocks.width is None:
                blocks.warnings.append("JPEG structure is broken before the image data")
            return blocks
        kind = marker[1]
        if kind == 0xDA or kind == 0xD9:          # start of scan / end of image: no more metadata
            return blocks
        if 0xD0 <= kind <= 0xD7 or kind == 0x01:  # markers without a length
            continue
        raw_len = fh.read(2)
        if len(raw_len) < 2:
            return blocks
        (length,) = struct.unpack(">H", raw_len)
        body_pos = fh.tell()
        body = fh.read(max(length - 2, 0))
        if kind == 0xE1 and body.startswith(_EXIF_ID) and blocks.tiff is None:
            blocks.tiff = body[len(_EXIF_ID):]
        elif kind == 0xE1 and body.startswith(_XMP_ID):
            blocks.xmp.append(body)
        elif kind == 0xE1 and body.startswith(_EXTENDED_XMP_ID):
            _add_extended_chunk(blocks, body[len(_EXTENDED_XMP_ID):])
        elif kind == 0xE2 and body.startswith(_MPF_ID) and blocks.mpf is None:
            blocks.mpf, blocks.mpf_pos = body[len(_MPF_ID):], body_pos + len(_MPF_ID)
        elif kind in _SOF and len(body) >= 5 and blocks.width is None:
            blocks.height, blocks.width = struct.unpack_from(">HH", body, 1)
        if len(body) < length - 2:
            blocks.warnings.append("JPEG is truncated inside its metadata")
            return blocks


def _add_extended_chunk(blocks: Blocks, body: bytes) -> None:
    """Decode the header of one extended-XMP portion; one too short for it carries nothing."""
    if len(body) < _EXTENDED_HEADER.size:
        return
    guid, full_length, offset = _EXTENDED_HEADER.unpack_from(body)
    blocks.extended_xmp.append(ExtendedXmpChunk(guid.decode("latin-1"), full_length, offset,
                                                body[_EXTENDED_HEADER.size:]))


def _tiff_blocks(tiff: bytes) -> Blocks:
    """A TIFF file is its own EXIF block; its first IFD gives the pixel size."""
    blocks = Blocks(tiff=tiff)
    first = read_first_ifd(tiff)
    if first is not None:
        ifd0, _ = first
        width, height = (ifd0[tag].first() if tag in ifd0 else None for tag in (0x0100, 0x0101))
        if width is not None and height is not None and width > 0 and height > 0:
            blocks.width, blocks.height = int(width), int(height)
    return blocks


def _pillow_blocks(path: str | os.PathLike) -> Blocks:
    """EXIF and XMP of the other photo formats Pillow opens (PNG, WebP, HEIF with pillow-heif, ...)."""
    from pathlib import Path

    from ..imageio import open_image

    try:
        with open_image(Path(path)) as im:
            exif = im.info.get("exif") or b""
            xmp = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp") or b""
            blocks = Blocks(width=im.size[0], height=im.size[1])
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoder failure: not a photo we can read, not a crash
        raise InputError(f"{path}: not an image (unrecognised format: {type(exc).__name__})") from None
    if isinstance(exif, bytes) and exif:
        blocks.tiff = exif[len(_EXIF_ID):] if exif.startswith(_EXIF_ID) else exif
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8", "replace")
    if xmp:
        blocks.xmp.append(bytes(xmp))
    return blocks
