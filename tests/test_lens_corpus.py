"""Issue 3 acceptance on the real-camera corpus (../shared/exif-corpus, ExifTool 12.57 truth).

truth.csv lists every focus value ExifTool reports per file with its tag. A reading matches
when it is within 3 % or 1.5 cm of one of them, inside a near/far bracket ExifTool reports
(Canon upper/lower, Apple range), or when both are infinite. ExifTool prints raw sentinels
as distances, so its values beyond 10 km count as infinite; a raw value that is no sentinel
(Olympus 0xFFFFFFF6 mm) we reject instead. A lower bound of 0 (Canon compacts) is "not
recorded", not a distance. The few files where ExifTool is wrong are listed with the reason.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from bokehcli.lens import read_lens
from bokehcli.lens.exif import read_exif
from bokehcli.lens.container import read_blocks
from bokehcli.lens.makernotes import read_maker_note
from bokehcli.lens.resolve import maker_note

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "exif-corpus"
pytestmark = pytest.mark.skipif(not (CORPUS / "truth.csv").is_file(),
                                reason=f"real-camera corpus not found at {CORPUS}")
FAR_M = 10_000.0
_BRACKET_TAGS = ("Canon:FocusDistanceUpper", "Canon:FocusDistanceLower", "Apple:FocusDistanceRange")
# Where ExifTool's scale factor is wrong and ours is right (checked against the sensor size).
CROP_TRUTH_WRONG = {
    "Sanyo/Sanyo.jpg": "ExifTool 481: a garbage focal-plane resolution; we warn and assume full frame",
    "Canon/Canon IXUS v2.jpg": "ExifTool 16.5; the camera's 1/2.7\" sensor gives 6.6",
    "Canon/Canon PowerShot A720 IS.jpg": "ExifTool 9.65; the camera's 1/2.5\" sensor gives 6.0",
}
# Where we deliberately report no focus although ExifTool prints a value.
FOCUS_TRUTH_WRONG = {
    "Olympus/corrupted.jpg": "raw 0xFFFFFFF6 mm (4,295 km): beyond the 10 km bound, rejected with a warning",
}
# Canon compacts of 2001-2002 record their ShotInfo focus distance in mm; ExifTool reads cm for
# every model. We report a tenth of its value (bokehcli/lens/makernotes/canon.py); these files
# have no EXIF SubjectDistance that would be preferred.
CANON_MILLIMETRES = {
    "Canon/Canon PowerShot G2 (3).jpg": "a boy with his bike filling a 102 mm (equiv.) frame: 3.9 m, not 39 m",
    "Canon/Canon PowerShot G2 (1).jpg": "the same 74.16 as G2 (2), whose EXIF SubjectDistance says 7.416 m",
    "Canon/Canon PowerShot S40 (2).jpg": "a night shot; the model is shown in mm by smiley2.jpg",
    "Canon/exiv2-bug445.jpg": "leaves close up: 0.78 m, not 7.8 m",
    "Canon/Canon IXUS v2.jpg": "a face filling the frame: 1.14 m (0.97 m by its size), not 11.4 m",
    "Canon/Canon PowerShot A40.jpg": "a toddler whose head spans a quarter of a 44 mm (equiv.) frame: "
                                     "0.55 m, not 5.5 m",
}


def _truth() -> list[dict]:
    with open(CORPUS / "truth.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _float(text: str) -> float | None:
    return float(text) if text else None


def _focus_truth(row: dict) -> tuple[list[float], tuple[float, float] | None]:
    """ExifTool's focus values in metres (inf allowed, zeros dropped) and its bracket, if any."""
    values = [float(v) for v in row["focus_values_m"].split(";") if v] if row["focus_values_m"] else []
    tags = row["focus_sources"].split(";") if row["focus_sources"] else []
    values = [math.inf if v > FAR_M else v for v in values]
    in_bracket = [v for v, t in zip(values, tags) if t in _BRACKET_TAGS and v > 0]
    bracket = (min(in_bracket), max(in_bracket)) if len(in_bracket) == 2 else None
    return [v for v in values if v > 0], bracket


def focus_matches(info, values: list[float], bracket) -> bool:
    if info.focus_infinite:
        return math.inf in values
    if info.focus_m is None:
        return False
    if any(math.isfinite(v) and abs(info.focus_m - v) <= max(0.03 * v, 0.015) for v in values):
        return True
    return bracket is not None and bracket[0] <= info.focus_m <= bracket[1]


def _close(a: float | None, b: float) -> bool:
    return a is not None and abs(a - b) <= 1e-6 * max(abs(b), 1.0)


@pytest.fixture(scope="module")
def readings():
    return [(row, read_lens(CORPUS / row["file"])) for row in _truth()]


def test_focal_length_and_f_number_equal_exiftool(readings):
    wrong = [(r["file"], key, r[key], getattr(i, key)) for r, i in readings
             for key in ("focal_mm", "f_number") if r[key] and not _close(getattr(i, key), float(r[key]))]
    assert wrong == []


def test_crop_factor_within_5_percent_except_where_exiftool_is_wrong(readings):
    rows = [(r, i) for r, i in readings if r["scale35"]]
    off = {r["file"] for r, i in rows
           if i.crop_factor is None or abs(i.crop_factor / float(r["scale35"]) - 1) > 0.05}
    assert len(rows) >= 100
    assert off == set(CROP_TRUTH_WRONG)


def test_rescaled_canon_focal_plane_resolution_still_gives_the_sensor(readings):
    """An editor rescaled S40 (2)'s numerators; the denominators still say 0.280" x 0.210"."""
    crop = {r["file"]: i.crop_factor for r, i in readings}
    assert crop["Canon/Canon PowerShot S40 (2).jpg"] == pytest.approx(crop["Canon/Canon PowerShot S40 (1).jpg"])
    assert crop["Canon/Canon PowerShot S40 (2).jpg"] == pytest.approx(43.27 / 8.89, rel=0.01)


def test_focus_distance_matches_exiftool(readings):
    with_focus = [(r, i, *_focus_truth(r)) for r, i in readings if r["focus_values_m"]]
    with_focus = [(r, i, [v / 10 for v in values] if r["file"] in CANON_MILLIMETRES else values, bracket)
                  for r, i, values, bracket in with_focus]
    matched = [r["file"] for r, i, values, bracket in with_focus if focus_matches(i, values, bracket)]
    missed = {r["file"] for r, *_ in with_focus} - set(matched)
    assert len(with_focus) >= 90
    assert missed == set(FOCUS_TRUTH_WRONG)


def test_canon_compacts_read_in_millimetres_agree_with_their_exif_subject_distance():
    """Every corpus file with both EXIF SubjectDistance and a Canon ShotInfo distance: the maker
    note alone, read by our decoder, gives the EXIF distance (ExifTool's reading is 10x that)."""
    both = [r for r in _truth() if "EXIF:SubjectDistance" in r["focus_sources"]
            and "Canon:FocusDistanceUpper" in r["focus_sources"]]
    assert len(both) >= 5
    for row in both:
        exif_m, exiftool_canon_m = (float(v) for v in row["focus_values_m"].split(";")[:2])
        assert exiftool_canon_m == pytest.approx(10 * exif_m)
        reading = _maker_note_reading(CORPUS / row["file"])
        assert reading.distances_m == (pytest.approx(exif_m, rel=1e-3),)


def _maker_note_reading(path: Path):
    return read_maker_note(maker_note(read_exif(read_blocks(path).tiff)))


def test_no_focus_claimed_where_exiftool_has_none(readings):
    claims = [r["file"] for r, i in readings
              if not r["focus_values_m"] and (i.focus_m is not None or i.focus_infinite)]
    print(f"false focus claims: {claims}")
    assert len(claims) <= 3


def test_every_json_object_has_exactly_the_spec_keys(readings):
    keys = {"path", "make", "model", "lens_make", "lens_model", "lens_spec", "width", "height", "orientation", "focal_mm", "focal_35mm",
            "crop_factor", "sensor_diagonal_mm", "f_number", "focus_m", "focus_near_m", "focus_far_m",
            "focus_infinite", "focus_source", "focus_points", "focus_area", "focus_point_source", "faces",
            "faces_source", "warnings",
            "embedded_depth"}       # what depth map the file carries, filled in by `bokeh info`
    for _, info in readings:
        obj = info.to_json()
        assert set(obj) == keys
        assert obj["focus_m"] is None or not obj["focus_infinite"]
