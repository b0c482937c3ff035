"""`bokeh render` uses a depth map the camera stored in the photo, and falls back without it."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bokehcli.depthio import fill_unknown_depth
from bokehcli.pipeline import RenderSettings, render_file
from gdepth_builder import build_gdepth_jpeg

skimage_data = pytest.importorskip("skimage.data")


def motorcycle(scale: int = 2):
    """Middlebury's Motorcycle (scikit-image), downsampled: sRGB uint8 and true depth in metres."""
    left, _, disparity = skimage_data.stereo_motorcycle()
    known = np.isfinite(disparity)
    depth = np.where(known, 994.978 * 193.001 / (np.where(known, disparity, 0) + 31.086) / 1000, np.nan)
    depth = fill_unknown_depth(depth.astype(np.float32))
    h, w = (left.shape[0] // scale) * scale, (left.shape[1] // scale) * scale
    rgb = left[:h:scale, :w:scale].copy()
    return rgb, depth[:h:scale, :w:scale].copy()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return 10 * np.log10(255.0 ** 2 / mse) if mse else float("inf")


def test_gdepth_photo_renders_like_its_measured_depth_and_a_damaged_one_falls_back(tmp_path):
    rgb, depth = motorcycle()
    tank = (205.0, 102.0)
    photo = build_gdepth_jpeg(tmp_path / "moto.jpg", rgb, depth, float(depth.min()) * 0.9, float(depth.max()) * 1.1,
                              tank, float(depth[102, 205]))
    np.save(tmp_path / "truth.npy", depth)
    common = dict(f_number_text="1.8", focal_mm=85.0, crop_factor=1.0, overwrite=True)
    embedded = render_file(photo, RenderSettings(out_dir=tmp_path / "embedded", **common))
    given = render_file(photo, RenderSettings(out_dir=tmp_path / "given", depth=str(tmp_path / "truth.npy"), **common))
    assert embedded.depth_source == "GDepth (extended XMP)" and embedded.focus_point_source == "XMP:GFocus"
    assert embedded.max_blur_px > 10
    outputs = [np.asarray(Image.open(r.output)) for r in (embedded, given)]
    assert psnr(*outputs) >= 38.0

    damaged = tmp_path / "damaged.jpg"
    data = bytearray(photo.read_bytes())
    at = data.index(b"http://ns.adobe.com/xmp/extension/") + 200
    data[at:at + 64] = b"!" * 64                      # not base64 and not the MD5 the GUID promises
    damaged.write_bytes(bytes(data))
    fallback = render_file(damaged, RenderSettings(out_dir=tmp_path / "fallback", **common))
    assert fallback.depth_source == "photo cues"
    depth_warnings = [w for w in fallback.warnings if "embedded depth" in w]
    assert len(depth_warnings) == 1 and str(damaged) in depth_warnings[0]


def test_embedded_source_can_be_refused(tmp_path):
    rgb, depth = motorcycle(scale=4)
    photo = build_gdepth_jpeg(tmp_path / "moto.jpg", rgb, depth, 1.0, 10.0, None, None)
    result = render_file(photo, RenderSettings(f_number_text="2", out_dir=tmp_path, depth_source="cues"))
    assert result.depth_source == "photo cues"
