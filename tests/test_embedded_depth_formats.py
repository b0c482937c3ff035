"""Android Dynamic Depth, iPhone JPEG (MPF) and HEIC depth maps, in files built to their
published descriptions by ``embedded_depth_files``. HEIC files are assembled around images
pillow-heif encodes and are read back through pillow-heif (libheif), so the container, the
auxiliary-image links and the depth representation SEI are checked by an independent reader.
"""

from __future__ import annotations

import importlib.util
import io
import sys

import numpy as np
import pytest
from PIL import Image

from bokehcli.imageio import apply_orientation, load_photo
from bokehcli.lens.embedded_depth import describe_embedded_depth, read_embedded_depth
from bokehcli.lens.embedded_depth.dynamic_depth import jpeg_end
from embedded_depth_files import (GAIN_MAP_URN, L008, MATTE_URN, build_dynamic_depth_jpeg, build_heic,
                                  build_mpf_jpeg, depth_representation_sei, disparity_fields, secondary_jpeg)
from gdepth_builder import encode_range, image_bytes, photo_jpeg

NEAR, FAR = 0.4, 8.0
H, W = 48, 64


def scene(h=H, w=W, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    depth = NEAR + (FAR - NEAR) * (0.7 * xx / (w - 1) + 0.3 * yy / (h - 1))
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8), depth


def inverse_error(decoded, true):
    """Largest difference in inverse depth (1/m): disparity and RangeInverse quantise it uniformly."""
    return float(np.abs(1.0 / decoded.astype(np.float64) - 1.0 / true).max())


# ---- Dynamic Depth ---------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["RangeInverse", "RangeLinear"])
@pytest.mark.parametrize("mime,bits", [("image/jpeg", 8), ("image/png", 16)])
def test_dynamic_depth_item_after_other_items_and_padding(tmp_path, fmt, mime, bits):
    srgb, depth = scene()
    other = image_bytes(np.full((8, 8), 7, np.uint8), "image/jpeg")        # an "original image" item
    path = build_dynamic_depth_jpeg(tmp_path / "dd.jpg", srgb, encode_range(depth, NEAR, FAR, fmt, bits), NEAR, FAR,
                                    fmt=fmt, mime=mime, primary_padding=3, extra_items=[(mime, other, 5)])
    found, warnings = read_embedded_depth(path, (W, H), 1)
    assert warnings == [] and found.source == "Dynamic Depth" and found.metric
    step = (1 / NEAR - 1 / FAR) if fmt == "RangeInverse" else None
    if step is not None:
        assert inverse_error(found.depth_m, depth) <= step * (2.5 if bits == 8 else 0.5) / ((1 << bits) - 1) + 1e-6
    else:
        float32_rounding = FAR * np.finfo(np.float32).eps
        assert np.abs(found.depth_m - depth).max() <= ((FAR - NEAR) * (2.5 if bits == 8 else 0.5) / ((1 << bits) - 1)
                                                       + float32_rounding)
    assert describe_embedded_depth(path) == f"Dynamic Depth {W}x{H} {mime[6:].upper()} {fmt}"


def test_dynamic_depth_primary_end_found_past_scans_restarts_and_eoi_lookalikes(tmp_path):
    """The primary JPEG is progressive with restart markers and a comment holding FF D9 bytes;
    the directory's fields are written as child elements rather than attributes."""
    srgb, depth = scene()
    options = {"progressive": True, "restart_marker_blocks": 1, "comment": b"\xff\xd9 not the end \xff\xd9"}
    path = build_dynamic_depth_jpeg(tmp_path / "dd.jpg", srgb, encode_range(depth, NEAR, FAR, "RangeInverse", 8),
                                    NEAR, FAR, jpeg_options=options, element_form=True, orientation=6)
    found, warnings = read_embedded_depth(path, (H, W), 6)
    assert warnings == []
    upright = apply_orientation(depth, 6)
    assert inverse_error(found.depth_m, upright) <= (1 / NEAR - 1 / FAR) * 2.5 / 255


def test_jpeg_end_is_where_pillow_stops_writing():
    srgb, _ = scene()
    for options in ({}, {"progressive": True}, {"restart_marker_blocks": 2, "comment": b"\xff\xd9"}):
        buf = io.BytesIO()
        Image.fromarray(srgb).save(buf, format="JPEG", **options)
        data = buf.getvalue()
        assert jpeg_end(data + b"\xff\xd8 appended") == len(data)
        assert jpeg_end(data[:-2]) is None
    assert jpeg_end(b"\xff\xd8\xff\xda\x00\x02\x12\x34") is None


def test_dynamic_depth_units_other_than_meters_are_relative(tmp_path):
    srgb, depth = scene()
    path = build_dynamic_depth_jpeg(tmp_path / "dd.jpg", srgb, encode_range(depth, NEAR, FAR, "RangeLinear", 16),
                                    NEAR, FAR, fmt="RangeLinear", mime="image/png", units="None")
    found, _ = read_embedded_depth(path, (W, H), 1)
    assert not found.metric and np.abs(found.depth_m - depth).max() < 1e-3


@pytest.mark.parametrize("change,problem", [({"truncate_by": 40}, "beyond the end of the file"),
                                            ({"near": 9.0}, "not a valid range")])
def test_damaged_dynamic_depth(tmp_path, change, problem):
    srgb, depth = scene()
    near = change.pop("near", NEAR)
    path = build_dynamic_depth_jpeg(tmp_path / "dd.jpg", srgb, encode_range(depth, NEAR, FAR, "RangeInverse", 8),
                                    near, FAR, **change)
    found, warnings = read_embedded_depth(path, (W, H), 1)
    assert found is None and len(warnings) == 1 and problem in warnings[0] and "Dynamic Depth" in warnings[0]


# ---- iPhone JPEG: MPF secondary images --------------------------------------------------------------

def _disparity_scene():
    srgb, depth = scene()
    disparity = 1.0 / depth
    low, high = float(disparity.min()), float(disparity.max())
    samples = np.rint((disparity - low) / (high - low) * 255).astype(np.uint8)
    return srgb, depth, samples, low, high


def _gain_map():
    return secondary_jpeg(np.full((24, 32), 90, np.uint8),
                          {"apdi:AuxiliaryImageType": GAIN_MAP_URN, "apdi:NativeFormat": str(L008)})


def _matte(h=H, w=W):
    matte = np.zeros((h, w), np.uint8)
    matte[:, w // 2:] = 255
    return matte, secondary_jpeg(matte, {"apdi:AuxiliaryImageType": MATTE_URN, "apdi:NativeFormat": str(L008)})


def test_mpf_depth_and_matte_are_found_by_their_metadata_not_their_position(tmp_path):
    srgb, depth, samples, low, high = _disparity_scene()
    matte, matte_jpeg = _matte()
    secondaries = [_gain_map(), secondary_jpeg(samples, disparity_fields(low, high)), matte_jpeg]
    path = build_mpf_jpeg(tmp_path / "iphone.jpg", srgb, secondaries)
    with Image.open(path) as mpo:                       # Pillow's own MPF reader sees the same images
        assert mpo.format == "MPO" and mpo.n_frames == 4
        mpo.seek(2)
        assert np.abs(np.asarray(mpo.convert("L")).astype(int) - samples).max() <= 2
    found, warnings = read_embedded_depth(path, (W, H), 1)
    assert warnings == [] and found.source == "Apple MPF disparity" and not found.metric
    assert inverse_error(found.depth_m, depth) <= (high - low) * 2.5 / 255
    assert found.matte.shape == (H, W) and found.matte.dtype == np.float32
    assert np.abs(found.matte - matte / 255.0)[:, 2:-2].max() < 0.1     # JPEG rings at the matte's edge
    assert describe_embedded_depth(path) == f"Apple MPF disparity {W}x{H} JPEG"


def test_mpf_absolute_depth_in_metres_and_orientation(tmp_path):
    srgb, depth = scene()
    low, high = float(depth.min()), float(depth.max())
    samples = np.rint((depth - low) / (high - low) * 255).astype(np.uint8)
    fields = {**disparity_fields(low, high, accuracy="absolute"), "apdi:AuxiliaryImageType": "depth",
              "apdi:NativeFormat": str(int.from_bytes(b"fdep", "big"))}
    matte, matte_jpeg = _matte()
    path = build_mpf_jpeg(tmp_path / "iphone.jpg", srgb, [secondary_jpeg(samples, fields), matte_jpeg], orientation=6)
    found, warnings = read_embedded_depth(path, (H, W), 6)
    assert warnings == [] and found.source == "Apple MPF depth" and found.metric
    assert np.abs(found.depth_m - apply_orientation(depth, 6)).max() <= (high - low) * 2.5 / 255
    assert np.abs(found.matte - apply_orientation(matte, 6) / 255.0)[2:-2].max() < 0.1


def test_mpf_images_without_apple_depth_metadata_are_not_guessed(tmp_path):
    srgb, _, samples, low, high = _disparity_scene()
    unlabelled = image_bytes(samples, "image/jpeg")
    other = secondary_jpeg(samples, {"apdi:AuxiliaryImageType": "disparity", "apdi:NativeFormat": "12345"})
    path = build_mpf_jpeg(tmp_path / "iphone.jpg", srgb, [_gain_map(), unlabelled, other])
    assert read_embedded_depth(path, (W, H), 1) == (None, [])
    assert describe_embedded_depth(path) is None


def test_mpf_depth_with_an_invalid_value_range_warns(tmp_path):
    srgb, _, samples, low, high = _disparity_scene()
    fields = {**disparity_fields(low, high), "apdi:FloatMaxValue": "NaN"}
    path = build_mpf_jpeg(tmp_path / "iphone.jpg", srgb, [secondary_jpeg(samples, fields)])
    found, warnings = read_embedded_depth(path, (W, H), 1)
    assert found is None and len(warnings) == 1 and "Apple MPF disparity" in warnings[0] and "range" in warnings[0]


# ---- HEIC through pillow-heif -----------------------------------------------------------------------

needs_heif = pytest.mark.skipif(importlib.util.find_spec("pillow_heif") is None,
                                reason="pillow-heif (the optional 'heic' extra) is not installed")


@needs_heif
def test_heic_disparity_and_portrait_matte(tmp_path):
    srgb, depth, samples, low, high = _disparity_scene()
    matte = np.zeros((H, W), np.uint8)
    matte[H // 4:, :] = 230
    path = build_heic(tmp_path / "portrait.heic", srgb, samples, depth_representation_sei(1, d_min=low, d_max=high),
                      matte)
    size_wh = load_photo(path).srgb.shape[1::-1]
    assert size_wh == (W, H)
    found, warnings = read_embedded_depth(path, size_wh, 1)
    assert warnings == [] and found.source == "Apple HEIC disparity" and not found.metric
    # lossless HEVC: only the 8-bit quantisation of disparity remains
    assert inverse_error(found.depth_m, depth) <= (high - low) * 0.5 / 255 + 1e-6
    np.testing.assert_allclose(found.matte, matte / 255.0, atol=1e-6)
    assert describe_embedded_depth(path) == f"Apple HEIC disparity {W}x{H} HEVC"


@needs_heif
def test_heic_ten_bit_disparity(tmp_path):
    """16-bit samples are stored at 10 bits (pillow-heif's HDR depth) and come back scaled to 16
    bits: disparity within two 10-bit steps."""
    srgb, depth = scene()
    disparity = 1.0 / depth
    low, high = float(disparity.min()), float(disparity.max())
    samples = np.rint((disparity - low) / (high - low) * 65535).astype(np.uint16)
    path = build_heic(tmp_path / "d10.heic", srgb, samples, depth_representation_sei(1, d_min=low, d_max=high))
    found, warnings = read_embedded_depth(path, (W, H), 1)
    assert warnings == []
    assert inverse_error(found.depth_m, depth) <= (high - low) * 2 / 1023


@needs_heif
def test_heic_inverse_depth_representation_and_other_makers(tmp_path):
    srgb, depth = scene()
    inverse = 1.0 / depth
    samples = np.rint((inverse - 1 / FAR) / (1 / NEAR - 1 / FAR) * 255).astype(np.uint8)    # 255 = near
    path = build_heic(tmp_path / "z.heic", srgb, samples, depth_representation_sei(0, z_near=NEAR, z_far=FAR),
                      make="Google")
    found, warnings = read_embedded_depth(path, (W, H), None)
    assert warnings == [] and found.source == "HEIC inverse depth" and found.matte is None
    assert inverse_error(found.depth_m, depth) <= (1 / NEAR - 1 / FAR) * 0.5 / 255 + 1e-6


@needs_heif
def test_heic_unsupported_representation_and_no_depth(tmp_path):
    srgb, depth, samples, low, high = _disparity_scene()
    path = build_heic(tmp_path / "u.heic", srgb, samples, depth_representation_sei(2, z_near=NEAR, z_far=FAR))
    found, warnings = read_embedded_depth(path, (W, H), 1)
    assert found is None and len(warnings) == 1 and "representation depth is not supported" in warnings[0]
    plain = build_heic(tmp_path / "plain.heic", srgb, None, None)
    assert read_embedded_depth(plain, (W, H), 1) == (None, [])


@needs_heif
def test_heic_without_pillow_heif_carries_no_map(tmp_path, monkeypatch):
    srgb, _, samples, low, high = _disparity_scene()
    path = build_heic(tmp_path / "p.heic", srgb, samples, depth_representation_sei(1, d_min=low, d_max=high))
    monkeypatch.setitem(sys.modules, "pillow_heif", None)            # import pillow_heif -> ImportError
    from bokehcli.lens.embedded_depth import apple

    assert apple.read_heic(path, (W, H), []) is None and apple.describe_heic(path) is None


def test_jpeg_is_not_taken_for_heic(tmp_path):
    path = tmp_path / "plain.jpg"
    path.write_bytes(photo_jpeg(scene()[0]))
    from bokehcli.lens.embedded_depth import apple

    assert apple.read_heic(path, (W, H), []) is None
