"""Build test photos: JPEGs with EXIF lens tags and matching depth maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from bokehcli.imageio.lens_jpeg import lens_exif


def make_exif(focal_mm=50.0, focus_m=None, focal_35mm=None, f_number=8.0, orientation=1,
              subject_xy=None) -> Image.Exif:
    """The test camera's EXIF (:func:`bokehcli.imageio.lens_jpeg.lens_exif` with its defaults);
    ``subject_xy``: SubjectArea as a point."""
    return lens_exif(focal_mm=focal_mm, f_number=f_number, focus_m=focus_m, focal_35mm=focal_35mm,
                     make="bokeh-test", model="Test Camera", orientation=orientation, subject_area_px=subject_xy)


def textured_rgb(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth colour noise plus fine detail, uint8 (H, W, 3)."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((height // 8 + 2, width // 8 + 2, 3))
    ys = np.linspace(0, coarse.shape[0] - 1.001, height)
    xs = np.linspace(0, coarse.shape[1] - 1.001, width)
    y0, x0 = ys.astype(int), xs.astype(int)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    smooth = ((1 - fy) * (1 - fx) * coarse[y0][:, x0] + (1 - fy) * fx * coarse[y0][:, x0 + 1]
              + fy * (1 - fx) * coarse[y0 + 1][:, x0] + fy * fx * coarse[y0 + 1][:, x0 + 1])
    img = 0.7 * smooth + 0.25 * rng.random((height, width, 3))
    return np.clip(img * 255, 0, 255).astype(np.uint8)


def write_photo(path: Path, rgb: np.ndarray, exif: Image.Exif | None = None, icc: bytes | None = None,
                quality: int = 95) -> Path:
    options = {"quality": quality, "subsampling": 0}
    if exif is not None:
        options["exif"] = exif.tobytes()
    if icc is not None:
        options["icc_profile"] = icc
    Image.fromarray(rgb).save(path, **options)
    return path


def write_depth_png(path: Path, depth_m: np.ndarray) -> Path:
    Image.fromarray(np.clip(np.rint(depth_m * 1000), 0, 65535).astype(np.uint16)).save(path)
    return path


def two_plane_depth(height: int, width: int, near_m: float = 2.0, far_m: float = 8.0) -> np.ndarray:
    depth = np.full((height, width), far_m, np.float32)
    depth[:, : width // 2] = near_m
    return depth


def disc_scene(height=240, width=320, seed=0, block_px=8, radius_fraction=0.25):
    """A red disc (the subject, radius ``radius_fraction`` of the height) on green-blue blocks;
    returns uint8 RGB and the disc mask."""
    rng = np.random.default_rng(seed)
    background = np.kron(rng.random((height // block_px, width // block_px, 3)), np.ones((block_px, block_px, 1)))
    rgb = (np.stack([0.1 + 0.2 * background[..., 0], 0.4 + 0.4 * background[..., 1],
                     0.3 + 0.5 * background[..., 2]], axis=-1) * 255).astype(np.uint8)
    yy, xx = np.mgrid[:height, :width]
    disc = (xx - width / 2) ** 2 + (yy - height / 2) ** 2 < (radius_fraction * height) ** 2
    red = np.stack([0.75 + 0.2 * background[..., 2], 0.1 + 0.1 * background[..., 0], 0.1 * background[..., 1]], -1)
    rgb[disc] = (red[disc] * 255).astype(np.uint8)        # a textured red subject
    return rgb, disc
