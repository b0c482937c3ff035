"""Depth maps in and out (docs/formats.md#depth-maps).

Two formats: ``.npy`` float32 metres, and 16-bit PNG in millimetres (0 = unknown). In memory
a depth map is float32 (H, W) metres, NaN where unknown and +inf for "infinitely far".
Maps match the photo after EXIF orientation; a map with the photo's aspect ratio but another
size is resampled (with a warning).
"""

from __future__ import annotations

import contextlib
import string
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import ndimage

from .errors import InputError, SettingError
from .files import OutputExists, atomic_path
from .imageio import DEFAULT_MAX_PIXELS, check_pixels, open_image, reading_input
from .naming import depth_output_paths

MM_PER_M = 1000.0
PNG_MAX_MM = 65535          # the PNG's far clamp: inf and anything beyond 65.535 m


class LoadedDepth(NamedTuple):
    """``depth_m``: float32 (H, W) metres, NaN unknown; ``warnings``: lines naming the file."""

    depth_m: np.ndarray
    warnings: list[str]


def load_depth(path: str | Path, size_wh: tuple[int, int] | None = None,
               max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedDepth:
    """Read a depth map; with ``size_wh`` (the upright photo's size), check its aspect ratio
    and resample it to that size when it differs (bilinear in inverse depth)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        depth_m = _load_npy(path, max_pixels)
    elif suffix == ".png":
        depth_m = _load_png(path, max_pixels)
    else:
        raise InputError(f"{path}: unsupported depth map format {path.suffix!r} (expected .npy metres "
                         f"or 16-bit .png millimetres)")
    if np.isnan(depth_m).all():
        raise InputError(f"{path}: depth map has no known values")
    warnings: list[str] = []
    if size_wh is not None:
        height, width = depth_m.shape
        if (width, height) != tuple(size_wh):
            _check_aspect(path, (width, height), size_wh)
            depth_m = resize_depth(depth_m, size_wh)
            warnings.append(f"{path}: depth map {width}x{height} resized to {size_wh[0]}x{size_wh[1]}")
    return LoadedDepth(depth_m, warnings)


_NPY_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def _load_npy(path: Path, max_pixels: int) -> np.ndarray:
    """float (H, W) metres; NaN, -inf and values <= 0 -> NaN (unknown), +inf (far) kept.
    The header is checked (dtype, shape, size against the file) before any data is read;
    object arrays would need unpickling and are refused."""
    with reading_input(path, "depth map"):
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            if version not in _NPY_HEADER_READERS:
                raise InputError(f"{path}: unsupported .npy format version {version}")
            shape, _, dtype = _NPY_HEADER_READERS[version](fh)
            if dtype.hasobject:
                raise InputError(f"{path}: holds Python objects (pickled data), refused")
            if dtype.kind != "f":
                raise InputError(f"{path}: depth must be floating-point metres, got dtype {dtype}")
            if len(shape) != 2:
                raise InputError(f"{path}: depth must be a 2-D (H, W) array, got shape {shape}")
            check_pixels(path, shape[1], shape[0], max_pixels)
            data_start = fh.tell()
            if fh.seek(0, 2) - data_start < shape[0] * shape[1] * dtype.itemsize:
                raise InputError(f"{path}: truncated .npy (less data than its header announces)")
        depth_m = np.load(path, allow_pickle=False).astype(np.float32)
    depth_m[~(depth_m > 0)] = np.nan  # NaN and -inf compare False too
    return depth_m


def _load_png(path: Path, max_pixels: int) -> np.ndarray:
    """16-bit grey PNG millimetres -> metres; 0 -> NaN (unknown)."""
    with reading_input(path, "depth map"), open_image(path, ("PNG",)) as im:
        check_pixels(path, *im.size, max_pixels)
        if im.mode in ("L", "P", "1", "LA", "RGB", "RGBA"):
            raise InputError(f"{path}: 8-bit PNG: depth units would be ambiguous; use a 16-bit PNG in "
                             f"millimetres or a .npy in metres")
        if im.mode not in ("I;16", "I;16B", "I;16L"):
            raise InputError(f"{path}: depth PNG must be 16-bit greyscale, got mode {im.mode}")
        mm = np.asarray(im).astype(np.float32)
    depth_m = mm / MM_PER_M
    depth_m[mm == 0] = np.nan
    return depth_m


def check_depth_template(template: str) -> None:
    """Raise :class:`BokehError` unless every replacement field of ``template`` is a plain
    ``{stem}``: attributes, indices, conversions and format specs (``{stem.x}``, ``{stem:>999999999}``)
    would run arbitrary formatting on the photo's name."""
    try:
        fields = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(template)
                  if name is not None]
    except ValueError as exc:
        fields, problem = [], str(exc)
    else:
        problem = next((f"{{{name}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}} "
                        f"is not {{stem}}" for name, spec, conversion in fields
                        if (name, spec, conversion) != ("stem", "", None)), None)
    if problem is not None:
        raise SettingError("depth", f": bad template {template!r} ({problem}); use {{stem}} for the photo's name, "
                                    f"e.g. 'depth/{{stem}}.png'")


def fill_depth_template(template: str, photo: Path) -> Path:
    """The depth map a checked ``template`` names for ``photo``: ``{stem}`` -> the photo's name
    without its suffix. A stem of ``.`` or ``..`` (``...jpg``) would name a folder instead."""
    if photo.stem in (".", ".."):
        raise InputError(f"{photo}: its name cannot fill {{stem}} in the --depth template {template!r} "
                         f"(the stem {photo.stem!r} names a folder)")
    return Path(template.format(stem=photo.stem))


def _check_aspect(path: Path, map_wh: tuple[int, int], photo_wh: tuple[int, int]) -> None:
    """The map must show the same frame: its height may differ from the photo's aspect ratio
    by at most the one pixel that rounding a resized map can cost."""
    (w, h), (photo_w, photo_h) = map_wh, photo_wh
    if abs(h - w * photo_h / photo_w) <= 1.0:
        return
    hint = ""
    if abs(w - h * photo_h / photo_w) <= 1.0:
        hint = " (rotated? depth maps must match the photo after EXIF orientation)"
    raise InputError(f"{path}: depth map is {w}x{h} but the photo is {photo_w}x{photo_h}: "
                     f"aspect ratios differ{hint}")


def resize_depth(depth_m: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """Bilinear resampling of inverse depth (CoC is linear in 1/D) at pixel centres, edges
    clamped, antialiased when shrinking; unknown (NaN) pixels carry no weight, and outputs
    that see no known pixel stay NaN. depth_m: (h, w) -> (H, W) float32."""
    known = ~np.isnan(depth_m)
    inverse = np.where(known, 1.0 / np.where(known, depth_m, 1.0), 0.0)  # 1/inf = 0: far
    stack = torch.from_numpy(np.stack([known, inverse]).astype(np.float32))[None]
    width, height = size_wh
    shrink = height < depth_m.shape[0] or width < depth_m.shape[1]
    weight, total = F.interpolate(stack, size=(height, width), mode="bilinear", align_corners=False,
                                  antialias=shrink)[0].numpy()
    with np.errstate(divide="ignore", invalid="ignore"):  # total 0: all known neighbours at inf
        return np.where(weight > 1e-6, weight / total, np.nan).astype(np.float32)  # 1 / (total / weight)


def fill_unknown_depth(depth_m: np.ndarray, source: str = "depth map") -> np.ndarray:
    """Each NaN pixel takes the value of its nearest known pixel (exact Euclidean distance
    transform). depth_m: (H, W) -> (H, W), a new array. ``source`` names the map in errors."""
    unknown = np.isnan(depth_m)
    if unknown.all():
        raise InputError(f"{source}: depth map has no known values")
    if not unknown.any():
        return depth_m.copy()
    rows, cols = ndimage.distance_transform_edt(unknown, return_distances=False, return_indices=True)
    return depth_m[rows, cols]


def save_depth(out_dir: str | Path, stem: str, depth_m: np.ndarray, keep_existing: bool = False) -> tuple[Path, Path]:
    """Write ``<out_dir>/<stem>_depth.npy`` (float32 metres, NaN unknown) and
    ``<stem>_depth.png`` (uint16 mm, 0 unknown, far and inf clamped to 65535), atomically.
    ``keep_existing``: leave a map that is already there (an interrupted run wrote only one)."""
    npy_path, png_path = depth_output_paths(out_dir, stem)
    depth_m = np.asarray(depth_m, dtype=np.float32)
    # keep_existing also keeps a map that another process writes meanwhile
    with contextlib.suppress(OutputExists):
        if not (keep_existing and npy_path.exists()):
            with atomic_path(npy_path, replace=not keep_existing) as tmp, open(tmp, "wb") as fh:
                np.save(fh, depth_m, allow_pickle=False)
    with contextlib.suppress(OutputExists):
        if not (keep_existing and png_path.exists()):
            known = depth_m > 0  # NaN compares False
            mm = np.where(known, np.clip(np.rint(np.where(known, depth_m, 0) * MM_PER_M), 1, PNG_MAX_MM), 0)
            with atomic_path(png_path, replace=not keep_existing) as tmp:
                Image.fromarray(mm.astype(np.uint16)).save(tmp, format="PNG")
    return npy_path, png_path
