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
from bokehcli.lens.resolve import _plausible
from lens_builder import ifd, jpeg, tiff, value


def photo(tmp_path, exif: dict, make="Maker", model="Cam", note=None, xmp=None, name="p.jpg"):
    path = tmp_path / name
    path.write_bytes(jpeg(tiff(make, model, exif, note=note), xmp=xmp))
    return path


BASE = {0x920A: value(5, [(50, 1)]), 0x829D: value(5, [(28, 10)])}


def test_standard_tags_and_35mm_crop(tmp_path):
    info = read_lens(photo(tmp_path, {**BASE, 0xA405: value(3, [75])}))
    assert (info.focal_mm, info.f_number, info.crop_factor) == (50.0, 2.8, 1.5)
    assert info.sensor_diag_mm == pytest.approx(43.27 / 1.5)
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


@pytest.mark.parametrize("focal", [(0xFFFFFFFF, 1), (50_000, 1), (1, 100_000)])
def test_garbage_focal_length_is_dropped_and_keeps_the_focus_distance(tmp_path, focal):
    exif = {0x920A: value(5, [focal]), 0x9206: value(5, [(3, 1)])}
    info = read_lens(photo(tmp_path, exif))
    assert info.focal_mm is None and "focal_mm" not in info.sources
    assert any("implausible focal length" in w for w in info.warnings)
    assert info.focus_m == 3.0 and not any("focus distance" in w for w in info.warnings)


@pytest.mark.parametrize("orientation, expected", [(6, 6), (8, 8), (1, 1), (36865, None)])
def test_orientation_is_read_and_nonsense_is_unknown(tmp_path, orientation, expected):
    exif = Image.Exif()
    exif[0x0112] = orientation                                # IFD0, as cameras write it
    Image.new("RGB", (32, 24)).save(tmp_path / "o.jpg", exif=exif)
    assert read_lens(tmp_path / "o.jpg").orientation == expected


def test_far_bound_beyond_10_km_is_infinity_not_a_rejection():
    """Apple writes ranges like 0.5 .. 2e4 m: the far end means infinity (corpus Issue 508)."""
    warnings: list[str] = []
    assert _plausible((0.5, 20_000.0), 0.004, "Apple:FocusDistanceRange", warnings) == (0.5, math.inf)
    assert warnings == ["far focus bound 2e+04 m (Apple:FocusDistanceRange) read as infinity"]
    assert _plausible((20_000.0,), 0.004, "EXIF:SubjectDistance", warnings) is None    # a lone distance is garbage


def test_maker_note_caveats_are_reported_only_when_its_distance_is_used(tmp_path):
    shot = [68] + [0] * 33
    shot[19] = 250
    note = lambda pos: ifd({0x0004: value(3, shot)}, "<", pos)   # noqa: E731
    used = read_lens(photo(tmp_path, BASE, "Canon", "Canon PowerShot G2", note=note))
    assert used.focus_source == "Canon:ShotInfo" and used.focus_m == 2.5
    assert any("uncertain scale" in w for w in used.warnings)
    unused = read_lens(photo(tmp_path, {**BASE, 0x9206: value(5, [(2500, 1000)])}, "Canon", "Canon PowerShot G2",
                             note=note, name="q.jpg"))
    assert unused.focus_source == "EXIF:SubjectDistance"
    assert not any("uncertain scale" in w for w in unused.warnings)


def test_first_canon_compacts_record_millimetres_by_their_model_id(tmp_path):
    shot = [68] + [0] * 33
    shot[19] = 3943
    for model_id, metres, warned in ((0x1100000, 3.943, False), (0x1240000, 39.43, True)):  # G2; S230: cm
        note = lambda pos: ifd({0x0004: value(3, shot), 0x0010: value(4, [model_id])}, "<", pos)  # noqa: E731
        info = read_lens(photo(tmp_path, BASE, "Canon", "Canon PowerShot", note=note, name=f"{model_id}.jpg"))
        assert info.focus_source == "Canon:ShotInfo" and info.to_json()["focus_m"] == metres   # as recorded
        assert any("uncertain scale" in w for w in info.warnings) == warned


def test_xmp_is_the_last_resort_and_far_distances_are_rejected(tmp_path):
    xmp = b'<x aux:ApproximateFocusDistance="81/100"/>'
    info = read_lens(photo(tmp_path, {**BASE, 0x9206: value(5, [(20_000_000, 1)])}, xmp=xmp))
    assert info.focus_m == pytest.approx(0.81)
    assert info.focus_source == "XMP:aux:ApproximateFocusDistance"


def test_focal_plane_resolution_gives_the_sensor(tmp_path):
    exif = {**BASE, 0xA002: value(4, [3000]), 0xA003: value(4, [2000]),
            0xA20E: value(5, [(1000, 1)]), 0xA20F: value(5, [(1000, 1)]), 0xA210: value(3, [4])}
    info = read_lens(photo(tmp_path, exif))                   # 3 mm x 2 mm sensor
    assert info.sensor_diag_mm == pytest.approx(math.hypot(3, 2), rel=1e-3)


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
        f"error: {tmp_path / 'notes.jpg'}: not an image (or a format bokeh cannot read)"]


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


def test_a_render_keeps_the_focus_its_source_had_only_in_the_maker_note(tmp_path):
    """The maker note is not copied (a rewrite breaks its offsets): its focus comes back as
    SubjectDistance, and the sensor size Canon encodes in the focal-plane denominators (which
    Pillow reduces: 3072000/892 becomes 768000/223) as FocalLengthIn35mmFilm, so `bokeh info`
    on the output reads what it read on the photo."""
    shot = [68] + [0] * 33
    shot[19], shot[20] = 600, 200                              # Canon EOS: 2 .. 6 m
    plane = {0xA20E: value(5, [(3072000, 892)]), 0xA20F: value(5, [(2048000, 595)]), 0xA210: value(3, [2])}
    block = tiff("Canon", "Canon EOS 5D", {**BASE, **plane},
                 note=lambda pos: ifd({0x0004: value(3, shot)}, "<", pos))
    rng = np.random.default_rng(0)
    source = tmp_path / "canon.jpg"
    Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(source, exif=b"Exif\0\0" + block)
    before = read_lens(source)
    assert before.focus_source == "Canon:ShotInfo" and before.focus_m == pytest.approx(3.0)
    np.save(tmp_path / "depth.npy", np.full((48, 64), 3.0, np.float32))
    result = CliRunner().invoke(app, ["render", str(source), "--f", "2", "--depth", str(tmp_path / "depth.npy"),
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    after = read_lens(tmp_path / "out" / "canon_bokeh_f2.jpg")
    assert after.focus_source == "EXIF:SubjectDistance" and after.focus_m == pytest.approx(3.0, rel=1e-4)
    assert (after.make, after.focal_mm, after.f_number) == ("Canon", 50.0, 2.0)
    assert before.crop_factor == pytest.approx(1.589, abs=1e-3)
    assert after.crop_factor == pytest.approx(before.crop_factor, rel=0.01)     # 79 mm / 50 mm
    with Image.open(tmp_path / "out" / "canon_bokeh_f2.jpg") as im:
        assert 0x927C not in im.getexif().get_ifd(0x8769)
