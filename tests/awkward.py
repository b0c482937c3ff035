"""A corpus of broken and awkward photos for reliability tests of `bokeh render`.

``build_corpus(folder)`` writes

- broken files (``BROKEN``): each must fail with one stderr line naming it, the batch going on;
- awkward but valid files (``AWKWARD``): each must render at its upright size and orientation.

Every awkward file shows an asymmetric picture (``upright_pattern``): red rises left to right,
green top to bottom, and a blue block sits in the top-left quadrant, so any flip or rotation
changes the pixels. ``Awkward.upright`` is what the loader must deliver (H, W, 3) uint8.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, TiffImagePlugin

from bokehcli.imageio.tags import EXIF_IFD, FNUMBER, MAKE, MAKER_NOTE, SUBJECT_DISTANCE
from photos import make_exif



@dataclass(frozen=True)
class Awkward:
    """A valid file and the upright sRGB picture (H, W, 3) uint8 it holds."""

    path: Path
    upright: np.ndarray


def upright_pattern(height: int, width: int) -> np.ndarray:
    """(H, W, 3) uint8 smooth asymmetric picture (survives JPEG; any flip shows)."""
    ys = np.linspace(0, 1, height)[:, None] * np.ones((1, width))
    xs = np.ones((height, 1)) * np.linspace(0, 1, width)[None, :]
    blue = np.full((height, width), 40.0)
    blue[: max(1, height // 2), : max(1, width // 2)] = 220.0
    rgb = np.stack([30 + 200 * xs, 30 + 200 * ys, blue], axis=-1)
    return np.rint(rgb).astype(np.uint8)


def stored_for_orientation(upright: np.ndarray, orientation: int) -> np.ndarray:
    """The stored pixels that EXIF ``orientation`` (1..8) displays as ``upright`` (plain numpy,
    independent of the code under test; the tests cross-check it with Pillow's exif_transpose)."""
    return {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, 1),       # shown rotated 90 degrees clockwise
        7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
        8: lambda a: np.rot90(a, -1),      # shown rotated 90 degrees counter-clockwise
    }[orientation](upright).copy()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bytes(pixels: np.ndarray, bit_depth: int = 16, width_height: tuple[int, int] | None = None) -> bytes:
    """A non-interlaced PNG of (H, W, C) pixels (C 1..4), filter 0; ``width_height`` overrides the
    size written in IHDR (to make a header that lies)."""
    height, width, channels = pixels.shape
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    dtype = ">u2" if bit_depth == 16 else np.uint8
    rows = pixels.astype(dtype).reshape(height, -1).view(np.uint8)
    raw = b"".join(b"\0" + row.tobytes() for row in rows)
    w, h = width_height or (width, height)
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw))
            + _chunk(b"IEND", b""))


def _jpeg(pixels: np.ndarray, exif: Image.Exif | bytes | None = None, **options) -> bytes:
    import io

    buf = io.BytesIO()
    if exif is not None:
        options["exif"] = exif if isinstance(exif, bytes) else exif.tobytes()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=95, subsampling=0, **options)
    return buf.getvalue()


def _absurd_exif() -> Image.Exif:
    """Values no camera writes: 1e9 mm focal length, 0/0 f-number, negative distance, a 35 mm
    focal length of 65535, an orientation of 99, and a Canon maker note of random bytes."""
    rng = np.random.default_rng(3)
    exif = make_exif(focal_mm=1e9, focus_m=None, focal_35mm=65535, orientation=1)
    exif[0x0112] = 99
    exif[MAKE] = "Canon"
    sub = dict(exif[EXIF_IFD])
    sub[FNUMBER] = TiffImagePlugin.IFDRational(0, 0)
    sub[SUBJECT_DISTANCE] = TiffImagePlugin.IFDRational(-5, 1)
    sub[MAKER_NOTE] = rng.integers(0, 256, 3000, dtype=np.uint8).tobytes()
    exif[EXIF_IFD] = sub
    return exif


def _looping_exif() -> bytes:
    """Raw EXIF whose IFD0 says 65535 entries (far past the end) and whose next-IFD offset and
    Exif-IFD pointer point back at IFD0 itself (a loop)."""
    entries = struct.pack("<HHII", 0x8769, 4, 1, 8) + struct.pack("<HHII", 0x0112, 3, 1, 1)
    ifd0 = struct.pack("<H", 65535) + entries + struct.pack("<I", 8)
    return b"Exif\0\0" + b"II*\0" + struct.pack("<I", 8) + ifd0


def build_awkward(folder: Path) -> list[Awkward]:
    """Write the awkward-but-valid files into ``folder``; return them with their upright pictures."""
    folder.mkdir(parents=True, exist_ok=True)
    files: list[Awkward] = []

    def add(name: str, data: bytes | None, upright: np.ndarray, image: Image.Image | None = None, **save):
        path = folder / name
        if data is not None:
            path.write_bytes(data)
        else:
            image.save(path, **save)
        files.append(Awkward(path, upright))

    up = upright_pattern(24, 40)
    for orientation in range(1, 9):
        stored = stored_for_orientation(up, orientation)
        add(f"orient{orientation}.jpg", _jpeg(stored, make_exif(focus_m=2.0, orientation=orientation)), up)
    gray = np.asarray(Image.fromarray(up).convert("L"))
    grey3 = np.repeat(gray[..., None], 3, axis=2)
    add("gray.jpg", None, grey3, Image.fromarray(gray), quality=95)
    add("gray16.png", None, grey3, Image.fromarray(gray.astype(np.uint16) * 257))
    add("rgb16.png", png_bytes(up.astype(np.uint16) * 257, 16), up)
    add("rgba16.png", png_bytes(np.dstack([up, np.full(up.shape[:2], 128, np.uint8)]).astype(np.uint16) * 257),
        up)
    add("cmyk.jpg", None, up, Image.fromarray(up).convert("CMYK"), quality=95)
    add("cmyk_tiff.tif", None, up, Image.fromarray(up).convert("CMYK"))
    add("rgba.png", None, up, Image.fromarray(np.dstack([up, np.full(up.shape[:2], 77, np.uint8)]), "RGBA"))
    add("la.png", None, grey3, Image.fromarray(np.dstack([gray, gray // 2]), "LA"))
    palette = Image.fromarray(up).quantize(64)
    add("palette.png", None, np.asarray(palette.convert("RGB")), palette)
    palette_t = palette.copy()
    palette_t.info["transparency"] = 0
    add("palette_transparent.png", None, np.asarray(palette.convert("RGB")), palette_t, transparency=0)
    add("progressive.jpg", None, up, Image.fromarray(up), quality=95, subsampling=0, progressive=True)
    add("orient6_tiff.tif", None, up, Image.fromarray(stored_for_orientation(up, 6)), tiffinfo={0x0112: 6})
    add("jpeg_named.png", _jpeg(up, make_exif()), up)  # content, not the name, decides
    add("absurd_exif.jpg", _jpeg(up, _absurd_exif()), up)
    add("looping_exif.jpg", _jpeg(up, _looping_exif()), up)
    for h, w in ((1, 1), (2, 3), (5, 7)):
        tiny = upright_pattern(h, w)
        add(f"tiny{w}x{h}.jpg", _jpeg(tiny, make_exif(focus_m=2.0)), tiny)
        add(f"tinypng{w}x{h}.png", None, tiny, Image.fromarray(tiny))
    tall = upright_pattern(9, 2)
    add("tiny_rotated.jpg", _jpeg(stored_for_orientation(tall, 6), make_exif(orientation=6)), tall)
    return files


def build_broken(folder: Path) -> dict[Path, str]:
    """Write the broken files into ``folder``; return path -> a regex its error line must match."""
    folder.mkdir(parents=True, exist_ok=True)
    good = _jpeg(upright_pattern(64, 96), make_exif(focus_m=2.0))
    broken: dict[Path, str] = {}

    def add(name: str, data: bytes, word: str) -> Path:
        path = folder / name
        path.write_bytes(data)
        broken[path] = word
        return path

    add("empty.jpg", b"", "empty")
    add("notes.jpg", b"shopping list: milk, eggs\n" * 20, "not an image")
    add("truncated.jpg", good[: len(good) * 2 // 3], "truncated")
    sos = good.index(b"\xff\xda")
    add("corrupt.jpg", good[:sos] + bytes(range(256)) * 8, "corrupt")
    add("header_only.png", png_bytes(np.zeros((4, 4, 3), np.uint8), 8)[:33], "image")
    rgb16 = bytearray(png_bytes(np.full((8, 8, 3), 999, np.uint16)))
    rgb16[-20] ^= 0xFF  # inside the IDAT payload: its CRC no longer matches
    add("bad_crc16.png", bytes(rgb16), "corrupt")
    add("bomb_png.png", png_bytes(np.zeros((1, 1, 3), np.uint8), 8, width_height=(60000, 60000)), "too many pixels")
    sof = good.index(b"\xff\xc0")
    add("bomb_jpeg.jpg", good[:sof + 5] + struct.pack(">HH", 65000, 65000) + good[sof + 9:], "too many pixels")
    add("fake.heic", bytes(range(64)), "not an image")
    tiff = bytearray(b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", 1)
                     + struct.pack("<HHII", 256, 4, 1, 10**9) + struct.pack("<I", 0))
    add("lying.tif", bytes(tiff), "image")
    dangling = folder / "gone.jpg"
    dangling.symlink_to(folder / "does-not-exist.jpg")
    broken[dangling] = "no such file|not found"
    fifo = folder / "pipe.jpg"
    os.mkfifo(fifo)
    broken[fifo] = "not a regular file"
    return broken
