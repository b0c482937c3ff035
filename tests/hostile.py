"""Hostile files for the reliability tests of issue 21: each builder writes what an attacker
would hand to `bokeh`, from the published formats (PNG, JPEG APP1, XMP, safetensors, .npy),
independently of the code under test.

- XMP packets that made the reader quadratic (unclosed comments, thousands of bound prefixes);
- PNGs whose headers lie (a second IHDR after a first small one), tall 16-bit PNGs, depth maps
  that decode to far more pixels than their bytes suggest;
- weights whose config asks for absurd networks or whose tensors are not finite;
- PostScript named .jpg (Pillow would run Ghostscript on it), HEIC without its decoder,
  animations.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
XMP_ID = b"http://ns.adobe.com/xap/1.0/\0"
AUX = b"http://ns.adobe.com/exif/1.0/aux/"
MAX_APP1_BODY = 65533


# --- XMP ----------------------------------------------------------------------------------

def xmp_bombs(size: int) -> dict[str, bytes]:
    """Packets of about ``size`` bytes that cost a careless reader time quadratic in ``size``."""
    def repeat(unit: bytes) -> bytes:
        return (unit * (size // len(unit) + 1))[:size]

    declarations = b"".join(b'xmlns:p%d="%s" ' % (i, AUX) for i in range(size // 40))[:size]
    bound_values = b"".join(b'xmlns:q%d="%s" q%d:ApproximateFocusDistance="x" ' % (i, AUX, i)
                            for i in range(size // 80))[:size]
    return {
        "unclosed comments": repeat(b"<!--"),
        "comment never closed after text": b"<x/>" + repeat(b"<!-- -- >"),
        "bound prefixes": declarations,
        "bound prefixes with unreadable values": bound_values,
        "unclosed elements": repeat(b"<aux:ApproximateFocusDistance "),
        "property then spaces": repeat(b"aux:ApproximateFocusDistance" + b" " * 100),
        "endless number": b'aux:ApproximateFocusDistance="' + repeat(b"1"),
        "long prefixes": repeat(b"x" * 63 + b":"),
        "declaration then spaces": repeat(b"xmlns:a" + b" " * 200),
    }


def jpeg_with_xmp(packet: bytes, size_wh: tuple[int, int] = (64, 48)) -> bytes:
    """A JPEG (headers only, as a camera writes them) whose XMP spans as many APP1 segments as it
    needs, each ``XMP_ID`` + up to 64 KB of the packet."""
    out = bytearray(b"\xff\xd8")
    chunk = MAX_APP1_BODY - len(XMP_ID)
    for at in range(0, len(packet), chunk):
        body = XMP_ID + packet[at:at + chunk]
        out += b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
    sof = struct.pack(">BHHB", 8, size_wh[1], size_wh[0], 3) + b"\x01\x11\x00\x02\x11\x00\x03\x11\x00"
    out += b"\xff\xc0" + struct.pack(">H", len(sof) + 2) + sof + b"\xff\xda\x00\x02\xff\xd9"
    return bytes(out)


# --- PNG ----------------------------------------------------------------------------------

def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def ihdr(width: int, height: int, bit_depth: int = 16, colour_type: int = 2) -> bytes:
    return png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0))


def png_rows(rows: np.ndarray, width: int, height: int, bit_depth: int = 16, colour_type: int = 2) -> bytes:
    """A PNG of already filtered rows (uint8 (H, 1 + W * bpp), filter type first)."""
    return (PNG_SIGNATURE + ihdr(width, height, bit_depth, colour_type)
            + png_chunk(b"IDAT", zlib.compress(rows.tobytes(), 9)) + png_chunk(b"IEND", b""))


def flat_png16(width: int, height: int, value: int = 0, channels: int = 3) -> bytes:
    """A 16-bit PNG of one value (filter None): compresses to almost nothing whatever its size."""
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    samples = np.full((height, width * channels), value, ">u2").view(np.uint8)
    rows = np.concatenate([np.zeros((height, 1), np.uint8), samples], axis=1)
    return png_rows(rows, width, height, 16, colour_type)


def png_with_second_header(small_wh: tuple[int, int], big_wh: tuple[int, int]) -> bytes:
    """A 16-bit RGB PNG whose first IHDR says ``small_wh`` (what a size check reads, Pillow
    stopping at the first IDAT) and whose second IHDR, after an empty IDAT, says ``big_wh``,
    with image data for the big one."""
    width, height = big_wh
    rows = np.zeros((height, 1 + width * 6), np.uint8)
    return (PNG_SIGNATURE + ihdr(*small_wh) + png_chunk(b"IDAT", b"") + ihdr(width, height)
            + png_chunk(b"IDAT", zlib.compress(rows.tobytes(), 9)) + png_chunk(b"IEND", b""))


def npy_header_only(shape: tuple[int, ...], dtype: str = "<f4") -> bytes:
    """A .npy whose header announces ``shape`` and that holds no data at all."""
    header = repr({"descr": dtype, "fortran_order": False, "shape": tuple(shape)}).encode("latin-1")
    header += b" " * (-(10 + len(header) + 1) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header


# --- other formats ------------------------------------------------------------------------

POSTSCRIPT = (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 48\n"
              b"newpath 0 0 moveto 64 48 lineto stroke showpage\n%%EOF\n")


def fake_ghostscript(folder: Path) -> tuple[dict[str, str], Path]:
    """A `gs` in ``folder``/bin that only leaves a mark when run (Pillow finds Ghostscript on
    PATH and runs it on PostScript): the environment that puts it first on PATH, and the mark."""
    fake = folder / "bin"
    fake.mkdir()
    marker = folder / "ghostscript-ran"
    (fake / "gs").write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    (fake / "gs").chmod(0o755)
    return {"PATH": f"{fake}{os.pathsep}{os.environ['PATH']}"}, marker


def heic_lookalike() -> bytes:
    """The start of a HEIC file (an ISO-BMFF ``ftyp`` box with the heic brand) and nothing a
    decoder could use."""
    return struct.pack(">I", 24) + b"ftypheic" + b"\0\0\0\0" + b"mif1heic" + bytes(64)


def write_animation(path: Path, frames: int = 3, size_wh: tuple[int, int] = (32, 24)) -> Path:
    images = [Image.new("RGB", size_wh, (60 * i, 100, 200 - 50 * i)) for i in range(frames)]
    images[0].save(path, save_all=True, append_images=images[1:], duration=100, loop=0)
    return path


# --- weights ------------------------------------------------------------------------------

def write_weights(path: Path, tensors: dict[str, torch.Tensor], config_json: str) -> Path:
    save_file(tensors, str(path), metadata={"format": "bokehflow", "config": config_json})
    return path


def hostile_configs(config: dict) -> dict[str, str]:
    """JSON texts of ``config`` with one field made hostile (written as text: JSON parsers take
    ``Infinity``, ``NaN`` and ``1e400``, which ``json.dumps`` of a dict would not produce)."""
    def with_field(key: str, raw: str) -> str:
        return json.dumps({**config, key: "@"}).replace('"@"', raw)

    return {
        "100,000 blocks": with_field("blocks", "100000"),
        "infinite width": with_field("dim", "1e400"),
        "overflowing width": with_field("dim", "1" + "0" * 30),
        "infinite feed-forward ratio": with_field("ffn_ratio", "Infinity"),
        "infinite depth range": with_field("max_depth_m", "Infinity"),
        "NaN depth": with_field("min_depth_m", "NaN"),
        "boolean heads": with_field("heads", "true"),
        "name with a newline": with_field("name", '"two\\nlines"'),
        "nested too deep": with_field("lens_dim", "[" * 100_000 + "]" * 100_000),
    }
