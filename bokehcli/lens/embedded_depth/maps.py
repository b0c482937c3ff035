"""Embedded map images: decoding (bounded), the published depth encodings, fitting to the photo.

A map is an image inside untrusted bytes: only the formats its metadata names are tried, and
its header size is checked against ``MAX_MAP_PIXELS`` before any pixel is decoded.
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image, UnidentifiedImageError

from ...imageio import DECODE_ERRORS, apply_orientation
from .model import DepthProblem

MAX_MAP_PIXELS = 64_000_000
MIN_MAP_SIDE = 2
# How far the map's upright aspect ratio may stray from the photo's (relative): a map scaled
# down by an integer factor rounds its sides by under a pixel, far less than this; more means
# it was not made for this frame (cropped, or rotated without the map).
ASPECT_TOLERANCE = 0.02
IMAGE_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/jpg": "JPEG"}
_WHITE = {8: 255.0, 16: 65535.0}


def open_map(raw: bytes, mime: str, source: str) -> Image.Image:
    """The map image of MIME type ``mime`` (header read only), its size checked."""
    image_format = IMAGE_FORMATS.get(mime.strip().lower())
    if image_format is None:
        raise DepthProblem(source, f"depth map type {mime[:40]!r} is not PNG or JPEG")
    try:
        im = Image.open(io.BytesIO(raw), formats=[image_format])
    except (UnidentifiedImageError, *DECODE_ERRORS):
        raise DepthProblem(source, f"the depth map is not a readable {image_format} image") from None
    check_size(im.size, source)
    return im


def check_size(size_wh: tuple[int, int], source: str) -> None:
    width, height = size_wh
    if min(width, height) < MIN_MAP_SIDE or width * height > MAX_MAP_PIXELS:
        raise DepthProblem(source, f"depth map size {width}x{height} is implausible")


def samples(im: Image.Image, source: str) -> np.ndarray:
    """Decoded grey samples scaled to [0, 1] (value / 255 or / 65535): float64 (h, w).

    A grey map stored as RGB(A) (Google Camera writes RGBA PNGs) gives its red channel, after
    checking the three channels agree; a colour map is refused.
    """
    try:
        im.load()
        values, bits = _grey(im, source)
    except (UnidentifiedImageError, *DECODE_ERRORS) as exc:
        raise DepthProblem(source, f"the depth map image is truncated or corrupt ({type(exc).__name__})") from None
    return values.astype(np.float64) / _WHITE[bits]


def _grey(im: Image.Image, source: str) -> tuple[np.ndarray, int]:
    mode = im.mode
    if mode == "L":
        return np.asarray(im), 8
    if mode.startswith("I;16") or mode == "I":
        values = np.asarray(im)
        if mode == "I" and (values.min() < 0 or values.max() > 65535):
            raise DepthProblem(source, "the depth map holds values outside 16 bits")
        return values, 16
    if mode in ("LA", "RGB", "RGBA"):
        channels = np.asarray(im)
        if mode != "LA" and not ((channels[..., 0] == channels[..., 1]).all()
                                 and (channels[..., 0] == channels[..., 2]).all()):
            raise DepthProblem(source, "the depth map is a colour image, not grey")
        return channels[..., 0], 8
    raise DepthProblem(source, f"depth map pixel mode {mode} is not grey")


def range_to_depth(dn: np.ndarray, encoding: str, near: float | None, far: float | None,
                   source: str) -> np.ndarray:
    """Normalised samples ``dn`` in [0, 1] -> depth (units of ``near``/``far``), float32.

    The encodings of Google's depth map metadata and of Dynamic Depth:
    ``RangeInverse``: ``d = far * near / (far - dn * (far - near))`` (uniform in 1/d);
    ``RangeLinear``: ``d = near + dn * (far - near)``. Both need finite ``0 <= near < far``
    (``near > 0`` for RangeInverse). Depth 0 (RangeLinear with near 0) is unknown: NaN.
    """
    if encoding not in ("RangeInverse", "RangeLinear"):
        raise DepthProblem(source, f"depth format {encoding[:40]!r} is neither RangeInverse nor RangeLinear")
    if near is None or far is None:
        raise DepthProblem(source, "Near or Far is missing")
    near_ok = near > 0 if encoding == "RangeInverse" else near >= 0
    if not (math.isfinite(near) and math.isfinite(far) and near_ok and near < far):
        raise DepthProblem(source, f"Near {near:g} and Far {far:g} are not a valid range (0 < Near < Far)")
    if encoding == "RangeInverse":
        depth = far * near / (far - dn * (far - near))
    else:
        depth = near + dn * (far - near)
    return np.where(depth > 0, depth, np.nan).astype(np.float32)


def fit_to_photo(stored: np.ndarray, orientation: int | None, size_wh: tuple[int, int], source: str,
                 resample) -> np.ndarray:
    """A map in the stored frame -> upright (EXIF ``orientation``) and resampled to ``size_wh``.

    ``resample(upright, size_wh)`` does the resampling (depth is resampled in inverse depth,
    a matte linearly). A map whose upright aspect ratio differs from the photo's by more than
    ``ASPECT_TOLERANCE`` does not show the same frame and is refused.
    """
    upright = np.ascontiguousarray(apply_orientation(stored, orientation if orientation in range(1, 9) else 1))
    height, width = upright.shape
    photo_w, photo_h = size_wh
    if abs(width * photo_h - height * photo_w) > ASPECT_TOLERANCE * width * photo_h:
        hint = " (rotated?)" if abs(height * photo_h - width * photo_w) <= ASPECT_TOLERANCE * height * photo_h else ""
        raise DepthProblem(source, f"the depth map is {width}x{height} upright but the photo is "
                                   f"{photo_w}x{photo_h}: aspect ratios differ{hint}")
    if (width, height) == (photo_w, photo_h):
        return upright.astype(np.float32, copy=False)
    return resample(upright, size_wh)


def resize_linear(values: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """Bilinear resampling (antialiased when shrinking) of a float map: (h, w) -> (H, W) float32."""
    resized = Image.fromarray(values.astype(np.float32)).resize(size_wh, Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.float32)


def upright_point(x_frac: float, y_frac: float, orientation: int | None,
                  size_wh: tuple[int, int]) -> tuple[float, float]:
    """A point given as fractions of the stored frame's width and height -> upright pixel
    coordinates in a photo of upright size ``size_wh``.

    Where each corner of the stored frame lands is read off ``apply_orientation`` itself (on a
    2x2 array of corner labels), so the point moves exactly as the pixels do.
    """
    corners = apply_orientation(np.array([[0, 1], [2, 3]]), orientation if orientation in range(1, 9) else 1)
    where = {int(corners[row, col]): np.array([col, row], dtype=np.float64) for row in (0, 1) for col in (0, 1)}
    # stored corner 0 is (0, 0), 1 is (1, 0) (x grows), 2 is (0, 1) (y grows)
    point = where[0] + x_frac * (where[1] - where[0]) + y_frac * (where[2] - where[0])
    return float(point[0] * size_wh[0]), float(point[1] * size_wh[1])
