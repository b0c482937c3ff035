"""Flag > file > default for the lens values a render uses (docs/lens-metadata.md#precedence)."""

import math

import pytest

from bokehcli.lens import LensMetadata
from bokehcli.lens.policy import camera_focus_m, focal_and_sensor

PHONE = LensMetadata(path="p.jpg", focal_mm=6.0, focal_35mm=26.0, crop_factor=26 / 6, sensor_diag_mm=43.27 * 6 / 26,
                     sources={"focal_mm": "EXIF:FocalLength", "crop_factor": "EXIF:FocalLengthIn35mmFilm",
                              "focal_35mm": "EXIF:FocalLengthIn35mmFilm"})


def test_flags_win_over_the_file_and_the_file_over_defaults():
    focal, sensor, warnings = focal_and_sensor(PHONE)
    assert (focal.value, focal.source) == (6.0, "EXIF:FocalLength") and sensor.value == pytest.approx(9.985, abs=1e-3)
    assert warnings == []
    focal, sensor, _ = focal_and_sensor(PHONE, focal_mm=35.0, crop_factor=2.0)
    assert (focal.value, focal.source, sensor.source) == (35.0, "flag", "flag")
    assert sensor.value == pytest.approx(43.27 / 2)
    focal, sensor, warnings = focal_and_sensor(LensMetadata(path="x.png"))
    assert (focal.value, focal.source, sensor.value, sensor.source) == (50.0, "default", 43.27, "default")
    assert len(warnings) == 2


def test_equivalent_is_the_full_frame_field_of_view():
    focal, sensor, _ = focal_and_sensor(PHONE, equivalent=True)
    assert focal.value == 26.0 and sensor.value == 43.27 and "35 mm equivalent" in focal.source
    # without a stated 35 mm focal length: focal length x crop factor (6 mm on a 2x sensor -> 12 mm)
    focal, _, _ = focal_and_sensor(PHONE, sensor_diag_mm=43.27 / 2, equivalent=True)
    assert focal.value == pytest.approx(12.0)


def test_equivalent_of_an_unknown_sensor_is_a_normal_lens():
    """A phone whose EXIF states neither a 35 mm focal length nor a sensor size (the corpus's iPhone
    4: 3.85 mm): times the unknown crop factor it would stay a 3.85 mm lens on full frame, which
    blurs nothing; --equivalent takes the field of view of a 50 mm lens, and says so."""
    phone = LensMetadata(path="p.jpg", focal_mm=3.85, crop_factor=1.0, sensor_diag_mm=43.27,
                         sources={"focal_mm": "EXIF:FocalLength", "crop_factor": "default"})
    focal, sensor, warnings = focal_and_sensor(phone, equivalent=True)
    assert (focal.value, sensor.value) == (50.0, 43.27) and "sensor size unknown" in focal.source
    assert len(warnings) == 1 and "3.85 mm lens" in warnings[0] and "--focal-length" in warnings[0]
    # a sensor flag makes it known again: focal length x crop factor
    focal, _, _ = focal_and_sensor(phone, crop_factor=7.6, equivalent=True)
    assert focal.value == pytest.approx(3.85 * 7.6)
    # without --equivalent nothing changes
    focal, _, _ = focal_and_sensor(phone)
    assert focal.value == 3.85


def test_camera_focus():
    assert camera_focus_m(LensMetadata(path="a", focus_m=2.5)) == 2.5
    assert camera_focus_m(LensMetadata(path="a", focus_infinite=True)) == math.inf
    assert camera_focus_m(LensMetadata(path="a")) is None
