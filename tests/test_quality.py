"""The quality checks (bokehcli.quality): metric sanity, the label file, the Motorcycle maths, the
command line; slow: the labels on their photos and a whole run on two photos."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from bokehcli.lens import LensMetadata
from bokehcli.quality.__main__ import main
from bokehcli.quality.motorcycle import depth_quality, error_removed, true_depth_m
from bokehcli.lens.policy import focal_35mm
from bokehcli.quality.protocol import trivial_depth_m
from bokehcli.quality.real_photo import (CHECK_LABELS_PATH, LABELS_PATH, Label, PhotoScore, gradient_energy_map,
                                         label_problems, load_labels, materialise, point_in_polygon,
                                         polygon_centroid, polygon_mask, score_photo, summarize)
from bokehcli.quality.sheets import draw_label
from photos import textured_rgb

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "exif-corpus"
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"real-camera corpus not found at {CORPUS}")
# Photos whose scene has nothing behind the subject: scored on the subject only.
FLAT_SCENES = {"Nikon/Nikon D90.jpg"}

SQUARE = ((0.1, 0.1), (0.4, 0.1), (0.4, 0.9), (0.1, 0.9))
LABEL = Label(file="synthetic", note="", subject=SQUARE,
              backgrounds=(((0.55, 0.1), (0.9, 0.1), (0.9, 0.45), (0.55, 0.45)),
                           ((0.55, 0.55), (0.9, 0.55), (0.9, 0.9), (0.55, 0.9))))


def _textured(height=64, width=96) -> np.ndarray:
    return textured_rgb(height, width, seed=3).astype(np.float32) / 255.0


def _blurred(srgb: np.ndarray, size_px: int) -> np.ndarray:
    """A uniform strong blur: the mean over a size_px x size_px box (edges replicated)."""
    return np.stack([ndimage.uniform_filter(srgb[..., c], size_px, mode="nearest") for c in range(3)], axis=-1)


# --- metric ---------------------------------------------------------------------------------

def test_gradient_energy_of_a_plane_is_its_slope_squared():
    """Y' = a x + b y (grey, so luma equals each channel): |grad Y'|^2 = a^2 + b^2 inside."""
    a, b = 0.011, -0.004
    ys, xs = np.mgrid[0:30, 0:40]
    grey = 0.3 + a * xs + b * ys
    energy = gradient_energy_map(np.repeat(grey[..., None], 3, axis=2))
    assert np.allclose(energy[1:-1, 1:-1], a * a + b * b, rtol=1e-9)


def test_gradient_energy_uses_rec709_luma():
    """A pure green ramp's luma slope is 0.7152 times the ramp's; a red one 0.2126 times."""
    xs = np.tile(np.arange(20) * 0.01, (10, 1))
    for channel, weight in ((0, 0.2126), (1, 0.7152), (2, 0.0722)):
        srgb = np.zeros((10, 20, 3))
        srgb[..., channel] = xs
        assert gradient_energy_map(srgb)[5, 10] == pytest.approx((0.01 * weight) ** 2)


def test_polygon_mask_area_and_centroid():
    mask = polygon_mask(((0.25, 0.25), (0.75, 0.25), (0.75, 0.75), (0.25, 0.75)), 40, 40)
    assert abs(int(mask.sum()) - 400) <= 2 * 20 + 1   # 20x20 px, give or take the border row/column
    assert mask[20, 20] and not mask[5, 5]
    assert polygon_centroid(((0, 0), (0.6, 0), (0, 0.3))) == pytest.approx((0.2, 0.1))   # a triangle's: the vertex mean


def test_a_renderer_that_does_nothing_keeps_every_subject_and_melts_nothing():
    srgb = _textured()
    score = score_photo(LABEL, srgb, srgb.copy())
    assert score.subject_ratio == pytest.approx(1.0) and score.background_ratios == pytest.approx([1.0, 1.0])
    assert score.kept and score.melted == [False, False] and not score.both
    assert summarize([score] * 3).line() == "subject kept 3/3, backgrounds melted 0 % (0/6), both 0/3"


def test_a_uniform_strong_blur_melts_everything_and_keeps_nothing():
    srgb = _textured()
    score = score_photo(LABEL, srgb, _blurred(srgb, 9))
    assert score.subject_ratio < 0.5 and max(score.background_ratios) < 0.5
    assert not score.kept and score.melted == [True, True] and not score.both
    summary = summarize([score] * 2)
    assert (summary.kept, summary.melted, summary.backgrounds, summary.both) == (0, 4, 4, 0)


def test_subject_sharp_background_blurred_scores_both():
    """The render a photographer wants: blur only the background polygons' half of the frame."""
    srgb = _textured()
    out = srgb.copy()
    out[:, 48:] = _blurred(srgb, 9)[:, 48:]
    score = score_photo(LABEL, srgb, out)
    assert score.kept and score.melted == [True, True] and score.both


def test_verdict_thresholds_and_counts():
    scores = [PhotoScore("a", 0.70, [0.50, 0.51]), PhotoScore("b", 0.6999, [0.1]), PhotoScore("c", 0.9, [])]
    assert [s.kept for s in scores] == [True, False, True]
    assert [s.both for s in scores] == [False, False, True]     # c: no background to melt
    summary = summarize(scores)
    assert (summary.photos, summary.kept, summary.backgrounds, summary.melted, summary.both) == (3, 2, 3, 2, 1)
    assert summary.melted_percent == pytest.approx(200 / 3)


def test_foregrounds_are_scored_and_counted_apart_from_both():
    """A foreground polygon is melted as a background is (ratio <= 0.5); it is counted on its own
    and does not enter "both", which the issue defines on the subject and its backgrounds."""
    bottom = ((0.1, 0.8), (0.9, 0.8), (0.9, 0.95), (0.1, 0.95))
    label = replace(LABEL, subject=((0.1, 0.1), (0.4, 0.1), (0.4, 0.7), (0.1, 0.7)), foregrounds=(bottom,))
    srgb = _textured()
    out = srgb.copy()
    out[:, 48:] = _blurred(srgb, 9)[:, 48:]      # backgrounds melted, the foreground's left half sharp
    half = score_photo(label, srgb, out)
    assert half.both and len(half.foreground_ratios) == 1 and half.foregrounds_melted == [False]
    out[48:] = _blurred(srgb, 9)[48:]            # now the whole bottom band too
    melted = score_photo(label, srgb, out)
    assert melted.foregrounds_melted == [True] and melted.foreground_ratios[0] < half.foreground_ratios[0]
    summary = summarize([half, melted])
    assert (summary.foregrounds, summary.foregrounds_melted, summary.both) == (2, 1, 2)
    assert "foregrounds melted 1/2" in summary.line()
    assert "foregrounds" not in summarize([score_photo(LABEL, srgb, out)]).line()     # none labelled
    assert label_problems(replace(label, foregrounds=((bottom[0], bottom[1], (1.3, 0.9)),))) == [
        "foreground 1: a vertex outside [0, 1]"]


def test_score_refuses_a_render_of_another_size():
    with pytest.raises(ValueError, match="render is"):
        score_photo(LABEL, _textured(), _textured(64, 95))


# --- labels ---------------------------------------------------------------------------------

def test_label_problems_are_found():
    assert label_problems(LABEL) == []
    outside = Label("x", ((0.1, 0.1), (1.2, 0.1), (0.5, 0.5)), (), "")
    flat = Label("x", ((0.1, 0.1), (0.5, 0.5), (0.9, 0.9)), (), "")
    # a thin U: its centroid lies in the gap between the arms
    u_shape = Label("x", ((0.1, 0.1), (0.2, 0.1), (0.2, 0.8), (0.8, 0.8), (0.8, 0.1), (0.9, 0.1),
                          (0.9, 0.9), (0.1, 0.9)), (), "")
    assert any("outside [0, 1]" in p for p in label_problems(outside))
    assert any("too small" in p for p in label_problems(flat))
    assert any("centroid" in p for p in label_problems(u_shape))
    assert not point_in_polygon((0.5, 0.5), u_shape.subject) and point_in_polygon((0.5, 0.85), u_shape.subject)


def test_label_file_is_valid():
    labels = load_labels()   # raises on any problem
    files = [label.file for label in labels]
    assert len(files) == 24 and len(set(files)) == 24
    assert {"Canon/Canon EOS 7D.jpg", "Nikon/Nikon D90.jpg"} <= set(files)
    assert sum(label.from_skimage for label in labels) == 4
    for label in labels:
        assert label.note, label.file
        assert len(label.backgrounds) >= (0 if label.file in FLAT_SCENES else 1), label.file


def test_check_label_file_is_valid_and_apart_from_the_first():
    first = {label.file for label in load_labels()}
    check = load_labels(CHECK_LABELS_PATH)   # raises on any problem
    files = [label.file for label in check]
    assert len(files) == 9 and len(set(files)) == 9 and not first & set(files)
    for label in check:
        assert label.note and label.backgrounds and not label.from_skimage, label.file


def test_unreadable_label_file_is_one_clear_line(tmp_path, capsys):
    broken = tmp_path / "labels.json"
    for text in ('[{"file": "a.jpg"}]', "{", '[{"file": "a.jpg", "subject": [[0.1, 0.1], [2, 0.1], [0.5, 0.5]], '
                 '"background": []}]'):
        broken.write_text(text)
        assert main(["--labels", str(broken)]) == 2
        err = capsys.readouterr().err.strip()
        assert str(broken) in err and len(err.splitlines()) == 1, err
    assert main(["--labels", str(tmp_path / "none.json")]) == 2
    assert "none.json" in capsys.readouterr().err


def test_skimage_labels_name_bundled_photos(tmp_path):
    for label in load_labels():
        if label.from_skimage:
            path = materialise(label, CORPUS, tmp_path)
            assert path.suffix == ".jpg" and path.stat().st_size > 10_000


@needs_corpus
@pytest.mark.parametrize("labels_path", [LABELS_PATH, CHECK_LABELS_PATH], ids=["labels", "check"])
def test_corpus_labels_name_existing_photos(labels_path):
    for label in load_labels(labels_path):
        if not label.from_skimage:
            assert (CORPUS / label.file).is_file(), label.file


# --- protocol -------------------------------------------------------------------------------

def test_trivial_depth_in_focus_at_the_centre_three_times_as_far_in_the_corners():
    depth = trivial_depth_m(201, 101, 2.0)
    assert depth.shape == (101, 201)
    assert depth[50, 100] == pytest.approx(2.0) and depth.min() == pytest.approx(2.0)
    assert depth[0, 0] == pytest.approx(6.0, rel=0.01) and depth[-1, -1] == pytest.approx(6.0, rel=0.01)
    diagonal = [depth[50 + i // 2, 100 + i] for i in range(0, 100, 10)]
    assert all(b > a for a, b in zip(diagonal, diagonal[1:]))


def test_focal_35mm_precedence():
    assert focal_35mm(LensMetadata(path="p", focal_mm=24.0, focal_35mm=36.0, crop_factor=1.5)).value == 36.0
    unknown = focal_35mm(LensMetadata(path="p"))
    assert unknown.value == 50.0 and "unknown" in unknown.source


def test_focal_35mm_of_a_compact_without_sensor_size_is_unknown(tmp_path):
    """A 5.9 mm lens on an unknown sensor: the reader assumes full frame, the check must not
    render it as a 5.9 mm full-frame lens (which blurs nothing)."""
    from bokehcli.lens import read_lens
    from photos import make_exif, write_photo

    path = write_photo(tmp_path / "phone.jpg", textured_rgb(32, 48), make_exif(focal_mm=5.9))
    info = read_lens(path)
    assert info.sources.get("crop_factor") == "default"
    focal = focal_35mm(info)
    assert focal.value == 50.0 and "sensor size unknown" in focal.source
    with_35mm = write_photo(tmp_path / "phone35.jpg", textured_rgb(32, 48), make_exif(focal_mm=5.9, focal_35mm=28))
    assert focal_35mm(read_lens(with_35mm)).value == 28.0


# --- Motorcycle maths -----------------------------------------------------------------------

def test_true_depth_from_disparity():
    depth = true_depth_m(np.array([[60.0, np.nan, np.inf]]))
    assert depth[0, 0] == pytest.approx(994.978 * 193.001 / (60.0 + 31.086) / 1000.0)
    assert np.isnan(depth[0, 1]) and np.isnan(depth[0, 2])


def test_depth_quality_of_an_affine_inverse_depth_is_perfect():
    truth = np.random.default_rng(0).uniform(2.0, 5.0, (30, 40)).astype(np.float32)
    predicted = 1.0 / (0.5 / truth + 0.1)       # inverse depth off by scale and shift only
    quality = depth_quality(predicted, truth)
    assert quality["delta1"] == 1.0 and quality["abs_rel"] < 1e-5
    assert quality["scale"] == pytest.approx(2.0, rel=1e-4) and quality["shift_per_m"] == pytest.approx(-0.2, abs=1e-4)


def test_depth_quality_of_a_constant_depth():
    """Two planes at 2 and 4 m, a flat prediction: aligned to the mean inverse depth 0.375 / m
    (8/3 m), a factor 4/3 off the near plane and 3/2 off the far one: delta1 0, AbsRel 1/3."""
    truth = np.full((10, 10), 2.0, np.float32)
    truth[:, 5:] = 4.0
    truth[0, 0] = np.nan                          # unknown truth: left out
    quality = depth_quality(np.full((10, 10), 3.0, np.float32), truth)
    assert quality["pixels"] == 99
    assert quality["delta1"] == 0.0 and quality["abs_rel"] == pytest.approx(1 / 3, rel=0.02)


def test_error_removed():
    rng = np.random.default_rng(1)
    source, reference = rng.random((8, 8, 3)), rng.random((8, 8, 3))
    assert error_removed(source, reference, reference) == 1.0
    assert error_removed(source, source, reference) == 0.0
    assert error_removed(source, 0.5 * source + 0.5 * reference, reference) == pytest.approx(0.5)


# --- command line ---------------------------------------------------------------------------

def test_unknown_label_is_a_usage_error(capsys):
    assert main(["--only", "Nikon/nope.jpg"]) == 2
    err = capsys.readouterr().err
    assert "no label for 'Nikon/nope.jpg'" in err and len(err.strip().splitlines()) == 1


def test_unknown_variant_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--variants", "default,sharp"])
    assert exc.value.code == 2 and "unknown sharp" in capsys.readouterr().err


def test_missing_corpus_is_one_clear_line(tmp_path, capsys):
    assert main(["--only", "Canon/Canon EOS 7D.jpg", "--corpus", str(tmp_path / "none")]) == 1
    err = capsys.readouterr().err.strip()
    assert "camera corpus not found" in err and len(err.splitlines()) == 1


# --- slow: the labels on their photos, a whole run -------------------------------------------

@pytest.mark.slow
def test_labelled_regions_carry_texture(tmp_path):
    """On every labelled photo at hand: its own input keeps everything; a uniform blur over 2 % of
    the diagonal melts every labelled region (so each one has detail a render can take away, not
    only smooth shading, whose gradient a blur keeps)."""
    from bokehcli.imageio import load_photo

    for label in load_labels() + load_labels(CHECK_LABELS_PATH):
        if not (label.from_skimage or CORPUS.is_dir()):
            continue
        srgb = load_photo(materialise(label, CORPUS, tmp_path)).srgb
        unchanged = score_photo(label, srgb, srgb)
        assert unchanged.kept and not any(unchanged.melted) and not any(unchanged.foregrounds_melted)
        blurred = score_photo(label, srgb, _blurred(srgb, int(0.02 * math.hypot(*srgb.shape[:2]))))
        assert not blurred.kept and all(blurred.melted), (label.file, blurred.subject_ratio, blurred.background_ratios)
        assert all(blurred.foregrounds_melted), (label.file, blurred.foreground_ratios)


@pytest.mark.slow
def test_whole_check_on_two_photos(tmp_path, capsys):
    from bokehcli.imageio import load_photo

    out, renders = tmp_path / "quality.json", tmp_path / "renders"
    assert main(["--only", "skimage:coffee", "skimage:camera", "--json", str(out), "--keep", str(renders)]) == 0
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())
    assert set(report["variants"]) == {"default", "model", "focus-at", "trivial"}  # all, by default
    for variant, body in report["variants"].items():
        photos = body["photos"]
        assert [p["file"] for p in photos] == ["skimage:coffee", "skimage:camera"]
        assert body["summary"]["subject_kept"] == sum(p["kept"] for p in photos)
        assert body["summary"]["both"] == sum(p["both"] for p in photos)
        assert all(p["focal_35mm"] == 50.0 and "unknown" in p["focal_source"] for p in photos)
        assert f"== variant {variant}" in printed
    assert all(p["focus_source"] == "focus-at" for p in report["variants"]["focus-at"]["photos"])
    motorcycle = report["motorcycle"]
    assert motorcycle["focal_35mm"] == 85.0 and 2.0 < motorcycle["focus_m"] < 3.0
    for scores in motorcycle["variants"].values():
        assert -1.0 < scores["error_removed"] <= 1.0 and 0.0 <= scores["delta1"] <= 1.0
    assert "== Motorcycle" in printed and "subject kept" in printed
    # The render with the measured depth is what the check asks for: under the Motorcycle's own
    # label it keeps the bike and melts the shelves.
    label = next(label for label in load_labels() if label.file == "skimage:stereo_motorcycle")
    truth_render = score_photo(label, load_photo(renders / "motorcycle" / "inputs" / "motorcycle.jpg").srgb,
                               load_photo(renders / "motorcycle" / "truth" / "motorcycle_bokeh_f1.8.jpg").srgb)
    assert truth_render.both, (truth_render.subject_ratio, truth_render.background_ratios)


def test_label_sheet_draws_the_polygons():
    srgb = np.full((300, 400, 3), 0.5, np.float32)
    image = np.asarray(draw_label(LABEL, srgb))
    assert image.shape == (300, 400, 3)
    green = (image[..., 0] == 0) & (image[..., 1] == 255) & (image[..., 2] == 0)
    magenta = (image[..., 0] == 255) & (image[..., 1] == 0) & (image[..., 2] == 255)
    assert green[30:270, 38:42].any() and not green[:, 250:].any()     # the subject's left edge, x = 0.1
    assert magenta[:, 218:222].any() and not magenta[:, :200].any()    # the backgrounds' left edges, x = 0.55
