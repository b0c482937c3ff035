"""Photo input and output.

``load_photo`` turns any supported file into upright float32 sRGB-encoded values in [0, 1]
(alpha kept apart), whatever its format (JPEG, PNG, TIFF, HEIC when ``pillow_heif`` is
installed), pixel mode or EXIF orientation. Linearisation is the renderer's job
(``bokehcli.ops.color.srgb_to_linear``). Every failure is an :class:`InputError` whose one
line names the file.

``save_photo`` writes the rendered image as JPEG, 8-bit PNG or 16-bit RGB TIFF, atomically,
carrying the source's EXIF (Orientation reset to 1, FNumber set to the rendered value, the
rendering recorded in ImageDescription and Software) and ICC profile. Alpha is not written:
blurring moves colour across the frame, so the source's alpha no longer matches the pixels.

Pillow reads 16-bit-per-channel colour PNGs and TIFFs at 8 bits, so those two are decoded
here (PNG: inflate + unfilter; TIFF: uncompressed or deflate strips), and Pillow cannot
write 16-bit RGB TIFF, so that writer is here too.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import io
import stat
import struct
import warnings
import zlib
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, ImageCms, TiffImagePlugin, UnidentifiedImageError

from . import __version__
from .errors import InputError
from .files import atomic_path


@functools.cache
def register_heif() -> None:
    """Let Pillow open HEIC/HEIF when the optional pillow-heif is installed (extra "heic")."""
    with contextlib.suppress(ImportError):
        import pillow_heif

        pillow_heif.register_heif_opener()


register_heif()

DEFAULT_MAX_PIXELS = 200_000_000
OUTPUT_SUFFIX = {"jpeg": ".jpg", "png": ".png", "tiff": ".tif"}
JPEG_QUALITY = 95
FULL_CHROMA_QUALITY = 90        # from this JPEG quality on, chroma is stored at full resolution (4:4:4)
MAX_JPEG_EXIF_BYTES = 65533     # one APP1 segment

# Pillow's own bomb check is a process-wide constant (warn above 89 MP, refuse above 179 MP)
# that would refuse photos a caller allowed with ``max_pixels``. Every image bokeh reads from a
# user goes through ``load_photo`` or ``depthio``, which check the header size against the
# caller's limit before decoding (``read_size`` reads headers only); Pillow's leftover warning or
# error (should anyone set the constant again) is still turned into an InputError below.
Image.MAX_IMAGE_PIXELS = None

# What Pillow's plugins and our decoders raise on malformed data (Pillow uses all of these).
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error, zlib.error,
                  IndexError, KeyError, TypeError, ZeroDivisionError, OverflowError)

_EXIF_IFD, _GPS_IFD, _INTEROP_IFD = 0x8769, 0x8825, 0xA005
_ORIENTATION, _DESCRIPTION, _SOFTWARE = 0x0112, 0x010E, 0x0131
_FNUMBER, _APERTURE_VALUE, _PIXEL_X, _PIXEL_Y = 0x829D, 0x9202, 0xA002, 0xA003
# IFD0 tags of a TIFF source that are EXIF metadata rather than the TIFF's own image structure.
_TIFF_METADATA_TAGS = (0x010E, 0x010F, 0x0110, 0x0112, 0x0131, 0x0132, 0x013B, 0x8298)


@dataclass(frozen=True)
class Photo:
    """A decoded photo, upright (EXIF orientation applied).

    ``srgb``: float32 (H, W, 3) sRGB-encoded values in [0, 1]; ``alpha``: float32 (H, W) or
    None; ``exif``: raw EXIF (``b"Exif\\0\\0"`` + TIFF structure) to carry to outputs;
    ``icc``: ICC profile of ``srgb`` (None means sRGB); ``bit_depth``: 8, or 16 for 16-bit
    and floating-point files; ``orientation``: the file's EXIF orientation (1..8);
    ``warnings``: one line each, naming the file.
    """

    path: Path
    srgb: np.ndarray
    alpha: np.ndarray | None
    exif: bytes | None
    icc: bytes | None
    bit_depth: int
    orientation: int
    warnings: tuple[str, ...] = ()


def load_photo(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Photo:
    """Decode ``path`` fully; refuse more than ``max_pixels`` pixels before decoding."""
    path = Path(path)
    with reading_input(path) as caught, Image.open(path) as im:
        width, height = im.size
        if width * height > max_pixels:
            raise InputError(f"{path}: too many pixels ({width}x{height} = {width * height / 1e6:.0f} MP; "
                             f"the limit is {max_pixels / 1e6:g} MP)")
        photo = _decode(path, im)
        notes = [f"{path}: {w.message}" for w in caught]
    return replace(photo, warnings=tuple(dict.fromkeys(photo.warnings + tuple(notes))))


def read_size(path: str | Path) -> tuple[int, int]:
    """Upright ``(width, height)`` from the header alone (no pixel decoding)."""
    path = Path(path)
    with reading_input(path), Image.open(path) as im:
        width, height = _stored_size(im)
        orientation, _ = _orientation(_source_exif(im, None))
    return (height, width) if orientation >= 5 else (width, height)


def _stored_size(im: Image.Image) -> tuple[int, int]:
    """(width, height) as stored. Pillow reports a TIFF's size already turned upright."""
    if im.format == "TIFF":
        return im.tag_v2[256], im.tag_v2[257]
    return im.size


@contextlib.contextmanager
def reading_input(path: Path, what: str = "image") -> Iterator[list[warnings.WarningMessage]]:
    """Check ``path`` is a non-empty file, then turn whatever reading it raises into a one-line
    InputError (``what`` names the kind of file). Yields the live list of warnings raised meanwhile."""
    try:
        st = path.stat()
    except OSError as exc:
        raise InputError(f"{path}: {_os_problem(exc)}") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{path}: is a directory")
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{path}: not a regular file")
    if st.st_size == 0:
        raise InputError(f"{path}: empty file")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            yield caught
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise InputError(f"{path}: too many pixels (Pillow's decompression-bomb limit)") from None
        except UnidentifiedImageError:
            raise InputError(f"{path}: not an image (or a format bokeh cannot read)") from None
        except MemoryError:
            raise InputError(f"{path}: too large to decode (out of memory)") from None
        except _DECODE_ERRORS as exc:
            problem = _os_problem(exc) if isinstance(exc, OSError) and exc.errno else _corrupt(exc, what)
            raise InputError(f"{path}: {problem}") from None


# A JPEG whose image data stops early but still ends with an end-of-image marker decodes with no
# error at all: libjpeg fills the missing blocks with zero coefficients (flat grey, level 128) and
# Pillow passes on no warning. Whole rows of exactly that grey at the bottom are its trace; a
# real photo practically never has them, but a graphic might, so it is a warning.
_JPEG_MCU_PX = 8
_JPEG_EMPTY_LEVEL = 128


def _jpeg_grey_tail_rows(im: Image.Image) -> int:
    """Rows at the bottom of a decoded 8-bit grey or RGB JPEG whose samples are all 128."""
    if im.format != "JPEG" or im.mode not in ("L", "RGB"):
        return 0
    width, height = im.size
    rows, step = 0, _JPEG_MCU_PX
    while rows < height:
        band = np.asarray(im.crop((0, max(height - rows - step, 0), width, height - rows)))
        flat = (band == _JPEG_EMPTY_LEVEL).reshape(band.shape[0], -1).all(axis=1)
        if not flat.all():
            return rows + int(np.argmin(flat[::-1]))  # the flat rows at the bottom of this band
        rows += band.shape[0]
        step *= 2
    return rows


def _os_problem(exc: OSError) -> str:
    return {errno.ENOENT: "file not found", errno.EISDIR: "is a directory",
            errno.EACCES: "permission denied", errno.EPERM: "permission denied"}.get(
        exc.errno, exc.strerror or str(exc))


def _corrupt(exc: BaseException, what: str) -> str:
    detail = " ".join(str(exc).split()) or type(exc).__name__
    return f"corrupt or truncated {what} ({detail})"


def _decode(path: Path, im: Image.Image) -> Photo:
    notes: list[str] = []
    # Read before decoding: Pillow's TIFF loader applies the Orientation tag itself and then
    # deletes it. A PNG's eXIf chunk may instead follow the pixels, so look again afterwards.
    exif = _source_exif(im, None)
    pixels16, trailing_exif = _decode_16bit_colour(path, im, notes)
    if pixels16 is not None:
        pixels, bit_depth, icc = pixels16.astype(np.float32) / 65535.0, 16, im.info.get("icc_profile")
    else:
        im.load()  # the full decode: a truncated file fails here rather than coming back grey
        grey_rows = _jpeg_grey_tail_rows(im)
        if grey_rows >= _JPEG_MCU_PX:
            notes.append(f"{path}: the bottom {grey_rows} rows are flat mid-grey, as the missing part of a "
                         f"JPEG cut short decodes; the file may be truncated")
        pixels, bit_depth, icc = _pixels(path, im)
    exif = exif or _source_exif(im, trailing_exif)
    orientation, problem = _orientation(exif)
    if problem:
        notes.append(f"{path}: {problem}")
    pending = orientation
    if pixels16 is None and im.format == "TIFF" and _ORIENTATION not in im.tag_v2:
        pending = 1  # Pillow has already turned the pixels upright
    icc = _usable_icc(path, icc, notes)
    channels = pixels.shape[2]
    colour = pixels[..., :3] if channels >= 3 else np.repeat(pixels[..., :1], 3, axis=2)
    alpha = pixels[..., channels - 1] if channels in (2, 4) else None
    return Photo(path=path, srgb=np.ascontiguousarray(apply_orientation(colour, pending)),
                 alpha=None if alpha is None else np.ascontiguousarray(apply_orientation(alpha, pending)),
                 exif=exif, icc=icc, bit_depth=bit_depth, orientation=orientation, warnings=tuple(notes))


def _pixels(path: Path, im: Image.Image) -> tuple[np.ndarray, int, bytes | None]:
    """Pixels of a Pillow-decoded image as float32 (H, W, C), C in 1..4 (grey, grey+alpha,
    RGB, RGBA), with the file's bit depth and the ICC profile that now applies."""
    icc = im.info.get("icc_profile")
    mode = im.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return np.asarray(im).astype(np.float32)[..., None] / 65535.0, 16, icc
    if mode == "F":
        values = np.asarray(im, dtype=np.float32)
        if not np.isfinite(values).all():
            raise InputError(f"{path}: float image holds non-finite values")
        return np.clip(values, 0.0, 1.0)[..., None], 16, icc
    if mode == "CMYK":
        return _cmyk_to_srgb(im, icc), 8, None
    target = {"1": "L", "L": "L", "LA": "LA", "La": "LA", "PA": "RGBA", "RGB": "RGB", "RGBX": "RGB",
              "YCbCr": "RGB", "RGBA": "RGBA", "RGBa": "RGBA"}.get(mode)
    if mode == "P":
        target = "RGBA" if "transparency" in im.info else "RGB"
    if target is None:
        raise InputError(f"{path}: unsupported pixel mode {mode}")
    converted = im if im.mode == target else im.convert(target)
    values = np.asarray(converted, dtype=np.float32) / 255.0
    return (values[..., None] if values.ndim == 2 else values), 8, icc


def _cmyk_to_srgb(im: Image.Image, icc: bytes | None) -> np.ndarray:
    """CMYK -> sRGB through the embedded profile when there is one, else Pillow's formula.
    (Pillow already un-inverts Adobe CMYK JPEGs when it decodes them.)"""
    rgb = None
    if icc and _icc_space(icc) == b"CMYK":
        with contextlib.suppress(ImageCms.PyCMSError, OSError):
            rgb = ImageCms.profileToProfile(im, ImageCms.ImageCmsProfile(io.BytesIO(icc)),
                                            ImageCms.createProfile("sRGB"), outputMode="RGB")
    rgb = rgb if rgb is not None else im.convert("RGB")
    return np.asarray(rgb, dtype=np.float32) / 255.0


def _icc_space(icc: bytes) -> bytes:
    """The ICC header's data colour space ('RGB ', 'GRAY', 'CMYK', ...)."""
    return icc[16:20].strip()


def _usable_icc(path: Path, icc: bytes | None, notes: list[str]) -> bytes | None:
    """Keep only an RGB profile: outputs are RGB, a grey or CMYK profile would mislabel them."""
    if not icc or _icc_space(icc) == b"RGB":
        return icc or None
    notes.append(f"{path}: ICC profile for {_icc_space(icc).decode('latin-1')} data not carried to outputs")
    return None


def _source_exif(im: Image.Image, trailing_exif: bytes | None) -> bytes | None:
    """The file's EXIF as ``b"Exif\\0\\0"`` + TIFF structure, or None."""
    raw = im.info.get("exif") or trailing_exif
    if raw is None and im.format == "TIFF":
        raw = _tiff_metadata_exif(im)
    if not raw:
        return None
    return raw if raw.startswith(b"Exif\x00\x00") else b"Exif\x00\x00" + raw


def _tiff_metadata_exif(im: Image.Image) -> bytes | None:
    """A TIFF keeps its EXIF in its own IFD0: copy the metadata, not the image structure."""
    try:
        source = im.getexif()
        exif = Image.Exif()
        for tag in _TIFF_METADATA_TAGS:
            if tag in source:
                exif[tag] = source[tag]
        for tag in (_EXIF_IFD, _GPS_IFD):
            if tag in source:
                exif[tag] = dict(source.get_ifd(tag))
        return exif.tobytes() if len(exif) else None
    except _DECODE_ERRORS:
        return None


def _orientation(exif: bytes | None) -> tuple[int, str | None]:
    """EXIF orientation (1..8) and a problem description when it had to be assumed."""
    if not exif:
        return 1, None
    try:
        value = Image.Exif()
        value.load(exif)
        orientation = value.get(_ORIENTATION, 1)
    except _DECODE_ERRORS:
        return 1, "unreadable EXIF; orientation assumed normal"
    if orientation not in range(1, 9):
        return 1, f"invalid EXIF orientation {orientation!r}; assumed normal"
    return orientation, None


def apply_orientation(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Stored pixels (H, W, ...) -> upright, for EXIF orientation 1..8 (a view, not a copy).

    2 mirror left-right, 3 rotate 180, 4 mirror top-bottom, 5 transpose, 6 rotate 90 clockwise,
    7 transverse, 8 rotate 90 counter-clockwise.
    """
    flips = {1: (False, False, False), 2: (False, False, True), 3: (False, True, True),
             4: (False, True, False), 5: (True, False, False), 6: (True, False, True),
             7: (True, True, True), 8: (True, True, False)}
    transpose, flip_rows, flip_cols = flips[orientation]
    if transpose:
        pixels = pixels.swapaxes(0, 1)
    if flip_rows:
        pixels = pixels[::-1]
    if flip_cols:
        pixels = pixels[:, ::-1]
    return pixels


# --- 16-bit colour decoding -------------------------------------------------------------

def _decode_16bit_colour(path: Path, im: Image.Image,
                         notes: list[str]) -> tuple[np.ndarray | None, bytes | None]:
    """(H, W, C) uint16 pixels for the 16-bit colour/grey+alpha PNGs and TIFFs that Pillow
    would truncate to 8 bits, plus a PNG's eXIf chunk; (None, None) for everything else."""
    if im.format == "PNG":
        with open(path, "rb") as fh:
            head = fh.read(29)
        if len(head) == 29 and head[24] == 16 and head[25] in (2, 4, 6):
            return _read_png16(path.read_bytes())
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
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def _read_png16(data: bytes) -> tuple[np.ndarray, bytes | None]:
    """16-bit PNG -> ((H, W, C) uint16, eXIf chunk or None). Chunks are CRC-checked."""
    width = height = channels = interlace = 0
    idat, exif, pos = [], None, 8
    while pos + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body, crc = data[pos + 8:pos + 8 + length], data[pos + 8 + length:pos + 12 + length]
        if len(crc) < 4 or zlib.crc32(kind + body) != int.from_bytes(crc, "big"):
            raise ValueError(f"PNG chunk {kind!r} is truncated or fails its CRC")
        if kind == b"IHDR":
            width, height, _, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", body)
            channels = _PNG_CHANNELS[colour_type]
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
    pixels of one anti-diagonal x + y = d are independent: H + W - 1 vectorised steps. Pixels
    are stored skewed, (y, x) at ``grid[x + y + 2, y + 1]``, so that every diagonal and its
    neighbours are contiguous; the never-written slots are PNG's zero outside the image.
    Memory: (H + W + 1) (H + 1) bpp bytes.
    """
    height, width = rows.shape[0], (rows.shape[1] - 1) // bpp
    kinds = rows[:, 0].astype(np.int16)[:, None]
    if height and kinds.max() > 4:
        raise ValueError("invalid PNG filter type")
    grid = np.zeros((height + width + 1, height + 1, bpp), np.uint8)
    _skewed(grid)[...] = rows[:, 1:].reshape(height, width, bpp)  # filtered bytes, replaced diagonal by diagonal
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
    return _skewed(grid).reshape(height, width * bpp)


def _skewed(grid: np.ndarray) -> np.ndarray:
    """(H, W, bpp) view of the pixels of a skewed (H + W + 1, H + 1, bpp) grid (see above)."""
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
    tags, (width, height) = im.tag_v2, _stored_size(im)
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


# --- writing ------------------------------------------------------------------------------

def save_photo(out_path: str | Path, srgb: np.ndarray, fmt: str = "jpeg", quality: int = JPEG_QUALITY,
               source: Photo | None = None, f_number: float | None = None,
               description: str | None = None) -> list[str]:
    """Write float sRGB (H, W, 3) in [0, 1] to ``out_path`` atomically; return warnings.

    fmt: "jpeg" (8-bit; 4:4:4 chroma from quality 90), "png" (8-bit) or "tiff" (16-bit RGB,
    deflate with horizontal prediction). Metadata: see the module docstring.
    """
    if fmt not in OUTPUT_SUFFIX:
        raise ValueError(f"unknown output format {fmt!r}; expected one of {sorted(OUTPUT_SUFFIX)}")
    if srgb.ndim != 3 or srgb.shape[2] != 3:
        raise ValueError(f"srgb must be (H, W, 3), got {srgb.shape}")
    if not np.isfinite(srgb).all():
        raise ValueError("srgb holds non-finite values")
    out_path = Path(out_path)
    height, width = srgb.shape[:2]
    exif, notes = _output_exif(source, f_number, description, (width, height))
    icc = source.icc if source is not None else None
    with atomic_path(out_path) as tmp:
        if fmt == "tiff":
            _write_tiff16(tmp, _quantise(srgb, np.uint16), exif, icc)
        else:
            image = Image.fromarray(_quantise(srgb, np.uint8), "RGB")
            options = {"exif": exif.tobytes()}
            if icc:
                options["icc_profile"] = icc
            if fmt == "jpeg":
                options.update(quality=quality,
                               subsampling=0 if quality >= FULL_CHROMA_QUALITY else 2)
            image.save(tmp, format=fmt.upper(), **options)
    return notes


def _quantise(srgb: np.ndarray, dtype) -> np.ndarray:
    top = np.iinfo(dtype).max
    return np.rint(np.clip(srgb, 0.0, 1.0) * top).astype(dtype)


def _output_exif(source: Photo | None, f_number: float | None, description: str | None,
                 size_wh: tuple[int, int]) -> tuple[Image.Exif, list[str]]:
    """The source's EXIF, upright and stamped with the rendering; a fresh minimal one (and a
    warning) when the source's cannot be written back."""
    if source is not None and source.exif:
        exif = Image.Exif()
        # Pillow reads sub-IFDs lazily and warns about odd ones: what counts is whether the
        # result can be written, so its warnings are silenced here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                exif.load(source.exif)
                _stamp(exif, f_number, description, size_wh)
                if len(exif.tobytes()) <= MAX_JPEG_EXIF_BYTES:
                    return exif, []
                problem = "too large"
            # Absurd EXIF fails in many ways inside Pillow (struct.error for out-of-range values,
            # TypeError/ValueError for odd types, ...): none of them may stop the render.
            except Exception as exc:  # noqa: BLE001
                problem = f"unusable ({type(exc).__name__})"
        notes = [f"{source.path}: EXIF {problem}; wrote a minimal EXIF instead"]
    else:
        notes = []
    exif = Image.Exif()
    _stamp(exif, f_number, description, size_wh)
    return exif, notes


def _stamp(exif: Image.Exif, f_number: float | None, description: str | None,
           size_wh: tuple[int, int]) -> None:
    """Record the rendering: pixels are stored upright, the aperture is the rendered one.
    The Exif sub-IFD ends up as a dict in ``exif`` (its interop IFD too), which is what
    Pillow serialises in place of the source's offsets."""
    exif[_ORIENTATION] = 1
    exif[_SOFTWARE] = f"bokeh {__version__}"
    if description:
        exif[_DESCRIPTION] = description
    sub = _sub_ifd(exif, _EXIF_IFD)
    if _INTEROP_IFD in sub and not isinstance(sub[_INTEROP_IFD], dict):
        sub[_INTEROP_IFD] = dict(exif.get_ifd(_INTEROP_IFD))
    sub[_PIXEL_X], sub[_PIXEL_Y] = size_wh
    if f_number is not None:
        sub[_FNUMBER] = exif_rational(f_number)
        sub.pop(_APERTURE_VALUE, None)
        if f_number >= 1:  # APEX Av = 2 log2 N is an unsigned rational
            sub[_APERTURE_VALUE] = exif_rational(2 * np.log2(f_number))
    exif[_EXIF_IFD] = sub


def _sub_ifd(exif: Image.Exif, tag: int) -> dict:
    value = exif.get(tag)
    return dict(value) if isinstance(value, dict) else dict(exif.get_ifd(tag))


def exif_rational(value: float) -> TiffImagePlugin.IFDRational:
    """An EXIF RATIONAL close to ``value`` (denominator at most 10,000)."""
    fraction = Fraction(float(value)).limit_denominator(10_000)
    return TiffImagePlugin.IFDRational(fraction.numerator, fraction.denominator)


def _write_tiff16(path: Path, rgb16: np.ndarray, exif: Image.Exif, icc: bytes | None) -> None:
    """Baseline little-endian RGB TIFF, 16 bits per sample, deflate strips with horizontal
    prediction (TIFF 6.0 §14), IFD0 carrying the EXIF metadata, sub-IFDs and ICC profile.

    Pillow's IFD serialiser lays out the directory (``exif`` was already proven serialisable
    by ``_output_exif``). StripOffsets are given relative to the end of the directory, which
    the serialiser adds: that is how Pillow's own TIFF writer places strip data.
    """
    height, width, _ = rgb16.shape
    rows_per_strip = max(1, (1 << 20) // (width * 6))
    diffs = np.diff(rgb16, axis=1, prepend=np.uint16(0)).astype("<u2")  # wraps mod 2^16, as TIFF wants
    # zlib level 1: on photos 5x the speed of level 6 for 12% more bytes (measured, 8 MP).
    strips = [zlib.compress(diffs[y:y + rows_per_strip].tobytes(), 1) for y in range(0, height, rows_per_strip)]
    ifd = TiffImagePlugin.ImageFileDirectory_v2(prefix=b"II")
    for tag in _TIFF_METADATA_TAGS:
        if tag in exif:
            ifd[tag] = exif[tag]
    for tag in (_EXIF_IFD, _GPS_IFD):
        if tag in exif:
            ifd[tag] = _sub_ifd(exif, tag)
    ifd[256], ifd[257] = width, height
    ifd[258] = (16, 16, 16)
    ifd[259] = 8           # deflate
    ifd[262] = 2           # RGB
    ifd[273] = tuple(np.cumsum([0] + [len(s) for s in strips[:-1]]).tolist())
    ifd[277] = 3
    ifd[278] = rows_per_strip
    ifd[279] = tuple(len(s) for s in strips)
    ifd[282] = ifd[283] = TiffImagePlugin.IFDRational(72, 1)
    ifd[284] = 1           # chunky
    ifd[296] = 2           # inches
    ifd[317] = 2           # horizontal differencing
    if icc:
        ifd[34675] = icc
    with open(path, "wb") as fh:
        fh.write(b"II*\x00" + struct.pack("<I", 8))
        fh.write(ifd.tobytes(8))
        for strip in strips:
            fh.write(strip)
