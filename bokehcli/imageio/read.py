"""Reading photos: ``load_photo`` (any supported file -> upright float32 sRGB in [0, 1], alpha
kept apart), ``read_size`` (header only) and ``reading_input`` (every failure -> one-line
InputError naming the file)."""

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
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from PIL import Image, ImageCms, UnidentifiedImageError

from ..defaults import DEFAULT_MAX_PIXELS
from ..errors import InputError
from .decode16 import decode_16bit_colour, stored_size
from .tags import EXIF_IFD, GPS_IFD, ORIENTATION, TIFF_METADATA_TAGS
from .xmp import SourceXmp, read_xmp


@functools.cache
def register_heif() -> None:
    """Let Pillow open HEIC/HEIF when the optional pillow-heif is installed (extra "heic")."""
    with contextlib.suppress(ImportError):
        import pillow_heif

        pillow_heif.register_heif_opener()


register_heif()

# A flat grey JPEG, the most compressible there is, takes ~3,900 bytes per megapixel (Pillow,
# quality 1, progressive, optimised Huffman tables); far fewer bytes than this cannot hold the
# image the header declares, and Pillow would decode the missing rest as grey at full cost.
MIN_JPEG_BYTES_PER_MP = 100


# Pillow's own bomb check is a process-wide constant (warn above 89 MP, refuse above 179 MP)
# that would refuse photos a caller allowed with ``max_pixels``. Every image bokeh reads from a
# user goes through ``load_photo`` or ``depthio``, which check the header size against the
# caller's limit before decoding (``read_size`` reads headers only); Pillow's leftover warning or
# error (should anyone set the constant again) is still turned into an InputError below.
Image.MAX_IMAGE_PIXELS = None

# What Pillow's plugins and our decoders raise on malformed data (Pillow uses all of these).
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error, zlib.error,
                 IndexError, KeyError, TypeError, ZeroDivisionError, OverflowError)


@dataclass(frozen=True)
class Photo:
    """A decoded photo, upright (EXIF orientation applied).

    ``srgb``: float32 (H, W, 3) sRGB-encoded values in [0, 1]; ``alpha``: float32 (H, W) or
    None; ``exif``: raw EXIF (``b"Exif\\0\\0"`` + TIFF structure) to carry to outputs;
    ``icc``: ICC profile of ``srgb`` (None means sRGB); ``bit_depth``: 8, or 16 for 16-bit
    and floating-point files; ``orientation``: the file's EXIF orientation (1..8);
    ``warnings``: one line each, naming the file; ``xmp``: the XMP to carry to outputs.
    """

    path: Path
    srgb: np.ndarray
    alpha: np.ndarray | None
    exif: bytes | None
    icc: bytes | None
    bit_depth: int
    orientation: int
    warnings: tuple[str, ...] = ()
    xmp: SourceXmp | None = None

    def srgb_chw(self) -> torch.Tensor:
        """``srgb`` as the networks and renderers take it: float32 (3, H, W), sharing memory."""
        return torch.from_numpy(self.srgb).permute(2, 0, 1)


def load_photo(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Photo:
    """Decode ``path`` fully; refuse more than ``max_pixels`` pixels before decoding."""
    path = Path(path)
    with reading_input(path) as caught, open_image(path) as im:
        width, height = im.size
        check_pixels(path, width, height, max_pixels)
        size_bytes = path.stat().st_size
        if im.format == "JPEG" and size_bytes < width * height / 1e6 * MIN_JPEG_BYTES_PER_MP:
            raise InputError(f"{path}: {size_bytes} bytes cannot hold the {width}x{height} JPEG its header "
                             f"declares; the file is truncated or forged")
        photo = _decode(path, im)
        notes = [f"{path}: {w.message}" for w in caught]
        if getattr(im, "is_animated", False) and im.format != "MPO":  # MPO: a JPEG and its previews
            notes.insert(0, f"{path}: {im.format} with several frames (an animation or pages); the first is used")
    return replace(photo, warnings=tuple(dict.fromkeys(photo.warnings + tuple(notes))))


def read_size(path: str | Path) -> tuple[int, int]:
    """Upright ``(width, height)`` from the header alone (no pixel decoding)."""
    path = Path(path)
    with reading_input(path), open_image(path) as im:
        width, height = stored_size(im)
        orientation, _ = _orientation(_source_exif(im, None))
    return (height, width) if orientation >= 5 else (width, height)


def check_pixels(path: Path, width: int, height: int, max_pixels: int) -> None:
    """The one size guard of every image bokeh decodes (photos and depth maps), applied to the
    header before any pixel is allocated."""
    if width * height > max_pixels:
        raise InputError(f"{path}: too many pixels ({width}x{height} = {width * height / 1e6:.3g} MP; "
                         f"the limit is {max_pixels / 1e6:g} MP)")


# The formats bokeh reads photos from. Pillow would otherwise try every plugin it has, EPS among
# them, which hands the file to Ghostscript (an interpreter of PostScript programs) whatever the
# file's name; the rarely used decoders stay out too. MPO (multi-picture JPEG) opens as JPEG;
# HEIF exists when pillow-heif is installed.
PHOTO_FORMATS = ("JPEG", "PNG", "TIFF", "WEBP", "HEIF", "AVIF", "BMP", "GIF")
_HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1")


@contextlib.contextmanager
def open_image(path: Path, formats: tuple[str, ...] = PHOTO_FORMATS) -> Iterator[Image.Image]:
    """``Image.open`` restricted to ``formats``; any other file is an InputError that says
    what it is when Pillow knows the format (never decoded)."""
    Image.init()
    known = [name for name in formats if name in Image.OPEN]
    try:
        im = Image.open(path, formats=known)
    except UnidentifiedImageError:
        raise InputError(f"{path}: {_unread_format(path, known)}") from None
    with im:
        yield im


def _unread_format(path: Path, formats: list[str]) -> str:
    """Why a file none of ``formats`` accepts was not read, from its first bytes."""
    with open(path, "rb") as fh:
        head = fh.read(32)
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS and "HEIF" not in formats:
        return "HEIC/HEIF photos need the optional package pillow-heif (pip install pillow-heif)"
    for name in Image.ID:
        _, accept = Image.OPEN[name]
        with contextlib.suppress(Exception):  # a plugin's header test, on 32 bytes
            if name not in formats and accept is not None and accept(head):
                return f"holds {name} data, a format bokeh does not read (it reads {', '.join(formats)})"
    return "not an image (or a format bokeh cannot read)"


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
        except DECODE_ERRORS as exc:
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
    pixels16, trailing_exif = decode_16bit_colour(path, im, notes)
    if pixels16 is not None:
        pixels, bit_depth, icc = _unit_float(pixels16), 16, im.info.get("icc_profile")
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
    if pixels16 is None and im.format == "TIFF" and ORIENTATION not in im.tag_v2:
        pending = 1  # Pillow has already turned the pixels upright
    icc = _usable_icc(path, icc, notes)
    channels = pixels.shape[2]
    colour = pixels[..., :3] if channels >= 3 else np.repeat(pixels[..., :1], 3, axis=2)
    alpha = pixels[..., channels - 1] if channels in (2, 4) else None
    return Photo(path=path, srgb=np.ascontiguousarray(apply_orientation(colour, pending)),
                 alpha=None if alpha is None else np.ascontiguousarray(apply_orientation(alpha, pending)),
                 exif=exif, icc=icc, bit_depth=bit_depth, orientation=orientation, warnings=tuple(notes),
                 xmp=read_xmp(path, im))


def _pixels(path: Path, im: Image.Image) -> tuple[np.ndarray, int, bytes | None]:
    """Pixels of a Pillow-decoded image as float32 (H, W, C), C in 1..4 (grey, grey+alpha,
    RGB, RGBA), with the file's bit depth and the ICC profile that now applies."""
    icc = im.info.get("icc_profile")
    mode = im.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return _unit_float(np.array(im))[..., None], 16, icc
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
    values = _unit_float(np.array(converted))
    return (values[..., None] if values.ndim == 2 else values), 8, icc


def _unit_float(values: np.ndarray) -> np.ndarray:
    """Integer pixels (uint8, or 16-bit in any integer type) as float32 in [0, 1]: in torch, one
    multithreaded pass (numpy's cast and divide took 1.8 s of a 24 MP decode, this 0.3 s)."""
    top = 255.0 if values.dtype == np.uint8 else 65535.0
    native = np.ascontiguousarray(values, dtype=values.dtype.newbyteorder("="))  # torch takes no big-endian
    return torch.from_numpy(native).to(torch.float32).div_(top).numpy()


def _cmyk_to_srgb(im: Image.Image, icc: bytes | None) -> np.ndarray:
    """CMYK -> sRGB through the embedded profile when there is one, else Pillow's formula.
    (Pillow already un-inverts Adobe CMYK JPEGs when it decodes them.)"""
    rgb = None
    if icc and _icc_space(icc) == b"CMYK":
        with contextlib.suppress(ImageCms.PyCMSError, OSError):
            rgb = ImageCms.profileToProfile(im, ImageCms.ImageCmsProfile(io.BytesIO(icc)),
                                            ImageCms.createProfile("sRGB"), outputMode="RGB")
    rgb = rgb if rgb is not None else im.convert("RGB")
    return _unit_float(np.array(rgb))


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
        for tag in TIFF_METADATA_TAGS:
            if tag in source:
                exif[tag] = source[tag]
        for tag in (EXIF_IFD, GPS_IFD):
            if tag in source:
                exif[tag] = dict(source.get_ifd(tag))
        return exif.tobytes() if len(exif) else None
    except DECODE_ERRORS:
        return None


def _orientation(exif: bytes | None) -> tuple[int, str | None]:
    """EXIF orientation (1..8) and a problem description when it had to be assumed."""
    if not exif:
        return 1, None
    try:
        value = Image.Exif()
        value.load(exif)
        orientation = value.get(ORIENTATION, 1)
    except DECODE_ERRORS:
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

