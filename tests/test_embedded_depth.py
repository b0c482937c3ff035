"""Google GDepth depth maps (standard and extended XMP), the container's extended-XMP portions,
the corpus's Google Camera photo, damaged maps, anchoring and `bokeh info`.

Files are built to the published specifications by ``gdepth_builder``; decoded depth is checked
against the depth that was encoded through the spec's own normalisation (the stored value is
``dn`` quantised to 8 or 16 bits, so ``dn`` of the decoded depth may differ from ``dn`` of the
true depth by at most half a step).
"""

from __future__ import annotations

import base64
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from bokehcli.cli.app import app
from bokehcli.depthio import fill_unknown_depth
from bokehcli.imageio import apply_orientation, load_photo
from bokehcli.lens.container import read_blocks
from bokehcli.lens.embedded_depth import describe_embedded_depth, read_embedded_depth
from gdepth_builder import (MAX_PORTION, XMP_ID, build_gdepth_jpeg, encode_range, gdepth_segments, image_bytes,
                            insert_segments, photo_jpeg, segment)
from hang_guard import watchdog

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "exif-corpus"
GOOGLE_LENS_BLUR = CORPUS / "Other_phone" / "exiv2-bug922.jpg"
NEAR, FAR = 0.6, 12.0
H, W = 48, 64


def scene(h=H, w=W, seed=0):
    """A photo and a smooth depth map spanning NEAR..FAR, both (h, w)."""
    rng = np.random.default_rng(seed)
    srgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    depth = NEAR + (FAR - NEAR) * (0.6 * xx / (w - 1) + 0.4 * (yy / (h - 1)) ** 2)
    return srgb, depth


def dn_of(depth, near, far, fmt):
    """The spec's normalised value of a depth (the inverse of its decoding formula)."""
    depth = np.asarray(depth, dtype=np.float64)
    if fmt == "RangeInverse":
        return far * (depth - near) / (depth * (far - near))
    return (depth - near) / (far - near)


def assert_within_quantisation(decoded, true, near, far, fmt, levels):
    assert decoded.shape == true.shape and decoded.dtype == np.float32
    assert np.isfinite(decoded).all()
    error = np.abs(dn_of(decoded, near, far, fmt) - dn_of(true, near, far, fmt))
    assert error.max() <= levels + 1e-6, error.max()


# ---- decoding to the spec ------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["RangeInverse", "RangeLinear"])
@pytest.mark.parametrize("mime,bits,levels", [("image/png", 16, 0.5 / 65535), ("image/png", 8, 0.5 / 255),
                                               ("image/jpeg", 8, 2.5 / 255)])
def test_extended_xmp_map_in_shuffled_portions_decodes_to_the_encoded_depth(tmp_path, fmt, mime, bits, levels):
    srgb, depth = scene()
    # small portions in a scrambled order: reassembly must go by offset, not by file order
    path = build_gdepth_jpeg(tmp_path / "g.jpg", srgb, depth, NEAR, FAR, (16.0, 12.0), 3.5, fmt, mime, bits=bits,
                             portion_bytes=120, shuffle_seed=1)
    offsets = [chunk.offset for chunk in read_blocks(path).extended_xmp]
    assert len(offsets) >= 3 and offsets != sorted(offsets)
    found, warnings = read_embedded_depth(path, (W, H), 1)
    assert warnings == []
    assert found.source == "GDepth (extended XMP)" and found.metric
    assert found.focus_xy == pytest.approx((16.0, 12.0)) and found.focus_m == pytest.approx(3.5)
    assert found.matte is None
    assert_within_quantisation(found.depth_m, depth, NEAR, FAR, fmt, levels)
    assert describe_embedded_depth(path) == f"GDepth (extended XMP) {W}x{H} {mime[6:].upper()} {fmt}"


def test_map_in_the_main_packet(tmp_path):
    srgb, depth = scene(12, 16)
    path = tmp_path / "small.jpg"
    path.write_bytes(insert_segments(photo_jpeg(srgb), gdepth_segments(
        encode_range(depth, NEAR, FAR, "RangeLinear", 8), NEAR, FAR, fmt="RangeLinear", extended=False)))
    found, warnings = read_embedded_depth(path, (16, 12), None)
    assert warnings == [] and found.source == "GDepth (XMP)"
    assert_within_quantisation(found.depth_m, depth, NEAR, FAR, "RangeLinear", 0.5 / 255)
    assert found.focus_xy is None and found.focus_m is None


def test_container_keeps_extended_portions_apart_with_their_headers(tmp_path):
    srgb, depth = scene()
    path = build_gdepth_jpeg(tmp_path / "g.jpg", srgb, depth, NEAR, FAR, None, None, portion_bytes=500)
    blocks = read_blocks(path)
    assert len(blocks.xmp) == 1 and b"HasExtendedXMP" in blocks.xmp[0]
    chunks = blocks.extended_xmp
    assert [c.offset for c in chunks] == list(range(0, chunks[0].full_length, 500))
    assert len({c.guid for c in chunks}) == 1 and len(chunks[0].guid) == 32
    assert sum(len(c.data) for c in chunks) == chunks[0].full_length


def test_units_mm_and_unknown_units(tmp_path):
    srgb, depth = scene(12, 16)
    for units, metric, scale in (("mm", True, 0.001), ("furlong", False, 1.0), (None, True, 1.0)):
        path = tmp_path / f"u{units}.jpg"
        path.write_bytes(insert_segments(photo_jpeg(srgb), gdepth_segments(
            encode_range(depth * 1000, NEAR * 1000, FAR * 1000, "RangeInverse", 16), NEAR * 1000, FAR * 1000,
            units=units, focus_distance=2000.0)))
        found, warnings = read_embedded_depth(path, (16, 12), 1)
        assert warnings == [] and found.metric is metric
        np.testing.assert_allclose(found.depth_m, depth * 1000 * scale, rtol=1e-3)
        assert found.focus_m == pytest.approx(2000.0 * scale)


def _inverse_orientation(orientation):
    probe = np.arange(12).reshape(3, 4)
    return next(q for q in range(1, 9)
                if np.array_equal(apply_orientation(apply_orientation(probe, q), orientation), probe))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_turns_map_and_focus_point_upright_with_the_photo(tmp_path, orientation):
    srgb_up, depth_up = scene(30, 40, seed=orientation)
    back = _inverse_orientation(orientation)
    srgb, depth = (np.ascontiguousarray(apply_orientation(a, back)) for a in (srgb_up, depth_up))
    row, col = 5, 7                                   # a stored pixel, and its centre as the focus point
    path = build_gdepth_jpeg(tmp_path / f"o{orientation}.jpg", srgb, depth, NEAR, FAR, (col + 0.5, row + 0.5), 2.0,
                             orientation=orientation)
    size_wh = load_photo(path).srgb.shape[1::-1]
    assert size_wh == (40, 30)
    found, warnings = read_embedded_depth(path, size_wh, orientation)
    assert warnings == []
    assert_within_quantisation(found.depth_m, depth_up, NEAR, FAR, "RangeInverse", 0.5 / 65535)
    marker = np.zeros(depth.shape)
    marker[row, col] = 1
    up_row, up_col = np.argwhere(apply_orientation(marker, orientation) == 1)[0]
    assert found.focus_xy == pytest.approx((up_col + 0.5, up_row + 0.5))


def test_smaller_map_is_resampled_to_the_photo(tmp_path):
    """A 16x12 map of a plane (inverse depth linear in x and y) stretched to 64x48: bilinear
    resampling of inverse depth reproduces a plane exactly, sampled at output pixel centres
    mapped back to map coordinates ``(X + 0.5) * 16 / 64 - 0.5`` (clamped at the borders)."""
    srgb, _ = scene(48, 64)
    inv_near, inv_far = 1 / NEAR, 1 / FAR

    def plane(x, y, w, h):
        return inv_far + (inv_near - inv_far) * (0.7 * x / (w - 1) + 0.3 * y / (h - 1))

    yy, xx = np.mgrid[0:12, 0:16]
    path = build_gdepth_jpeg(tmp_path / "s.jpg", srgb, 1 / plane(xx, yy, 16, 12), NEAR, FAR, None, None)
    found, warnings = read_embedded_depth(path, (64, 48), 1)
    assert warnings == [] and found.depth_m.shape == (48, 64)
    ys = np.clip((np.arange(48) + 0.5) / 4 - 0.5, 0, 11)
    xs = np.clip((np.arange(64) + 0.5) / 4 - 0.5, 0, 15)
    expected = plane(xs[None, :], ys[:, None], 16, 12)
    np.testing.assert_allclose(1 / found.depth_m, expected, atol=(inv_near - inv_far) / 65535)


# ---- damaged maps: None and exactly one warning naming the file and the problem ------------------

def _segments(**kwargs):
    srgb, depth = scene()
    samples = encode_range(depth, NEAR, FAR, "RangeInverse", 16)
    return srgb, gdepth_segments(samples, NEAR, FAR, portion_bytes=1500, **kwargs)


def _png_header_only(width, height):
    """A PNG whose header claims ``width`` x ``height`` (its one IDAT holds a single pixel)."""
    png = bytearray(image_bytes(np.zeros((1, 1), np.uint8), "image/png"))
    ihdr = bytearray(png[12:29])
    ihdr[4:12] = struct.pack(">II", width, height)
    png[12:29] = ihdr
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    return bytes(png)


# problems only decoding the pixels reveals; `bokeh info` does not decode them
PIXEL_PROBLEMS = {"truncated PNG", "colour map"}


def _variants():
    srgb, segments = _segments()
    main, portions = segments[0], segments[1:]
    valid_data = base64.b64encode(image_bytes(encode_range(scene()[1], NEAR, FAR, "RangeInverse", 16),
                                              "image/png")).decode()
    flipped = bytearray(portions[1])
    flipped[-10] = ord("A") if flipped[-10] != ord("A") else ord("B")   # still base64, no longer the data
    shifted = bytearray(portions[2])
    shifted[4 + 35 + 32 + 4 + 3] ^= 0x10                                # one bit of a portion's offset
    colour = np.zeros((H, W, 3), np.uint8)
    colour[..., 0] = 200
    broken_xml = segment(0xE1, XMP_ID + b'<!DOCTYPE x [<!ENTITY e "boom">]><x:xmpmeta xmlns:x="adobe:ns:meta/">'
                         b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
                         b'xmlns:GDepth="http://ns.google.com/photos/1.0/depthmap/" GDepth:Near="&e;"/>'
                         b"</rdf:RDF></x:xmpmeta>")
    return {
        "missing portion": ([main] + portions[:1] + portions[2:], "missing"),
        "duplicated portion": ([main] + portions[:2] + portions[1:], "overlaps"),
        "wrong GUID": (_segments(extra={"xmpNote:HasExtendedXMP": "0123456789ABCDEF" * 2})[1], "another GUID"),
        "MD5 mismatch": ([main] + portions[:1] + [bytes(flipped)] + portions[2:], "MD5"),
        "bit flip in an offset": ([main] + portions[:2] + [bytes(shifted)] + portions[3:], "extended XMP"),
        "bad base64": (_segments(data_text=valid_data[:200] + "*" + valid_data[201:])[1], "base64"),
        "Near >= Far": (_segments(extra={"GDepth:Near": "12", "GDepth:Far": "3"})[1], "Near"),
        "NaN Far": (_segments(extra={"GDepth:Far": "NaN"})[1], "Near"),
        "not a number": (_segments(extra={"GDepth:Near": "near"})[1], "not a number"),
        "huge dims": (_segments(data_text=base64.b64encode(_png_header_only(100_000, 100_000)).decode())[1],
                      "implausible"),
        "truncated PNG": (_segments(data_text=base64.b64encode(
            image_bytes(np.zeros((H, W), np.uint16), "image/png")[:60]).decode())[1], "corrupt"),
        "colour map": (_segments(data_text=base64.b64encode(image_bytes(colour, "image/png")).decode())[1], "colour"),
        "unknown mime": (_segments(extra={"GDepth:Mime": "image/gif"})[1], "not PNG or JPEG"),
        "unknown format": (_segments(extra={"GDepth:Format": "RangeQuadratic"})[1], "RangeQuadratic"),
        "no data": ([segment(0xE1, XMP_ID + main[4 + len(XMP_ID):].replace(b"xmpNote:HasExtendedXMP", b"xmpNote:X"))],
                    "GDepth:Data is missing"),
        "entity declaration": ([broken_xml], "refuses to expand"),
    }


@pytest.mark.parametrize("name", list(_variants()))
def test_damaged_map_gives_none_and_one_warning(tmp_path, name):
    segments, problem = _variants()[name]
    srgb = scene()[0]
    path = tmp_path / "damaged.jpg"
    path.write_bytes(insert_segments(photo_jpeg(srgb), segments))
    with watchdog():
        found, warnings = read_embedded_depth(path, (W, H), 1)
    assert found is None and len(warnings) == 1, warnings
    assert str(path) in warnings[0] and problem in warnings[0] and "\n" not in warnings[0]
    if name not in PIXEL_PROBLEMS:
        assert "(unusable: " in describe_embedded_depth(path)


def test_wrong_aspect_and_truncated_file(tmp_path):
    srgb, depth = scene()
    path = build_gdepth_jpeg(tmp_path / "a.jpg", srgb, depth, NEAR, FAR, None, None)
    found, warnings = read_embedded_depth(path, (H, W), 1)           # the photo as if rotated
    assert found is None and len(warnings) == 1 and "aspect ratios differ (rotated?)" in warnings[0]
    data = path.read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[:len(data) // 2])                           # inside the extended portions
    found, warnings = read_embedded_depth(cut, (W, H), 1)
    assert found is None and len(warnings) == 1 and "extended XMP" in warnings[0]


def test_unreadable_focus_leaves_the_map_without_a_focus(tmp_path):
    srgb, depth = scene()
    path = tmp_path / "f.jpg"
    path.write_bytes(insert_segments(photo_jpeg(srgb), _segments(
        extra={"GFocus:FocalPointX": "left", "GFocus:FocalPointY": "1.5", "GFocus:FocalDistance": "-2"})[1]))
    found, warnings = read_embedded_depth(path, (W, H), 1)
    assert warnings == [] and found is not None and found.focus_xy is None and found.focus_m is None


def test_photo_without_depth(tmp_path):
    path = tmp_path / "plain.jpg"
    path.write_bytes(photo_jpeg(scene()[0]))
    assert read_embedded_depth(path, (W, H), 1) == (None, [])
    assert describe_embedded_depth(path) is None


# ---- the corpus's Google Camera lens-blur photo ------------------------------------------------

@pytest.mark.skipif(not GOOGLE_LENS_BLUR.is_file(), reason=f"corpus photo not found at {GOOGLE_LENS_BLUR}")
def test_google_camera_lens_blur_photo():
    """Google Camera recorded the focus distance (GFocus) separately from the map: the map's
    depth at the recorded focus point must be that distance, to one 8-bit step of the map."""
    assert describe_embedded_depth(GOOGLE_LENS_BLUR) == "GDepth (extended XMP) 1536x2048 PNG RangeInverse"
    found, warnings = read_embedded_depth(GOOGLE_LENS_BLUR, (1536, 2048), 1)
    assert warnings == [] and found.source == "GDepth (extended XMP)"
    assert found.depth_m.shape == (2048, 1536)
    assert found.focus_xy == pytest.approx((0.4351852 * 1536, 0.39444447 * 2048))
    assert found.focus_m == pytest.approx(16.068678)
    near, far = 10.917767524719238, 38.58317565917969                # GDepth:Near / Far of the file
    assert near <= np.nanmin(found.depth_m) and np.nanmax(found.depth_m) <= far
    x, y = (int(v) for v in found.focus_xy)
    at_focus = float(np.median(found.depth_m[y - 2:y + 3, x - 2:x + 3]))
    assert abs(dn_of(at_focus, near, far, "RangeInverse") - dn_of(found.focus_m, near, far, "RangeInverse")) <= 1 / 255


# ---- bokeh info ----------------------------------------------------------------------------------

def test_info_reports_the_embedded_map(tmp_path):
    srgb, depth = scene()
    gdepth = build_gdepth_jpeg(tmp_path / "g.jpg", srgb, depth, NEAR, FAR, (3.0, 4.0), 2.0)
    plain = tmp_path / "plain.jpg"
    plain.write_bytes(photo_jpeg(srgb))
    result = CliRunner().invoke(app, ["info", "--json", str(gdepth), str(plain)])
    assert result.exit_code == 0
    objects = json.loads(result.stdout)
    assert [o["embedded_depth"] for o in objects] == [f"GDepth (extended XMP) {W}x{H} PNG RangeInverse", None]
    table = CliRunner().invoke(app, ["info", str(gdepth)], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "GDepth (extended XMP)" in table.stdout


# ---- acceptance helper on a real photo with measured depth -----------------------------------------

def test_gdepth_built_from_measured_stereo_depth_decodes_to_it(tmp_path):
    """Middlebury's Motorcycle (scikit-image): depth from disparity with the dataset's
    calibration, ``depth_mm = f * baseline / (disparity + doffs)``; unknown pixels filled by
    their nearest known neighbour, as a depth map given to ``--depth`` would be."""
    from skimage import data

    left, _, disparity = data.stereo_motorcycle()
    with np.errstate(divide="ignore"):
        depth_m = np.where(np.isfinite(disparity), 994.978 * 193.001 / (disparity + 31.086) / 1000.0, np.nan)
    depth_m = fill_unknown_depth(depth_m.astype(np.float32)).astype(np.float64)
    near, far = float(depth_m.min()), float(depth_m.max())
    focus_xy = (370.0, 250.0)
    focus_m = float(depth_m[250, 370])
    path = build_gdepth_jpeg(tmp_path / "motorcycle.jpg", left, depth_m, near, far, focus_xy, focus_m)
    height, width = left.shape[:2]
    found, warnings = read_embedded_depth(path, (width, height), 1)
    assert warnings == [] and found.source == "GDepth (extended XMP)" and found.metric
    assert found.focus_xy == pytest.approx(focus_xy) and found.focus_m == pytest.approx(focus_m)
    assert_within_quantisation(found.depth_m, depth_m, near, far, "RangeInverse", 0.5 / 65535)
    np.testing.assert_allclose(found.depth_m, depth_m, rtol=2e-4)
    assert len(read_blocks(path).extended_xmp) > 1 and MAX_PORTION > 60000
