"""read_lens end to end on constructed JPEGs: source order, sanity bounds, sensor size, CLI."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from bokehcli.cli.app import app
from bokehcli.errors import InputError
from bokehcli.lens import read_lens
from lens_builder import ifd, jpeg, tiff, value


def photo(tmp_path, exif: dict, make="Maker", model="Cam", note=None, xmp=None, name="p.jpg"):
    path = tmp_path / name
    path.write_bytes(jpeg(tiff(make, model, exif, note=note), xmp=xmp))
    return path


BASE = {0x920A: value(5, [(50, 1)]), 0x829D: value(5, [(28, 10)])}


def test_standard_tags_and_35mm_crop(tmp_path):
    info = read_lens(photo(tmp_path, {**BASE, 0xA405: value(3, [75])}))
    assert (info.focal_mm, info.f_number, info.crop_factor) == (50.0, 2.8, 1.5)
    assert info.sensor_diagonal_mm == pytest.approx(43.27 / 1.5)
    assert info.sources["crop_factor"] == "EXIF:FocalLengthIn35mmFilm"
    assert (info.width, info.height) == (640, 480)


def test_subject_distance_infinity_sentinel_is_json_null_with_flag(tmp_path):
    info = read_lens(photo(tmp_path, {**BASE, 0x9206: value(5, [(0xFFFFFFFF, 1)])}))
    assert info.focus_infinite and info.focus_m is None
    obj = info.to_json()
    assert obj["focus_infinite"] is True and obj["focus_m"] is None
    assert obj["focus_source"] == "EXIF:SubjectDistance"


def test_implausible_subject_distance_falls_through_to_the_maker_note(tmp_path):
    shot = [68] + [0] * 33
    shot[19], shot[20] = 0xFFFF, 300
    exif = {**BASE, 0x9206: value(5, [(1, 1000)])}          # 1 mm < 50 mm focal length
    info = read_lens(photo(tmp_path, exif, "Canon", "Canon EOS 5D",
                           note=lambda pos: ifd({0x0004: value(3, shot)}, "<", pos)))
    assert info.focus_source == "Canon:ShotInfo"
    assert (info.focus_near_m, info.focus_far_m) == (3.0, math.inf)
    assert info.focus_m == pytest.approx(6.0)                # harmonic mean with infinity = 2 * near
    assert any("implausible focus distance" in w for w in info.warnings)
    assert info.to_json()["focus_far_m"] is None


def test_range_focus_is_the_harmonic_mean(tmp_path):
    shot = [68] + [0] * 33
    shot[19], shot[20] = 600, 200
    info = read_lens(photo(tmp_path, BASE, "Canon", "Canon EOS 5D",
                           note=lambda pos: ifd({0x0004: value(3, shot)}, "<", pos)))
    assert info.focus_m == pytest.approx(2 / (1 / 2 + 1 / 6))


def test_xmp_is_the_last_resort_and_far_distances_are_rejected(tmp_path):
    xmp = b'<x aux:ApproximateFocusDistance="81/100"/>'
    info = read_lens(photo(tmp_path, {**BASE, 0x9206: value(5, [(20_000_000, 1)])}, xmp=xmp))
    assert info.focus_m == pytest.approx(0.81)
    assert info.focus_source == "XMP:aux:ApproximateFocusDistance"


def test_focal_plane_resolution_gives_the_sensor(tmp_path):
    exif = {**BASE, 0xA002: value(4, [3000]), 0xA003: value(4, [2000]),
            0xA20E: value(5, [(1000, 1)]), 0xA20F: value(5, [(1000, 1)]), 0xA210: value(3, [4])}
    info = read_lens(photo(tmp_path, exif))                   # 3 mm x 2 mm sensor
    assert info.sensor_diagonal_mm == pytest.approx(math.hypot(3, 2), rel=1e-3)


def test_unknown_sensor_defaults_to_full_frame_with_warning(tmp_path):
    info = read_lens(photo(tmp_path, BASE))
    assert info.crop_factor == 1.0 and info.sources["crop_factor"] == "default"
    assert any("full frame" in w for w in info.warnings)


def test_broken_jpegs_give_warnings_not_exceptions(tmp_path):
    (tmp_path / "noise.jpg").write_bytes(b"\xff\xd8" + bytes(range(256)) * 8)
    good = jpeg(tiff("Canon", "Canon EOS 5D", BASE))
    (tmp_path / "cut.jpg").write_bytes(good[: len(good) // 2])
    for name in ("noise.jpg", "cut.jpg"):
        info = read_lens(tmp_path / name)
        assert info.warnings and info.focus_m is None


def test_unreadable_paths_and_non_images_raise_input_error(tmp_path):
    with pytest.raises(InputError, match="missing.jpg"):
        read_lens(tmp_path / "missing.jpg")
    with pytest.raises(InputError, match="directory"):
        read_lens(tmp_path)
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(InputError, match="empty.jpg: empty file"):
        read_lens(tmp_path / "empty.jpg")
    (tmp_path / "notes.jpg").write_text("not an image")
    with pytest.raises(InputError, match="notes.jpg: not an image"):
        read_lens(tmp_path / "notes.jpg")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_pipe_is_refused_without_waiting_for_a_writer(tmp_path):
    os.mkfifo(tmp_path / "pipe.jpg")
    with pytest.raises(InputError, match="pipe.jpg: not a regular file"):
        read_lens(tmp_path / "pipe.jpg")


def test_tiff_file_reports_its_pixel_size(tmp_path):
    path = tmp_path / "t.tif"
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(path)
    info = read_lens(path)
    assert (info.width, info.height) == (60, 40)


def test_cli_json_reports_good_files_and_fails_bad_ones(tmp_path):
    good = photo(tmp_path, {**BASE, 0xA405: value(3, [75])})
    result = CliRunner().invoke(app, ["info", "--json", str(good), str(tmp_path / "missing.jpg")])
    assert result.exit_code == 1
    objects = json.loads(result.stdout)
    assert len(objects) == 1 and objects[0]["crop_factor"] == 1.5
    assert "missing.jpg" in result.stderr


def test_cli_fails_non_images_and_goes_on(tmp_path):
    good = photo(tmp_path, BASE)
    (tmp_path / "notes.jpg").write_text("not an image")
    result = CliRunner().invoke(app, ["info", "--json", str(tmp_path / "notes.jpg"), str(good)])
    assert result.exit_code == 1 and len(json.loads(result.stdout)) == 1
    assert [line for line in result.stderr.splitlines() if line.strip()] == [
        f"error: {tmp_path / 'notes.jpg'}: not an image (unrecognised format: UnidentifiedImageError)"]


def test_cli_table_and_help(tmp_path):
    good = photo(tmp_path, {**BASE, 0xA405: value(3, [75])}, name="t.jpg")
    result = CliRunner().invoke(app, ["info", str(good)])
    assert result.exit_code == 0 and "t.jpg" in result.stdout and "50 mm" in result.stdout
    bare = tmp_path / "bare.jpg"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(bare)
    result = CliRunner().invoke(app, ["info", str(bare)])
    # Warnings are for people, on stderr; stdout holds the table only.
    assert "no EXIF metadata" in result.stderr and "no EXIF metadata" not in result.stdout
    help_text = CliRunner().invoke(app, ["info", "--help"]).stdout
    assert "Example" in help_text
