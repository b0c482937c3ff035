"""Apple portrait depth: iPhone JPEGs (MPF secondary images) and HEIC (auxiliary images).

JPEG: the primary image's APP2 MPF index lists further images appended to the file. Each is a
JPEG with its own XMP; Apple's pixel-data-info namespace (``apdi``) says what it holds. Only
an image whose ``apdi:NativeFormat`` is one of the four depth/disparity pixel formats is read
as depth, and only one whose type names the portrait-effects matte as the matte; nothing is
inferred from an image's position or size. The stored 8-bit samples map linearly to the native
values: ``value = FloatMin + (sample - IntMin) * (FloatMax - FloatMin) / (IntMax - IntMin)``.
Disparity is in 1/m, so depth is its reciprocal (zero disparity: infinitely far).
``depthData:Accuracy`` is ``absolute`` only for maps Apple calls physically accurate; ``relative``
ones are scaled by the caller.

HEIC, through the optional pillow-heif: the depth auxiliary image and its depth representation
info (ISO/IEC 23008-2): type 1, uniform disparity, ``disparity = d_min + dn * (d_max - d_min)``
(what iPhones write, disparity in 1/m); type 0, uniform inverse depth,
``1/Z = 1/z_far + dn * (1/z_near - 1/z_far)``. The file records no accuracy for it, and Apple
calls its dual-camera depth relative, so it is not metric. libheif applies the file's rotation
and mirroring to every image it decodes, so the EXIF orientation does not apply again. The
matte is the auxiliary image of type ``urn:com:apple:photo:2018:aux:portraiteffectsmatte``
(pillow-heif lists auxiliary images from version 0.20; an older one gives the depth alone).
"""

from __future__ import annotations

import io
import math
import os
import struct

import numpy as np

from ...depthio import resize_depth
from ...imageio import DECODE_ERRORS
from ..container import Blocks, jpeg_blocks
from ..exif import read_exif
from ..tiff import read_first_ifd
from .maps import check_size, fit_to_photo, open_map, resize_linear, samples
from .model import DepthProblem, EmbeddedDepth
from .xmpdoc import document_properties, packet_with, real

APDI = "http://ns.apple.com/pixeldatainfo/1.0/"
DEPTH_DATA = "http://ns.apple.com/depthData/1.0/"
PORTRAIT_MATTE = "portraiteffectsmatte"
# CoreVideo pixel formats of depth data: four-character codes (half/float disparity or depth).
_NATIVE_FORMATS = {int.from_bytes(code, "big"): kind for code, kind in (
    (b"hdis", "disparity"), (b"fdis", "disparity"), (b"hdep", "depth"), (b"fdep", "depth"))}
_MP_ENTRY = 0xB002
_MP_ENTRY_BYTES = 16
MAX_MPF_IMAGES = 64
MAX_SECONDARY_BYTES = 64 << 20
_HEAD_BYTES = 256 << 10
_RGB_WHITE = 255.0


# ---- JPEG with MPF secondary images -------------------------------------------------------------

def _mpf_images(blocks: Blocks, file_size: int) -> list[tuple[int, int]]:
    """(file offset, size) of each secondary image the MPF index lists within the file."""
    if blocks.mpf is None or blocks.mpf_pos is None:
        return []
    first = read_first_ifd(blocks.mpf)
    entry = first[0].get(_MP_ENTRY) if first is not None else None
    if entry is None:
        return []
    order = first[1]
    count = min(len(entry.data) // _MP_ENTRY_BYTES, MAX_MPF_IMAGES)
    images = []
    for index in range(1, count):            # entry 0 is the primary image itself
        _, size, offset = struct.unpack_from(order + "III", entry.data, index * _MP_ENTRY_BYTES)
        start = blocks.mpf_pos + offset
        if offset > 0 and 0 < size <= MAX_SECONDARY_BYTES and start + size <= file_size:
            images.append((start, size))
    return images


def _secondaries(blocks: Blocks, path: str | os.PathLike):
    """(file offset, size, apdi properties, depthData properties) of each secondary image whose
    XMP uses Apple's pixel-data-info namespace. Only the head of each image is read: its XMP
    comes in its first segments, and an index may list large or overlapping images."""
    with open(path, "rb") as fh:
        for start, size in _mpf_images(blocks, os.fstat(fh.fileno()).st_size):
            fh.seek(start)
            head = fh.read(min(size, _HEAD_BYTES))
            if not head.startswith(b"\xff\xd8"):
                continue
            try:
                root = packet_with(jpeg_blocks(io.BytesIO(head)).xmp, APDI, "Apple MPF")
            except DepthProblem:
                continue          # unreadable XMP: nothing says what this image is
            if root is not None:
                yield start, size, document_properties(root, APDI), document_properties(root, DEPTH_DATA)


def _read_at(path: str | os.PathLike, start: int, size: int) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(start)
        return fh.read(size)


def _is_matte(apdi: dict[str, str]) -> bool:
    names = (apdi.get("AuxiliaryImageType", ""), apdi.get("AuxiliaryImageSubType", ""))
    return any(name.strip().lower().endswith(PORTRAIT_MATTE) for name in names)


def _depth_kind(apdi: dict[str, str]) -> str | None:
    try:
        return None if _is_matte(apdi) else _NATIVE_FORMATS.get(int(apdi.get("NativeFormat", "").strip()))
    except ValueError:
        return None


def _locate_mpf(blocks: Blocks, path: str | os.PathLike):
    """(depth image (offset, size), apdi, depthData, kind, matte image (offset, size) or None),
    or None without a depth image."""
    depth = matte = None
    for start, size, apdi, depth_data in _secondaries(blocks, path):
        kind = _depth_kind(apdi)
        if kind is not None and depth is None:
            depth = ((start, size), apdi, depth_data, kind)
        elif _is_matte(apdi) and matte is None:
            matte = (start, size)
    return None if depth is None else (*depth, matte)


def describe_mpf(blocks: Blocks, path: str | os.PathLike) -> str | None:
    found = _locate_mpf(blocks, path)
    if found is None:
        return None
    where, _, _, kind, _ = found
    source = f"Apple MPF {kind}"
    im = open_map(_read_at(path, *where), "image/jpeg", source)
    return f"{source} {im.size[0]}x{im.size[1]} {im.format}"


def read_mpf(blocks: Blocks, path: str | os.PathLike, size_wh: tuple[int, int], orientation: int | None,
             notes: list[str]) -> EmbeddedDepth | None:
    found = _locate_mpf(blocks, path)
    if found is None:
        return None
    where, apdi, depth_data, kind, matte_at = found
    source = f"Apple MPF {kind}"
    stored = samples(open_map(_read_at(path, *where), "image/jpeg", source), source) * _RGB_WHITE
    values = _apdi_values(stored, apdi, source)
    depth = _disparity_to_depth(values) if kind == "disparity" else np.where(values > 0, values, np.nan)
    depth = fit_to_photo(depth.astype(np.float32), orientation, size_wh, source, resize_depth)
    matte = None
    if matte_at is not None:
        matte = _fitted_matte(lambda: samples(open_map(_read_at(path, *matte_at), "image/jpeg", "Apple MPF matte"),
                                              "Apple MPF matte"), orientation, size_wh, notes)
    metric = depth_data.get("Accuracy", "").strip().lower() == "absolute"
    return EmbeddedDepth(depth_m=depth, metric=metric, source=source, focus_xy=None, focus_m=None, matte=matte)


def _apdi_values(stored: np.ndarray, apdi: dict[str, str], source: str) -> np.ndarray:
    """8-bit samples -> native values (disparity 1/m or depth m) by the apdi linear mapping."""
    label = "apdi"
    float_min, float_max = (real(apdi, name, source, label) for name in ("FloatMinValue", "FloatMaxValue"))
    int_min, int_max = (real(apdi, name, source, label) for name in ("IntMinValue", "IntMaxValue"))
    int_min = 0.0 if int_min is None else int_min
    int_max = _RGB_WHITE if int_max is None else int_max
    if float_min is None or float_max is None:
        raise DepthProblem(source, "apdi:FloatMinValue or FloatMaxValue is missing")
    if not all(math.isfinite(v) for v in (float_min, float_max, int_min, int_max)) or not int_max > int_min:
        raise DepthProblem(source, f"the apdi value range ({float_min:g}..{float_max:g} over samples "
                                   f"{int_min:g}..{int_max:g}) is not valid")
    return float_min + (stored - int_min) * ((float_max - float_min) / (int_max - int_min))


def _disparity_to_depth(disparity: np.ndarray) -> np.ndarray:
    """Depth = 1 / disparity; zero disparity is infinitely far, negative disparity unknown."""
    with np.errstate(divide="ignore"):
        depth = 1.0 / disparity
    return np.where(disparity >= 0, depth, np.nan)


def _fitted_matte(decode, orientation: int | None, size_wh: tuple[int, int], notes: list[str]) -> np.ndarray | None:
    """The matte in [0, 1] fitted to the photo; a matte that cannot be used is left out with a note
    (the depth map does not depend on it)."""
    try:
        matte = fit_to_photo(decode(), orientation, size_wh, "portrait matte", resize_linear)
    except DepthProblem as problem:
        notes.append(f"portrait matte ignored: {problem.problem}")
        return None
    return np.clip(matte, 0.0, 1.0).astype(np.float32)


# ---- HEIC auxiliary images (pillow-heif) ---------------------------------------------------------

_REPRESENTATIONS = {0: "inverse depth", 1: "disparity", 2: "depth", 3: "nonuniform disparity"}
_HEIF_WHITE = {"L": 255.0, "I;16": 65535.0, "I;16L": 65535.0, "I;16B": 65535.0}


def _open_heif(path: str | os.PathLike):
    """pillow-heif's view of the file (nothing decoded yet), or None when pillow-heif is not
    installed or the file is not HEIF."""
    try:
        import pillow_heif
    except ImportError:
        return None
    try:
        if not pillow_heif.is_supported(path):
            return None
        return pillow_heif.open_heif(path, convert_hdr_to_8bit=False)
    except (RuntimeError, *DECODE_ERRORS):
        return None      # the photo reader reports a file it cannot open; here it holds no map


def _heif_source(heif, representation: str) -> str:
    exif = heif.info.get("exif") or b""
    tiff = exif[6:] if exif.startswith(b"Exif\0\0") else exif
    parsed = read_exif(tiff) if tiff else None
    maker = "Apple " if parsed is not None and (parsed.make or "").strip().upper() == "APPLE" else ""
    return f"{maker}HEIC {representation}"


def _locate_heic(path: str | os.PathLike):
    heif = _open_heif(path)
    if heif is None or not heif.info.get("depth_images"):
        return None
    depth = heif.info["depth_images"][0]
    metadata = depth.info.get("metadata") or {}
    representation = _REPRESENTATIONS.get(metadata.get("representation_type"), "depth of unknown representation")
    return heif, depth, metadata, _heif_source(heif, representation)


def describe_heic(path: str | os.PathLike) -> str | None:
    found = _locate_heic(path)
    if found is None:
        return None
    _, depth, _, source = found
    return f"{source} {depth.size[0]}x{depth.size[1]} HEVC"


def read_heic(path: str | os.PathLike, size_wh: tuple[int, int], notes: list[str]) -> EmbeddedDepth | None:
    found = _locate_heic(path)
    if found is None:
        return None
    heif, depth_image, metadata, source = found
    dn = _heif_samples(depth_image, source)
    depth = _heif_depth(dn, metadata, source)
    depth = fit_to_photo(depth, 1, size_wh, source, resize_depth)
    matte = None
    matte_ids = [ids for kind, ids in (heif.info.get("aux") or {}).items()
                 if isinstance(kind, str) and kind.lower().endswith(PORTRAIT_MATTE) and ids]
    if matte_ids:
        matte = _fitted_matte(lambda: _heif_samples(heif.get_aux_image(matte_ids[0][0]), "portrait matte"),
                              1, size_wh, notes)
    return EmbeddedDepth(depth_m=depth, metric=False, source=source, focus_xy=None, focus_m=None, matte=matte)


def _heif_samples(image, source: str) -> np.ndarray:
    """Decoded grey samples of a pillow-heif image scaled to [0, 1]: float64 (h, w).

    pillow-heif hands 10- and 12-bit samples over shifted to 16 bits; dividing by 65535 puts
    their white within 0.1 % of 1."""
    check_size(image.size, source)
    white = _HEIF_WHITE.get(image.mode)
    if white is None:
        raise DepthProblem(source, f"pixel mode {image.mode} is not grey")
    try:
        values = np.asarray(image)
    except (RuntimeError, *DECODE_ERRORS) as exc:
        raise DepthProblem(source, f"the image cannot be decoded ({type(exc).__name__})") from None
    if values.shape[:2] != (image.size[1], image.size[0]):
        raise DepthProblem(source, "the decoded image does not have its declared size")
    return values.reshape(values.shape[:2]).astype(np.float64) / white


def _heif_depth(dn: np.ndarray, metadata: dict, source: str) -> np.ndarray:
    """Normalised samples -> depth by the depth representation info (types 0 and 1)."""
    kind = metadata.get("representation_type")
    if kind == 1:
        low, high = metadata.get("d_min"), metadata.get("d_max")
        if not _valid_range(low, high):
            raise DepthProblem(source, f"the disparity range d_min {low} .. d_max {high} is not valid")
        return _disparity_to_depth(low + dn * (high - low)).astype(np.float32)
    if kind == 0:
        near, far = metadata.get("z_near"), metadata.get("z_far")
        if not (_valid_range(near, far) and near > 0):
            raise DepthProblem(source, f"the depth range z_near {near} .. z_far {far} is not valid")
        return (1.0 / (1.0 / far + dn * (1.0 / near - 1.0 / far))).astype(np.float32)
    raise DepthProblem(source, f"depth representation {_REPRESENTATIONS.get(kind, kind)} is not supported")


def _valid_range(low, high) -> bool:
    return (isinstance(low, (int, float)) and isinstance(high, (int, float)) and math.isfinite(low)
            and math.isfinite(high) and 0 <= low < high)
