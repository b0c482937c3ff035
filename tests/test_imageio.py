"""Photo I/O: every pixel mode to the right values, orientation, metadata, 16-bit, errors."""

from __future__ import annotations

import dataclasses
import os
import struct
import tempfile
import zlib
from pathlib import Path

import exifread
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms, ImageOps, JpegImagePlugin, TiffImagePlugin

from bokehcli import __version__
from bokehcli.errors import InputError
from bokehcli.imageio import (OUTPUT_SUFFIX, decode16, load_photo, png_unfilter, read_size, save_photo)
from bokehcli.imageio.write import _quantise
from hang_guard import watchdog

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "exif-corpus"
RNG = np.random.default_rng(7)


# --- file builders -------------------------------------------------------------------------

def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def _filter_rows(raw: np.ndarray, bpp: int, kinds: np.ndarray) -> bytes:
    """PNG encoder side: filter (H, W*bpp) bytes row by row with the given filter types."""
    x = raw.astype(np.int32)
    up = np.vstack([np.zeros_like(x[:1]), x[:-1]])
    left = np.hstack([np.zeros_like(x[:, :bpp]), x[:, :-bpp]])
    up_left = np.hstack([np.zeros_like(up[:, :bpp]), up[:, :-bpp]])
    predictions = [0 * x, left, up, (left + up) // 2, _paeth(left, up, up_left)]
    out = [bytes([k]) + ((x[i] - predictions[k][i]) % 256).astype(np.uint8).tobytes() for i, k in enumerate(kinds)]
    return b"".join(out)


def png16(pixels: np.ndarray, interlace: bool = False, exif: bytes | None = None) -> bytes:
    """A 16-bit PNG of uint16 (H, W, C), every filter type used, optionally Adam7-interlaced."""
    height, width, channels = pixels.shape
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    passes = ([(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
              if interlace else [(0, 0, 1, 1)])
    data = b""
    for x0, y0, dx, dy in passes:
        sub = pixels[y0::dy, x0::dx]
        if sub.size:
            rows = sub.astype(">u2").view(np.uint8).reshape(sub.shape[0], -1)
            data += _filter_rows(rows, 2 * channels, np.arange(sub.shape[0]) % 5)
    ihdr = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, int(interlace))
    extra = _chunk(b"eXIf", exif) if exif else b""
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(data))
            + extra + _chunk(b"IEND", b""))


def tiff16_uncompressed_big_endian(pixels: np.ndarray, orientation: int = 1) -> bytes:
    """A minimal big-endian uncompressed 16-bit RGB TIFF, one strip (independent of our writer)."""
    height, width, _ = pixels.shape
    data = pixels.astype(">u2").tobytes()
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 3, None), (259, 3, 1, 1), (262, 3, 1, 2),
               (273, 4, 1, None), (274, 3, 1, orientation), (277, 3, 1, 3), (278, 4, 1, height),
               (279, 4, 1, len(data))]
    ifd_size = 2 + 12 * len(entries) + 4
    bps_at, data_at = 8 + ifd_size, 8 + ifd_size + 6
    ifd = struct.pack(">H", len(entries))
    for tag, typ, count, value in entries:
        value = {258: bps_at, 273: data_at}.get(tag, value)
        packed = struct.pack(">HH", value, 0) if typ == 3 and count == 1 else struct.pack(">I", value)
        ifd += struct.pack(">HHI", tag, typ, count) + packed
    return b"MM\x00*" + struct.pack(">I", 8) + ifd + b"\x00" * 4 + struct.pack(">HHH", 16, 16, 16) + data


def _exif(**tags) -> Image.Exif:
    exif = Image.Exif()
    for tag, value in tags.items():
        exif[int(tag[1:], 16)] = value
    return exif


def _u8(shape) -> np.ndarray:
    return RNG.integers(0, 256, shape, dtype=np.uint8)


def _u16(shape) -> np.ndarray:
    return RNG.integers(0, 65536, shape, dtype=np.uint16)


# --- pixel modes ---------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_8bit_modes_round_trip(tmp_path, fmt):
    rgba = _u8((5, 7, 4))
    for mode, channels in (("L", 1), ("LA", 2), ("RGB", 3), ("RGBA", 4)):
        values = rgba[..., :channels] if channels > 1 else rgba[..., 0]
        path = tmp_path / f"{mode}.{fmt.lower()}"
        Image.fromarray(values, mode).save(path, format=fmt)
        photo = load_photo(path)
        assert photo.srgb.dtype == np.float32 and photo.srgb.shape == (5, 7, 3) and photo.bit_depth == 8
        colour = rgba[..., :3] if channels >= 3 else np.repeat(rgba[..., :1], 3, axis=2)
        np.testing.assert_array_equal(photo.srgb, colour / np.float32(255))
        if channels in (2, 4):
            np.testing.assert_array_equal(photo.alpha, rgba[..., channels - 1] / np.float32(255))
        else:
            assert photo.alpha is None


def test_palette_with_transparency(tmp_path):
    indices = np.array([[0, 1, 2], [2, 1, 0]], np.uint8)
    image = Image.fromarray(indices, "P")
    image.putpalette([255, 0, 0, 0, 255, 0, 10, 20, 30] + [0] * (256 * 3 - 9))
    image.save(tmp_path / "p.png", transparency=1)
    photo = load_photo(tmp_path / "p.png")
    np.testing.assert_array_equal(photo.alpha, (indices != 1).astype(np.float32))
    np.testing.assert_allclose(photo.srgb[0, 2] * 255, [10, 20, 30])
    image.save(tmp_path / "opaque.png")
    assert load_photo(tmp_path / "opaque.png").alpha is None


def test_one_bit(tmp_path):
    bits = np.array([[0, 1, 1], [1, 0, 0]], bool)
    Image.fromarray(bits).save(tmp_path / "b.png")
    photo = load_photo(tmp_path / "b.png")
    np.testing.assert_array_equal(photo.srgb[..., 0], bits.astype(np.float32))


@pytest.mark.parametrize("fmt", ["TIFF", "JPEG"])
def test_cmyk_converted(tmp_path, fmt):
    # white, black, cyan, yellow-ish (Pillow stores CMYK JPEGs Adobe-inverted; it must come back right)
    cmyk = np.array([[[0, 0, 0, 0], [0, 0, 0, 255]], [[255, 0, 0, 0], [0, 0, 255, 0]]], np.uint8)
    path = tmp_path / f"c.{fmt.lower()}"
    Image.fromarray(cmyk, "CMYK").save(path, format=fmt, **({"quality": 100} if fmt == "JPEG" else {}))
    rgb = load_photo(path).srgb * 255
    expected = [[[255, 255, 255], [0, 0, 0]], [[0, 255, 255], [255, 255, 0]]]
    np.testing.assert_allclose(rgb, expected, atol=3 if fmt == "JPEG" else 0)


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16bit_grey(tmp_path, fmt):
    grey = _u16((4, 6))
    Image.fromarray(grey).save(tmp_path / f"g.{fmt.lower()}", format=fmt)
    photo = load_photo(tmp_path / f"g.{fmt.lower()}")
    assert photo.bit_depth == 16
    np.testing.assert_array_equal(photo.srgb, np.repeat(grey[..., None], 3, 2) / np.float32(65535))


def test_float_tiff(tmp_path):
    values = np.array([[0.0, 0.25, 1.0], [0.5, 1.5, -0.1]], np.float32)
    Image.fromarray(values, "F").save(tmp_path / "f.tif")
    photo = load_photo(tmp_path / "f.tif")
    np.testing.assert_array_equal(photo.srgb[..., 1], np.clip(values, 0, 1))


@pytest.mark.parametrize("channels", [2, 3, 4])
@pytest.mark.parametrize("interlace", [False, True])
def test_16bit_png_decoded_at_16_bits(tmp_path, channels, interlace):
    pixels = _u16((11, 13, channels))
    (tmp_path / "x.png").write_bytes(png16(pixels, interlace))
    photo = load_photo(tmp_path / "x.png")
    assert photo.bit_depth == 16
    colour = pixels[..., :3] if channels >= 3 else np.repeat(pixels[..., :1], 3, axis=2)
    np.testing.assert_array_equal(np.rint(photo.srgb * 65535), colour)
    if channels in (2, 4):
        np.testing.assert_array_equal(np.rint(photo.alpha * 65535), pixels[..., -1])


def _unfilter_reference(rows: np.ndarray, bpp: int) -> np.ndarray:
    """PNG spec §9 byte by byte."""
    out, prior = [], [0] * (rows.shape[1] - 1)
    for row in rows:
        kind, current = int(row[0]), []
        for i, value in enumerate(row[1:].tolist()):
            a = current[i - bpp] if i >= bpp else 0
            b, c = prior[i], prior[i - bpp] if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            paeth = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            current.append((value + [0, a, b, (a + b) // 2, paeth][kind]) % 256)
        out.append(current)
        prior = current
    return np.array(out, np.uint8)


@pytest.mark.parametrize("shape", [(1, 1, 2), (6, 1, 6), (1, 9, 4), (13, 9, 6), (9, 14, 8)])
def test_png_unfilter_matches_spec(shape):
    height, width, bpp = shape
    rows = _u8((height, 1 + width * bpp))
    rows[:, 0] = RNG.integers(0, 5, height)
    np.testing.assert_array_equal(png_unfilter(rows, bpp), _unfilter_reference(rows, bpp))


@pytest.mark.parametrize("band_rows", [1, 2, 5])
@pytest.mark.parametrize("shape", [(13, 9, 6), (40, 3, 8), (7, 20, 2)])
def test_png_unfilter_in_bands_matches_spec(monkeypatch, shape, band_rows):
    """Each band starts from the last row of the one above it."""
    height, width, bpp = shape
    rows = _u8((height, 1 + width * bpp))
    rows[:, 0] = RNG.integers(0, 5, height)
    monkeypatch.setattr(decode16, "_band_rows", lambda *_: band_rows)
    np.testing.assert_array_equal(png_unfilter(rows, bpp), _unfilter_reference(rows, bpp))


@pytest.mark.parametrize("height, width, bpp", [(12000, 16, 6), (4000, 6000, 6), (60000, 100, 8), (3, 5, 2)])
def test_band_rows_is_the_largest_band_within_the_budget(height, width, bpp):
    budget = max(decode16.MIN_BAND_BYTES, 2 * height * (1 + width * bpp))

    def grid_bytes(rows):
        return (rows + width + 1) * (rows + 1) * bpp

    rows = decode16._band_rows(height, width, bpp)
    assert 1 <= rows <= height and grid_bytes(rows) <= budget
    assert rows == height or grid_bytes(rows + 1) > budget


@pytest.mark.parametrize("orientation", [1, 3, 6])
def test_16bit_tiff_from_another_writer(tmp_path, orientation):
    upright = _u16((5, 3, 3))
    stored = {1: upright, 3: upright[::-1, ::-1], 6: np.rot90(upright, k=1)}[orientation]
    (tmp_path / "be.tif").write_bytes(tiff16_uncompressed_big_endian(np.ascontiguousarray(stored), orientation))
    photo = load_photo(tmp_path / "be.tif")
    assert photo.bit_depth == 16 and photo.orientation == orientation
    np.testing.assert_array_equal(np.rint(photo.srgb * 65535), upright)
    assert read_size(tmp_path / "be.tif") == (3, 5)


def test_unsupported_mode_refused(tmp_path):
    Image.fromarray(np.array([[1, 2]], np.int32), "I").save(tmp_path / "i.tif")
    with pytest.raises(InputError, match=r"i\.tif: unsupported pixel mode I"):
        load_photo(tmp_path / "i.tif")


# --- orientation ---------------------------------------------------------------------------

# The op that makes a stored image upright (as Pillow's exif_transpose applies it) and its inverse.
DISPLAY_OP = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
              4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270,
              7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}
INVERSE_OP = {**DISPLAY_OP, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_all_orientations_give_the_same_upright_pixels(tmp_path, fmt):
    upright = Image.fromarray(_u8((4, 6, 3)))
    for orientation in range(1, 9):
        stored = upright if orientation == 1 else upright.transpose(INVERSE_OP[orientation])
        path = tmp_path / f"o{orientation}.{fmt.lower()}"
        if fmt == "PNG":
            stored.save(path, exif=_exif(x0112=orientation))
        else:
            stored.save(path, tiffinfo={274: orientation})
        with Image.open(path) as check:  # the file says what we think it says
            assert np.array_equal(np.asarray(ImageOps.exif_transpose(check)), np.asarray(upright))
        photo = load_photo(path)
        assert photo.orientation == orientation
        np.testing.assert_array_equal(photo.srgb, np.asarray(upright) / np.float32(255))
        assert read_size(path) == (6, 4)


def test_orientation_of_a_jpeg_and_of_16bit_pixels(tmp_path):
    upright = _u8((16, 24, 3))
    Image.fromarray(upright).transpose(INVERSE_OP[6]).save(tmp_path / "o.jpg", quality=100, subsampling=0,
                                                           exif=_exif(x0112=6))
    photo = load_photo(tmp_path / "o.jpg")
    assert photo.srgb.shape == (16, 24, 3) and read_size(tmp_path / "o.jpg") == (24, 16)
    assert np.abs(photo.srgb * 255 - upright).mean() < 3
    deep = _u16((5, 7, 4))
    stored = np.rot90(deep, k=1)  # orientation 6 displays this rotated clockwise: back to `deep`
    (tmp_path / "o16.png").write_bytes(png16(np.ascontiguousarray(stored), exif=_exif(x0112=6).tobytes()))
    photo = load_photo(tmp_path / "o16.png")
    np.testing.assert_array_equal(np.rint(photo.srgb * 65535), deep[..., :3])
    np.testing.assert_array_equal(np.rint(photo.alpha * 65535), deep[..., 3])


def test_invalid_orientation_is_a_warning(tmp_path):
    Image.fromarray(_u8((2, 3, 3))).save(tmp_path / "bad.png", exif=_exif(x0112=9))
    photo = load_photo(tmp_path / "bad.png")
    assert photo.orientation == 1 and any("orientation" in w for w in photo.warnings)


# --- writing -------------------------------------------------------------------------------

def _source_jpeg(tmp_path) -> Path:
    exif = _exif(x010f="Canon", x0110="Canon EOS R6", x0112=6)
    sub = exif.get_ifd(0x8769)
    sub[0x829D] = TiffImagePlugin.IFDRational(8, 1)
    sub[0x920A] = TiffImagePlugin.IFDRational(50, 1)
    exif[0x8769] = sub
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    path = tmp_path / "src.jpg"
    # smooth, and the same whichever tests ran before (noise from the shared RNG re-encodes with
    # an error that depends on the draw)
    down, across = np.meshgrid(np.linspace(40, 215, 8), np.linspace(40, 215, 12), indexing="ij")
    pixels = np.stack([down, across, 255 - down], axis=-1).astype(np.uint8)
    Image.fromarray(pixels).save(path, quality=95, exif=exif, icc_profile=icc)
    return path


@pytest.mark.parametrize("fmt", ["jpeg", "png", "tiff"])
def test_metadata_carried(tmp_path, fmt):
    source = load_photo(_source_jpeg(tmp_path))
    assert source.orientation == 6 and source.srgb.shape == (12, 8, 3)
    out = tmp_path / f"out{OUTPUT_SUFFIX[fmt]}"
    warnings = save_photo(out, source.srgb, fmt=fmt, source=source, f_number=1.8,
                          description="bokeh: f/1.8, focus 2.5 m (EXIF), 50 mm")
    assert warnings == []
    with Image.open(out) as im:
        assert im.size == (8, 12) and im.info.get("icc_profile") == source.icc
        exif = im.getexif()
        sub = exif.get_ifd(0x8769)
    assert exif[0x0112] == 1 and exif[0x010F] == "Canon" and exif[0x0110] == "Canon EOS R6"
    assert exif[0x0131] == f"bokeh {__version__}"
    assert exif[0x010E] == "bokeh: f/1.8, focus 2.5 m (EXIF), 50 mm"
    assert float(sub[0x829D]) == pytest.approx(1.8) and float(sub[0x920A]) == 50
    assert float(sub[0x9202]) == pytest.approx(2 * np.log2(1.8), abs=1e-3)
    assert (sub[0xA002], sub[0xA003]) == (8, 12)
    if fmt != "png":  # exifread reads JPEG and TIFF
        with open(out, "rb") as fh:
            tags = exifread.process_file(fh, details=False)
        assert str(tags["Image Orientation"]) in ("Horizontal (normal)", "1")
        assert tags["EXIF FNumber"].values[0] == pytest.approx(1.8)
        assert str(tags["Image Model"]) == "Canon EOS R6"
    assert np.abs(load_photo(out).srgb - source.srgb).max() < (0.05 if fmt == "jpeg" else 1 / 255)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_quantise_rounds_half_to_even_and_clips_any_layout(dtype):
    """The torch quantiser against numpy's rint and clip, on a transposed view (as the render
    hands it over) with values outside [0, 1] and exact halves."""
    top = np.iinfo(dtype).max
    values = np.random.default_rng(0).uniform(-0.2, 1.2, (3, 40, 50)).astype(np.float32)
    values[0, 0, :4] = np.array([0.5, 1.5, 2.5, 3.5]) / top
    srgb = values.transpose(1, 2, 0)
    ours = _quantise(srgb, dtype)
    assert ours.dtype == dtype and ours.flags.c_contiguous
    assert np.array_equal(ours, np.rint(np.clip(srgb, 0.0, 1.0) * top).astype(dtype))


def test_jpeg_is_444_at_high_quality(tmp_path):
    for quality, sampling in ((95, 0), (80, 2)):
        save_photo(tmp_path / f"q{quality}.jpg", RNG.random((16, 16, 3), np.float32), quality=quality)
        with Image.open(tmp_path / f"q{quality}.jpg") as im:
            assert JpegImagePlugin.get_sampling(im) == sampling


def test_16bit_tiff_written_and_read_back_exactly(tmp_path):
    pixels = _u16((90, 4000, 3))  # 43 rows per 1 MiB strip: three strips
    save_photo(tmp_path / "x.tif", pixels / np.float32(65535), fmt="tiff")
    photo = load_photo(tmp_path / "x.tif")
    assert photo.bit_depth == 16
    np.testing.assert_array_equal(np.rint(photo.srgb * 65535), pixels)
    with Image.open(tmp_path / "x.tif") as im:  # another reader agrees (Pillow keeps the high bytes)
        assert im.size == (4000, 90) and len(im.tag_v2[273]) == 3
        np.testing.assert_array_equal(np.asarray(im), pixels >> 8)


# IFD0 {ResolutionUnit: -5 stored as SSHORT, Make: "Abc"}: loads, but -5 cannot be written back as SHORT.
ABSURD_EXIF = (b"Exif\0\0II*\0" + struct.pack("<IH", 8, 2) + struct.pack("<HHIh2x", 0x0128, 8, 1, -5)
               + struct.pack("<HHI4s", 0x010F, 2, 4, b"Abc\0") + b"\0" * 4)


@pytest.mark.parametrize("fmt", list(OUTPUT_SUFFIX))
@pytest.mark.parametrize("problem", ["unusable", "too large"])
def test_fresh_exif_when_the_source_exif_cannot_be_copied(tmp_path, fmt, problem):
    photo = load_photo(_source_jpeg(tmp_path))
    if problem == "unusable":
        exif = ABSURD_EXIF
    else:
        big = Image.Exif()
        big.load(photo.exif)
        big[0x8769] = {**big.get_ifd(0x8769), 0x9286: b"\0" * 70_000}  # a huge UserComment
        exif = big.tobytes()
    source = dataclasses.replace(photo, exif=exif)
    out = tmp_path / f"o{OUTPUT_SUFFIX[fmt]}"
    warnings = save_photo(out, photo.srgb, fmt=fmt, source=source, f_number=2.0)
    assert len(warnings) == 1 and warnings[0].startswith(f"{photo.path}: EXIF {problem}")
    with Image.open(out) as im:
        exif = im.getexif()
        assert float(exif.get_ifd(0x8769)[0x829D]) == 2.0 and exif[0x0112] == 1
        # what identifies the photo survives the fresh EXIF: the camera's make and model
        assert (exif.get(0x010F), exif.get(0x0110)) == (("Abc", None) if problem == "unusable"
                                                        else ("Canon", "Canon EOS R6"))


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    def broken_save(self, fp, *args, **kwargs):
        if isinstance(fp, (str, Path)):
            Path(fp).write_bytes(b"partial")
        else:       # a JPEG is encoded in memory first, for its XMP segments
            fp.write(b"partial")
        raise RuntimeError("encoder crashed")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    for name in ("o.jpg", "o.png"):
        with pytest.raises(RuntimeError):
            save_photo(tmp_path / name, np.zeros((4, 4, 3), np.float32), fmt="png" if name == "o.png" else "jpeg")
    monkeypatch.setattr("bokehcli.imageio.write.zlib.compress", lambda *a: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        save_photo(tmp_path / "o.tif", np.zeros((4, 4, 3), np.float32), fmt="tiff")
    assert list(tmp_path.iterdir()) == []


# --- bad input -----------------------------------------------------------------------------

def _bad_inputs(tmp_path: Path) -> dict[str, Path]:
    good = tmp_path / "good.jpg"
    Image.fromarray(_u8((64, 64, 3))).save(good, quality=90)
    data = good.read_bytes()
    png = tmp_path / "good.png"
    Image.fromarray(_u8((32, 32, 3))).save(png)
    png_data = bytearray(png.read_bytes())
    png_data[len(png_data) // 2] ^= 0xFF
    files = {"missing": tmp_path / "nope.jpg", "directory": tmp_path / "dir.jpg", "empty": tmp_path / "empty.jpg",
             "text": tmp_path / "text.jpg", "truncated": tmp_path / "trunc.jpg", "corrupt": tmp_path / "corrupt.png",
             "truncated16": tmp_path / "trunc16.png"}
    files["directory"].mkdir()
    files["empty"].write_bytes(b"")
    files["text"].write_text("hello, not an image\n")
    files["truncated"].write_bytes(data[:len(data) // 2])
    files["corrupt"].write_bytes(bytes(png_data))
    files["truncated16"].write_bytes(png16(_u16((8, 8, 3)))[:-40])
    return files


@pytest.mark.parametrize("case", ["missing", "directory", "empty", "text", "truncated", "corrupt", "truncated16"])
def test_bad_input_is_one_line_input_error(tmp_path, case):
    path = _bad_inputs(tmp_path)[case]
    with pytest.raises(InputError) as info:
        load_photo(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    if case in ("missing", "directory", "empty", "text"):
        with pytest.raises(InputError):
            read_size(path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_permission_denied(tmp_path):
    path = tmp_path / "secret.png"
    Image.new("RGB", (2, 2)).save(path)
    path.chmod(0)
    with pytest.raises(InputError, match="permission denied"):
        load_photo(path)


def test_bomb_refused_from_the_header(tmp_path, monkeypatch):
    header = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0))
    (tmp_path / "bomb.png").write_bytes(header + _chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + _chunk(b"IEND", b""))
    monkeypatch.setattr(Image.Image, "load", lambda self: pytest.fail("decoded before the size check"))
    with pytest.raises(InputError, match="bomb.png: too many pixels"):
        load_photo(tmp_path / "bomb.png")
    assert read_size(tmp_path / "bomb.png") == (100000, 100000)


def test_tiny_jpeg_declaring_a_huge_image_is_refused_before_decoding(tmp_path, monkeypatch):
    """631 bytes claiming 14000x14000 (under the pixel limit) would decode 196 MP of grey."""
    Image.new("RGB", (16, 16), (200, 10, 10)).save(tmp_path / "small.jpg", quality=90)
    data = bytearray((tmp_path / "small.jpg").read_bytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", 14000, 14000)
    (tmp_path / "forged.jpg").write_bytes(bytes(data))
    monkeypatch.setattr(Image.Image, "load", lambda self: pytest.fail("decoded before the size check"))
    with pytest.raises(InputError, match=r"forged.jpg: \d+ bytes cannot hold the 14000x14000 JPEG"):
        load_photo(tmp_path / "forged.jpg")


def test_max_pixels_and_pillows_own_limit(tmp_path, monkeypatch):
    Image.new("RGB", (20, 10)).save(tmp_path / "x.png")
    with pytest.raises(InputError, match="too many pixels"):
        load_photo(tmp_path / "x.png", max_pixels=199)
    assert load_photo(tmp_path / "x.png", max_pixels=200).srgb.shape == (10, 20, 3)
    for limit in (150, 50):  # Pillow warns above its limit and refuses above twice it
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
        with pytest.raises(InputError, match="too many pixels"):
            load_photo(tmp_path / "x.png")


# --- robustness on real files --------------------------------------------------------------

def _corpus_jpegs(max_bytes: int) -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.rglob("*")
                  if p.suffix.lower() in (".jpg", ".jpeg") and p.stat().st_size <= max_bytes)


@pytest.mark.skipif(not _corpus_jpegs(60_000), reason="no exif-corpus")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_jpegs_load_or_raise_input_error(tmp_path, data):
    source = data.draw(st.sampled_from(_corpus_jpegs(60_000)[:6]))
    original = bytearray(source.read_bytes())
    for _ in range(data.draw(st.integers(1, 8))):
        original[data.draw(st.integers(0, len(original) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(len(original) // 4, len(original)))
    path = tmp_path / "m.jpg"
    path.write_bytes(bytes(original[:cut]))
    with watchdog():
        try:
            photo = load_photo(path)
        except InputError as exc:
            assert str(exc).startswith(f"{path}: ")
        else:
            assert photo.srgb.dtype == np.float32 and np.isfinite(photo.srgb).all()
            save_photo(tmp_path / "out.jpg", photo.srgb, source=photo, f_number=2.8)


def _our_16bit_files() -> dict[str, bytes]:
    pixels = np.random.default_rng(3).integers(0, 65536, (9, 11, 3), dtype=np.uint16)
    with tempfile.TemporaryDirectory() as folder:  # the TIFF comes from our writer
        save_photo(Path(folder) / "x.tif", pixels / np.float32(65535), fmt="tiff")
        tiff = (Path(folder) / "x.tif").read_bytes()
    return {"png": png16(pixels), "apng": png16(pixels, interlace=True), "tif": tiff}


OUR_16BIT = _our_16bit_files()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_16bit_files_load_or_raise_input_error(tmp_path, data):
    """Our own PNG/TIFF decoders meet hostile bytes too."""
    kind = data.draw(st.sampled_from(sorted(OUR_16BIT)))
    original = bytearray(OUR_16BIT[kind])
    for _ in range(data.draw(st.integers(1, 6))):
        original[data.draw(st.integers(0, len(original) - 1))] = data.draw(st.integers(0, 255))
    path = tmp_path / f"m.{kind[-3:]}"
    path.write_bytes(bytes(original[:data.draw(st.integers(8, len(original)))]))
    try:
        photo = load_photo(path, max_pixels=10_000)
    except InputError as exc:
        assert str(exc).startswith(f"{path}: ")
    else:
        assert np.isfinite(photo.srgb).all() and photo.srgb.min() >= 0 and photo.srgb.max() <= 1


@pytest.mark.skipif(not _corpus_jpegs(400_000), reason="no exif-corpus")
def test_corpus_exif_survives_a_save(tmp_path):
    """Real (and deliberately odd) EXIF from many cameras is carried or replaced, never a crash."""
    for path in _corpus_jpegs(400_000):
        try:
            photo = load_photo(path)
        except InputError:
            continue
        save_photo(tmp_path / "o.jpg", photo.srgb[:8, :8], source=photo, f_number=4.0)
        with Image.open(tmp_path / "o.jpg") as im:
            exif = im.getexif()
            assert exif[0x0112] == 1 and float(exif.get_ifd(0x8769)[0x829D]) == 4.0


def test_jpeg_cut_short_but_closed_is_flagged(tmp_path):
    """A JPEG whose image data stops early but ends with an end-of-image marker decodes without
    error (the missing blocks come back flat grey); the photo carries a warning saying so."""
    rng = np.random.default_rng(0)
    whole = tmp_path / "whole.jpg"
    Image.fromarray(rng.integers(0, 256, (96, 64, 3), dtype=np.uint8)).save(whole, quality=90)
    data = whole.read_bytes()
    scan = data.index(b"\xff\xda")
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: scan + (len(data) - scan) // 3] + b"\xff\xd9")
    warnings = load_photo(cut).warnings
    assert len(warnings) == 1 and "may be truncated" in warnings[0] and str(cut) in warnings[0]
    assert not load_photo(whole).warnings
    # A real grey band narrower than one block row at the bottom is no such trace.
    banded = rng.integers(0, 256, (96, 64, 3), dtype=np.uint8)
    banded[-6:] = 128
    Image.fromarray(banded).save(tmp_path / "banded.png")
    Image.open(tmp_path / "banded.png").save(tmp_path / "banded.jpg", quality=100, subsampling=0)
    assert not load_photo(tmp_path / "banded.jpg").warnings
