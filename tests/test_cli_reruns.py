"""`bokeh render` reruns and flags: --save-depth on a photo already rendered, and warnings about
lens values that a flag overrides."""

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from bokehcli.cli.app import app
from photos import make_exif, textured_rgb, two_plane_depth, write_depth_png, write_photo

H, W = 64, 96


def render(*args):
    result = CliRunner().invoke(app, ["render", *map(str, args), "--json"])
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def scene(tmp_path):
    photo = write_photo(tmp_path / "scene.jpg", textured_rgb(H, W), make_exif(focal_mm=50, focus_m=2.0))
    depth = write_depth_png(tmp_path / "given.png", two_plane_depth(H, W, 2.0, 8.0))
    return photo, depth


def test_save_depth_on_a_rerun_writes_the_missing_maps_and_leaves_the_photo(scene, tmp_path):
    photo, depth = scene
    out_dir, reference_dir = tmp_path / "out", tmp_path / "reference"
    assert render(photo, "--f", "2", "--depth", depth, "--out", out_dir).exit_code == 0
    rendered = out_dir / "scene_bokeh_f2.jpg"
    before = rendered.read_bytes(), rendered.stat().st_mtime_ns
    maps = [out_dir / name for name in ("scene_depth.npy", "scene_depth.png", "scene_depth_preview.jpg")]
    assert not any(p.exists() for p in maps)

    rerun = render(photo, "--f", "2", "--depth", depth, "--out", out_dir, "--save-depth")
    assert rerun.exit_code == 0, rerun.output
    record = json.loads(rerun.stdout)[0]
    assert record["status"] == "skipped" and sorted(record["depth_outputs"]) == sorted(map(str, maps))
    assert (rendered.read_bytes(), rendered.stat().st_mtime_ns) == before  # the photo is not rendered again
    # the maps are the ones a first run with --save-depth writes
    fresh = render(photo, "--f", "2", "--depth", depth, "--out", reference_dir, "--save-depth")
    assert json.loads(fresh.stdout)[0]["status"] == "rendered"
    for written in maps:
        expected = reference_dir / written.name
        if written.suffix == ".npy":
            np.testing.assert_array_equal(np.load(written), np.load(expected))
        else:
            np.testing.assert_array_equal(np.asarray(Image.open(written)), np.asarray(Image.open(expected)))

    # a third run has nothing left to write: skipped, silent
    again = render(photo, "--f", "2", "--depth", depth, "--out", out_dir, "--save-depth")
    record = json.loads(again.stdout)[0]
    assert record["status"] == "skipped" and record["depth_outputs"] == []
    assert again.stderr.splitlines() == [f"[1/1] {photo}: skipped, {out_dir / 'scene_bokeh_f2.jpg'} exists"]


def test_a_missing_map_alone_is_written_on_a_rerun(scene, tmp_path):
    photo, depth = scene
    out_dir = tmp_path / "out"
    assert render(photo, "--f", "2", "--depth", depth, "--out", out_dir, "--save-depth").exit_code == 0
    (out_dir / "scene_depth.png").unlink()
    kept = (out_dir / "scene_depth.npy").stat().st_mtime_ns
    record = json.loads(render(photo, "--f", "2", "--depth", depth, "--out", out_dir, "--save-depth").stdout)[0]
    assert record["depth_outputs"] == [str(out_dir / "scene_depth.png")]
    assert (out_dir / "scene_depth.png").is_file() and (out_dir / "scene_depth.npy").stat().st_mtime_ns == kept


def warnings_of(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)[0]["warnings"]


def test_a_flag_silences_the_files_warnings_about_the_value_it_sets(tmp_path):
    # The camera's focus distance is impossible (nearer than the focal length) and its AF point
    # lies outside the frame: both are refused with a warning, unless a flag sets that value.
    exif = make_exif(focal_mm=50, focus_m=0.01, subject_xy=(5000, 5000))
    photo = write_photo(tmp_path / "odd.jpg", textured_rgb(H, W), exif)
    depth = write_depth_png(tmp_path / "d.png", two_plane_depth(H, W, 2.0, 8.0))
    common = (photo, "--f", "2", "--depth", depth, "--out", tmp_path / "o", "--overwrite")

    def about(warnings):
        return ("focus distance" if any("implausible focus distance" in w for w in warnings) else "",
                "focus point" if any("focus point outside the frame" in w for w in warnings) else "")

    assert about(warnings_of(render(*common))) == ("focus distance", "focus point")
    assert about(warnings_of(render(*common, "--focus-distance", "3"))) == ("", "focus point")
    assert about(warnings_of(render(*common, "--focus-at", "10,10"))) == ("focus distance", "")
    both = warnings_of(render(*common, "--focus-distance", "3", "--focus-at", "10,10"))
    assert about(both) == ("", "")
