"""16-bit colour PNG and TIFF decoding: Pillow reads those at 8 bits per channel.

PNG: chunks CRC-checked, inflate + unfilter (interlaced too); TIFF: uncompressed or deflate
strips, chunky, with or without horizontal prediction. Anything else falls back to Pillow."""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def stored_size(im: Image.Image) -> tuple[int, int]:
    """(width, height) as stored. Pillow reports a TIFF's size already turned upright."""
    if im.format == "TIFF":
        return im.tag_v2[256], im.tag_v2[257]
    return im.size


def decode_16bit_colour(path: Path, im: Image.Image,
                        notes: list[str]) -> tuple[np.ndarray | None, bytes | None]:
    """(H, W, C) uint16 pixels for the 16-bit colour/grey+alpha PNGs and TIFFs that Pillow
    would truncate to 8 bits, plus a PNG's eXIf chunk; (None, None) for everything else."""
    if im.format == "PNG":
        with open(path, "rb") as fh:
            head = fh.read(_PNG_HEAD_BYTES)
        if len(head) == _PNG_HEAD_BYTES and head[24] == 16 and head[25] in (2, 4, 6):
            return _read_png16(path.read_bytes(), stored_size(im))
    elif im.format == "TIFF" and im.mode in ("RGB", "RGBA", "RGBX"):
        tags = im.tag_v2
        if set(_as_tuple(tags.get(258, 8))) == {16}:
            unsupported = _tiff16_unsupported(tags)
            if unsupported is None:
                pixels = _read_tiff16(path.read_bytes(), im)
                return pixels[..., :4 if im.mode == "RGBA" else 3], None
            notes.append(f"{path}: 16-bit TIFF with {unsupported} is read at 8 bits per channel")
    return None, None


_PNG_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}
_PNG_HEAD_BYTES = 29  # signature, then IHDR: length, type, width, height, bit depth, colour type, ...
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def _read_png16(data: bytes, size_wh: tuple[int, int]) -> tuple[np.ndarray, bytes | None]:
    """16-bit PNG -> ((H, W, C) uint16, eXIf chunk or None). Chunks are CRC-checked.

    Everything is sized from the one IHDR, the first chunk, whose size the caller has checked
    (``size_wh``): a second IHDR is refused, since a later header could otherwise make the
    decoder allocate for an image no limit was checked against."""
    length, kind = struct.unpack(">I4s", data[8:16])
    if kind != b"IHDR" or length != 13:
        raise ValueError("PNG does not start with its IHDR header")
    width, height, _, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
    if (width, height) != tuple(size_wh):
        raise ValueError(f"PNG header says {width}x{height}, not the {size_wh[0]}x{size_wh[1]} that was checked")
    if interlace not in (0, 1):
        raise ValueError(f"unknown PNG interlace method {interlace}")
    channels = _PNG_CHANNELS[colour_type]
    idat, exif, pos = [], None, 8
    while pos + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body, crc = data[pos + 8:pos + 8 + length], data[pos + 8 + length:pos + 12 + length]
        if len(crc) < 4 or zlib.crc32(kind + body) != int.from_bytes(crc, "big"):
            raise ValueError(f"PNG chunk {kind!r} is truncated or fails its CRC")
        if kind == b"IHDR" and pos != 8:
            raise ValueError("PNG holds a second IHDR header")
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"eXIf":
            exif = body
        elif kind == b"IEND":
            break
        pos += 12 + length
    bpp = 2 * channels
    passes = _ADAM7 if interlace else ((0, 0, 1, 1),)
    sizes = [(-(-(width - x0) // dx), -(-(height - y0) // dy)) for x0, y0, dx, dy in passes]
    raw = _inflate(b"".join(idat), sum(h * (1 + w * bpp) for w, h in sizes if w and h))
    out = np.empty((height, width, channels), np.uint16)
    pos = 0
    for (x0, y0, dx, dy), (w, h) in zip(passes, sizes):
        if w and h:
            rows = np.frombuffer(raw, np.uint8, h * (1 + w * bpp), pos).reshape(h, 1 + w * bpp)
            out[y0::dy, x0::dx] = png_unfilter(rows, bpp).view(">u2").reshape(h, w, channels)
            pos += rows.size
    return out, exif


def png_unfilter(rows: np.ndarray, bpp: int) -> np.ndarray:
    """Undo PNG row filters. rows: uint8 (H, 1 + W*bpp), each row's filter type first ->
    uint8 (H, W*bpp).

    Pixel (y, x) depends on its left, upper and upper-left neighbours (PNG spec §9), so the
    pixels of one anti-diagonal x + y = d are independent and are unfiltered in one vectorised
    step. Rows go in bands of B, a band in B + W - 1 steps, its pixels stored skewed, (y, x) at
    ``grid[x + y + 2, y + 1]``, so that every diagonal and its neighbours are contiguous; slot
    row 0 holds the row above the band (zeros above the image) and the never-written slots are
    PNG's zeros left of the image. The grid's (B + W + 1) (B + 1) bpp bytes stay within
    :func:`_band_rows`'s budget: memory O(H W), where one band over a tall image would take
    O(H (H + W)).
    """
    height, width = rows.shape[0], (rows.shape[1] - 1) // bpp
    kinds = rows[:, 0].astype(np.int16)[:, None]
    if height and kinds.max() > 4:
        raise ValueError("invalid PNG filter type")
    out = np.empty((height, width * bpp), np.uint8)
    band = _band_rows(height, width, bpp)
    above = np.zeros((width, bpp), np.uint8)
    for top in range(0, height, band):
        rows_here = min(band, height - top)
        grid = np.zeros((rows_here + width + 1, rows_here + 1, bpp), np.uint8)
        grid[1:width + 1, 0] = above
        _skewed(grid)[...] = rows[top:top + rows_here, 1:].reshape(rows_here, width, bpp)
        _unfilter_band(grid, kinds[top:top + rows_here], width)
        out[top:top + rows_here] = _skewed(grid).reshape(rows_here, width * bpp)
        above = out[top + rows_here - 1].reshape(width, bpp)
    return out


# Fewer, taller bands take fewer steps (each band costs W of them), so the budget is generous:
# twice the image's filtered bytes, or this much for small images.
MIN_BAND_BYTES = 64 << 20


def _band_rows(height: int, width: int, bpp: int) -> int:
    """Rows per band: the largest B in [1, H] with (B + W + 1) (B + 1) bpp <= budget, the positive
    root of B^2 + (W + 2) B + W + 1 - M (M = budget / bpp), whose discriminant is W^2 + 4 M."""
    slots = max(MIN_BAND_BYTES, 2 * height * (1 + width * bpp)) // bpp
    return max(1, min(height, (math.isqrt(width * width + 4 * slots) - width - 2) // 2))


def _unfilter_band(grid: np.ndarray, kinds: np.ndarray, width: int) -> None:
    """Unfilter the skewed band ``grid`` (see :func:`png_unfilter`) in place, diagonal by
    diagonal; ``kinds``: int16 (B, 1) filter types of its rows."""
    height = kinds.shape[0]
    for d in range(height + width - 1):
        y0, y1 = max(0, d - width + 1), min(d, height - 1) + 1
        left = grid[d + 1, y0 + 1:y1 + 1].astype(np.int16)
        up = grid[d + 1, y0:y1].astype(np.int16)
        up_left = grid[d, y0:y1].astype(np.int16)
        k = kinds[y0:y1]
        p = left + up - up_left
        pa, pb, pc = np.abs(p - left), np.abs(p - up), np.abs(p - up_left)
        paeth = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, up_left))
        predicted = np.where(k == 4, paeth, np.where(k == 3, (left + up) >> 1,
                             np.where(k == 2, up, np.where(k == 1, left, 0))))
        grid[d + 2, y0 + 1:y1 + 1] += predicted.astype(np.uint8)


def _skewed(grid: np.ndarray) -> np.ndarray:
    """(B, W, bpp) view of the pixels of a skewed (B + W + 1, B + 1, bpp) grid (see above)."""
    rows, bpp = grid.shape[1] - 1, grid.shape[2]
    return np.lib.stride_tricks.as_strided(grid[2:, 1:], shape=(rows, grid.shape[0] - rows - 1, bpp),
                                           strides=((rows + 2) * bpp, (rows + 1) * bpp, 1))


def _tiff16_unsupported(tags) -> str | None:
    """What keeps a 16-bit TIFF from our strip reader, or None when it can read it."""
    compression = tags.get(259, 1)
    if compression not in (1, 8, 32946):
        return f"compression {compression}"
    if tags.get(317, 1) not in (1, 2):
        return f"predictor {tags.get(317)}"
    if tags.get(284, 1) != 1:
        return "planar configuration 2"
    if 322 in tags:
        return "tiles"
    if set(_as_tuple(tags.get(339, 1))) != {1}:
        return "non-integer samples"
    return None


def _read_tiff16(data: bytes, im: Image.Image) -> np.ndarray:
    """Uncompressed or deflate strips of a chunky 16-bit TIFF -> (H, W, C) uint16, as stored."""
    tags, (width, height) = im.tag_v2, stored_size(im)
    channels = tags.get(277, 3)
    rows_per_strip = min(tags.get(278, height), height)
    row_bytes = width * channels * 2
    strips = []
    for i, (offset, size) in enumerate(zip(_as_tuple(tags[273]), _as_tuple(tags[279]))):
        chunk = data[offset:offset + size]
        if len(chunk) < size:
            raise ValueError("TIFF strip runs past the end of the file")
        n_bytes = min(rows_per_strip, height - i * rows_per_strip) * row_bytes
        strips.append(chunk if tags.get(259, 1) == 1 else _inflate(chunk, n_bytes))
    joined = b"".join(strips)
    if len(joined) < height * row_bytes:
        raise ValueError("TIFF image data is truncated")
    order = "<" if data[:2] == b"II" else ">"
    pixels = np.frombuffer(joined, f"{order}u2", height * width * channels).astype(np.uint16)
    pixels = pixels.reshape(height, width, channels)
    if tags.get(317, 1) == 2:  # horizontal differencing, restarting on every row
        pixels = np.cumsum(pixels, axis=1, dtype=np.uint16)
    return pixels


def _inflate(data: bytes, n_bytes: int) -> bytes:
    """zlib-decompress exactly ``n_bytes`` (never more: a bomb cannot inflate past it)."""
    out = zlib.decompressobj().decompress(data, n_bytes)
    if len(out) < n_bytes:
        raise ValueError("compressed image data is truncated")
    return out


def _as_tuple(value) -> tuple:
    return value if isinstance(value, tuple) else (value,)

