"""`bokeh render` end to end on generated photos with EXIF and depth maps."""

import json
import math
import os

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from bokehcli.cli.app import app
from photos import make_exif, textured_rgb, two_plane_depth, write_depth_png, write_photo

H, W = 96, 144


def run(*args):
    result = CliRunner().invoke(app, ["render", *map(str, args)])
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def scene(tmp_path):
    rgb = textured_rgb(H, W)
    photo = write_photo(tmp_path / "scene.jpg", rgb, make_exif(focal_mm=50, focus_m=2.0, focal_35mm=50))
    depth = write_depth_png(tmp_path / "scene_depth.png", two_plane_depth(H, W, 2.0, 8.0))
    return photo, depth, rgb


def test_render_writes_named_output_with_metadata(scene, tmp_path):
    photo, depth, rgb = scene
    out_dir = tmp_path / "out"
    result = run(photo, "--f", "1.8", "--depth", depth, "--out", out_dir, "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)[0]
    output = out_dir / "scene_bokeh_f1.8.jpg"
    assert record["output"] == str(output) and output.is_file()
    assert record["focal_mm"] == 50 and record["focus_m"] == pytest.approx(2.0)
    assert record["focus_source"].startswith("EXIF")
    assert record["max_blur_px"] > 1
    with Image.open(output) as im:
        assert im.size == (W, H)
        exif = im.getexif()
        assert exif[0x0112] == 1
        assert float(exif.get_ifd(0x8769)[0x829D]) == pytest.approx(1.8)
        assert "bokeh" in exif[0x010E] and "f/1.8" in exif[0x010E]
        out = np.asarray(im, dtype=np.float64)
    with Image.open(photo) as im:
        rgb = np.asarray(im, dtype=np.float64)  # what the renderer saw (after JPEG coding)
    # The near half is at the focus distance and stays sharp; the far half is blurred.
    near_err = np.abs(out[8:-8, 8:W // 2 - 12] - rgb[8:-8, 8:W // 2 - 12]).mean()
    far_err = np.abs(out[8:-8, W // 2 + 12:-8] - rgb[8:-8, W // 2 + 12:-8]).mean()
    assert near_err < 2.0 and far_err > 5.0


def test_flags_override_exif_and_focus_at(scene, tmp_path):
    photo, depth, _ = scene
    result = run(photo, "--f", "4", "--depth", depth, "--out", tmp_path, "--focal-length", "85",
                 "--focus-at", f"{W - 5},5", "--crop-factor", "1.5", "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)[0]
    assert record["focal_mm"] == 85 and record["focal_source"] == "flag"
    assert record["focus_m"] == pytest.approx(8.0) and record["focus_source"] == "focus-at"
    assert record["sensor_diagonal_mm"] == pytest.approx(43.27 / 1.5)
    result = run(photo, "--f", "4", "--depth", depth, "--out", tmp_path, "--focus-distance", "inf",
                 "--overwrite", "--json")
    record = json.loads(result.stdout)[0]
    assert record["focus_infinite"] and record["focus_m"] is None


def test_existing_output_skipped_unless_overwrite(scene, tmp_path):
    photo, depth, _ = scene
    assert run(photo, "--f", "2.8", "--depth", depth).exit_code == 0
    output = tmp_path / "scene_bokeh_f2.8.jpg"  # --out defaults to the input's folder
    stamp = output.stat().st_mtime_ns
    second = run(photo, "--f", "2.8", "--depth", depth, "--json")
    assert json.loads(second.stdout)[0]["status"] == "skipped" and output.stat().st_mtime_ns == stamp
    third = run(photo, "--f", "2.8", "--depth", depth, "--overwrite", "--json")
    assert json.loads(third.stdout)[0]["status"] == "rendered"


def test_depth_folder_and_template(scene, tmp_path):
    photo, depth, _ = scene
    folder = tmp_path / "maps"
    folder.mkdir()
    np.save(folder / "scene.npy", two_plane_depth(H, W, 2.0, 8.0))
    assert run(photo, "--f", "2", "--depth", folder, "--out", tmp_path / "a").exit_code == 0
    assert run(photo, "--f", "2", "--depth", str(tmp_path / "{stem}_depth.png"),
               "--out", tmp_path / "b").exit_code == 0
    assert (tmp_path / "a" / "scene_bokeh_f2.jpg").is_file() and (tmp_path / "b" / "scene_bokeh_f2.jpg").is_file()


def test_orientation_applied_and_output_upright(tmp_path):
    upright = textured_rgb(H, W, seed=3)
    stored = np.rot90(upright, k=1)  # EXIF orientation 6: rotate 90 deg clockwise to display
    photo = write_photo(tmp_path / "rot.jpg", np.ascontiguousarray(stored), make_exif(orientation=6, focus_m=3.0))
    depth = write_depth_png(tmp_path / "rot_depth.png", np.full((H, W), 3.0, np.float32))
    result = run(photo, "--f", "2", "--depth", depth, "--out", tmp_path / "o", "--format", "png")
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "o" / "rot_bokeh_f2.png") as im:
        assert im.size == (W, H) and im.getexif().get(0x0112) == 1
        out = np.asarray(im, dtype=np.float64)
    with Image.open(photo) as im:
        decoded = np.rot90(np.asarray(im, dtype=np.float64), k=-1)  # displayed = stored turned clockwise
    assert np.abs(out - decoded).mean() < 1.0  # all in focus: the upright picture comes back
    assert np.abs(out - np.rot90(decoded, 2)).mean() > 20


def test_save_depth_and_formats(scene, tmp_path):
    photo, depth, _ = scene
    result = run(photo, "--f", "2", "--depth", depth, "--out", tmp_path / "d", "--save-depth", "--format", "tiff")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "d" / "scene_bokeh_f2.tif").is_file()
    saved = np.load(tmp_path / "d" / "scene_depth.npy")
    assert saved.shape == (H, W) and saved.dtype == np.float32
    assert np.allclose(saved, two_plane_depth(H, W, 2.0, 8.0))
    with Image.open(tmp_path / "d" / "scene_depth.png") as im:
        assert np.asarray(im).max() == 8000


def test_bad_inputs_named_and_batch_continues(scene, tmp_path):
    photo, depth, _ = scene
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("not an image")
    result = run(tmp_path / "empty.jpg", photo, tmp_path / "missing.jpg", tmp_path / "text.jpg",
                 "--f", "2", "--depth", str(tmp_path / "{stem}_depth.png"), "--out", tmp_path / "o")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 3
    assert any("empty.jpg" in e for e in errors) and any("missing.jpg" in e for e in errors)
    assert (tmp_path / "o" / "scene_bokeh_f2.jpg").is_file()
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["scene_bokeh_f2.jpg"]


def test_usage_errors_exit_2(scene):
    photo, depth, _ = scene
    assert run(photo, "--f", "abc", "--depth", depth).exit_code == 2
    assert run(photo, "--f", "2", "--depth", depth, "--blades", "2").exit_code == 2
    assert run(photo, "--depth", depth).exit_code == 2  # --f is required
    result = run(photo, "--f", "2", "--depth", photo.parent / "missing.png")
    assert result.exit_code == 2 and "missing.png: no such file or folder" in result.stderr
    result = run(photo, "--f", "2", "--depth", depth, "--blades", "6", "--blade-rotation", "nan")
    assert result.exit_code == 2 and "--blade-rotation must be a finite angle" in result.stderr
    for gain in ("0.5", "1e20", "nan"):
        result = run(photo, "--f", "2", "--depth", depth, "--highlight-boost", gain)
        assert result.exit_code == 2 and "--highlight-boost must be between 1 and 100" in result.stderr


def test_missing_weights_or_device_are_one_usage_error_for_the_batch(scene, tmp_path):
    photo, _, _ = scene
    other = write_photo(tmp_path / "other.jpg", textured_rgb(H, W, seed=1))
    for flag, value in (("--model", "no-such-model"), ("--device", "tpu")):
        result = run(photo, other, "--f", "2", flag, value)
        errors = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.exit_code == 2 and len(errors) == 1 and value in errors[0]
    assert not list(photo.parent.glob("*_bokeh_*"))


def test_bad_depth_template_and_f_number_spellings_are_usage_errors(scene):
    photo, depth, _ = scene
    for bad in ("{stem}}.png", "{stem}{0}.png"):
        result = run(photo, "--f", "2", "--depth", str(photo.parent / bad))
        assert result.exit_code == 2 and "--depth: bad template" in result.stderr
    for bad in ("1_8", " 2", "2e0", "-2", "inf"):  # the text names the output file
        assert run(photo, "--f", bad, "--depth", depth).exit_code == 2


def test_save_depth_never_overwrites_the_depth_it_reads(scene, tmp_path):
    photo, depth, _ = scene  # scene_depth.png: the very name --save-depth writes beside the photo
    before = depth.read_bytes()
    (tmp_path / "scene_depth.npy").write_bytes(b"keep")
    result = run(photo, "--f", "2", "--depth", depth, "--save-depth", "--overwrite")
    assert result.exit_code == 1 and "would overwrite the input depth map" in result.stderr
    assert depth.read_bytes() == before and (tmp_path / "scene_depth.npy").read_bytes() == b"keep"
    assert not (tmp_path / "scene_bokeh_f2.jpg").exists()


def test_save_depth_keeps_existing_maps_unless_overwrite(scene, tmp_path):
    photo, depth, _ = scene
    out_dir = tmp_path / "o"
    out_dir.mkdir()
    (out_dir / "scene_depth.npy").write_bytes(b"keep")
    result = run(photo, "--f", "2", "--depth", depth, "--out", out_dir, "--save-depth")
    assert result.exit_code == 0 and "kept the existing scene_depth.npy" in result.stderr
    assert (out_dir / "scene_depth.npy").read_bytes() == b"keep" and (out_dir / "scene_bokeh_f2.jpg").is_file()
    # the PNG that an interrupted run never wrote is written all the same
    assert np.asarray(Image.open(out_dir / "scene_depth.png")).shape == (H, W)
    result = run(photo, "--f", "2", "--depth", depth, "--out", out_dir, "--save-depth", "--overwrite")
    assert result.exit_code == 0 and np.load(out_dir / "scene_depth.npy").shape == (H, W)


def test_folders_skip_hidden_files_and_unreadable_inputs_fail_alone(scene, tmp_path):
    photo, depth, rgb = scene
    folder = tmp_path / "shots"
    folder.mkdir()
    write_photo(folder / "a.jpg", rgb)
    (folder / ".bokeh-tmp-x1.jpg").write_bytes(b"half")          # a killed run's temp file
    (folder / "._a.jpg").write_bytes(b"\0\5\26\7")              # a macOS resource fork
    (tmp_path / "empty").mkdir()
    result = run(folder, tmp_path / "empty", "--f", "2", "--depth", depth, "--out", tmp_path / "o")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "o" / "a_bokeh_f2.jpg").is_file() and "error" not in result.stderr
    assert "empty: no photos in this folder" in result.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_photo_is_its_own_error(scene, tmp_path):
    photo, depth, rgb = scene
    locked = write_photo(tmp_path / "locked.jpg", rgb)
    locked.chmod(0)
    result = run(locked, photo, "--f", "2", "--depth", depth, "--out", tmp_path / "o")
    assert result.exit_code == 1 and "locked.jpg" in result.stderr
    assert (tmp_path / "o" / "scene_bokeh_f2.jpg").is_file()


def test_transparency_is_named_when_dropped(scene, tmp_path):
    photo, depth, rgb = scene
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "opaque.png")
    rgba[:4, :4, 3] = 0
    Image.fromarray(rgba).save(tmp_path / "cutout.png")
    result = run(tmp_path / "opaque.png", tmp_path / "cutout.png", "--f", "2", "--depth", depth, "--out",
                 tmp_path / "o")
    assert result.exit_code == 0
    named = [line for line in result.stderr.splitlines() if "transparency is not carried over" in line]
    assert len(named) == 1 and "cutout.png" in named[0]


def test_markup_in_file_names_is_printed_not_interpreted(scene, tmp_path):
    photo, depth, rgb = scene
    odd = write_photo(tmp_path / "d [red]hot[bold].jpg", rgb)
    result = CliRunner().invoke(app, ["render", str(odd), "--f", "2", "--depth", str(depth), "--out",
                                      str(tmp_path / "o")], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert "d [red]hot[bold].jpg" in result.stdout


def test_focus_nearer_than_the_lens_can_focus_is_refused(scene, tmp_path):
    photo, depth, _ = scene
    result = run(photo, "--f", "2", "--depth", depth, "--focus-distance", "0.01", "--out", tmp_path / "o")
    assert result.exit_code == 1 and "nearer than a 50 mm lens can focus" in result.stderr
    assert result.stderr.count("\n") == 1  # the error line only: no progress residue off a terminal


def test_an_output_never_replaces_another_input_of_the_batch(scene, tmp_path):
    photo, depth, rgb = scene
    other = write_photo(tmp_path / "scene_bokeh_f2.jpg", textured_rgb(H, W, seed=1))
    before = other.read_bytes()
    result = run(photo, other, "--f", "2", "--depth", str(tmp_path / "{stem}_depth.png"), "--overwrite")
    assert result.exit_code == 1 and "is an input of this batch" in result.stderr
    assert other.read_bytes() == before


def test_sensor_flag_silences_the_files_missing_sensor_size(tmp_path):
    photo = write_photo(tmp_path / "p.jpg", textured_rgb(H, W), make_exif(focal_mm=50, focus_m=2.0))
    depth = write_depth_png(tmp_path / "p_depth.png", two_plane_depth(H, W, 2.0, 8.0))
    plain = run(photo, "--f", "2", "--depth", depth, "--out", tmp_path / "a")
    assert "assuming full frame" in plain.stderr
    flagged = run(photo, "--f", "2", "--depth", depth, "--out", tmp_path / "b", "--crop-factor", "1.5", "--json")
    assert flagged.exit_code == 0 and "assuming full frame" not in flagged.stderr
    assert json.loads(flagged.stdout)[0]["sensor_source"] == "flag"


def test_names_that_look_like_markup_are_printed_as_they_are(tmp_path):
    result = run(tmp_path / "br[red].jpg", tmp_path / "br[/x].jpg", "--f", "2")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"error: {tmp_path / 'br[red].jpg'}: no such file",
                                          f"error: {tmp_path / 'br[/x].jpg'}: no such file"]


def test_shared_depth_map_errors_name_each_photo(scene, tmp_path):
    photo, _, _ = scene
    other = write_photo(tmp_path / "other.jpg", textured_rgb(H, W, seed=1))
    rotated = tmp_path / "rotated.npy"
    np.save(rotated, np.full((W, H), 3.0, np.float32))
    result = run(photo, other, "--f", "2", "--depth", rotated, "--out", tmp_path / "o", "--json")
    assert result.exit_code == 1
    records = json.loads(result.stdout)
    assert [r["path"] for r in records] == [str(photo), str(other)]
    assert all(r["error"].startswith(f"{r['path']}: {rotated}:") for r in records)


def test_results_table_shows_the_whole_output_path(scene, tmp_path):
    photo, depth, _ = scene
    out_dir = tmp_path / ("a-rather-long-folder-name-" * 3)
    result = run(photo, "--f", "2", "--depth", depth, "--out", out_dir)
    assert result.exit_code == 0
    # on a line of its own below the table, whole (a terminal wraps it; a copy gives it back)
    assert result.stdout.splitlines()[-1] == f"output: {out_dir / 'scene_bokeh_f2.jpg'}"


def test_render_with_network_weights(scene, tmp_path):
    """Without --depth the network predicts depth (untrained weights here: this checks the
    plumbing, sizes and metadata, not quality)."""
    import torch

    from bokehcli.models import factory

    torch.manual_seed(0)
    weights = tmp_path / "tiny.safetensors"
    factory.save_model(factory.create_model("nano"), weights)
    photo, _, _ = scene
    result = run(photo, "--f", "2", "--model", weights, "--out", tmp_path / "net", "--work-size", "96",
                 "--tile", "64", "--save-depth", "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)[0]
    assert record["focus_source"].startswith("EXIF")
    with Image.open(tmp_path / "net" / "scene_bokeh_f2.jpg") as im:
        assert im.size == (W, H)
    depth = np.load(tmp_path / "net" / "scene_depth.npy")
    assert depth.shape == (H, W) and np.isfinite(depth).all() and (depth > 0).all()


def test_network_sees_the_cameras_focus_not_the_requested_one(scene, tmp_path):
    """The camera's focus (EXIF) is evidence about the scene and conditions the network (shipped
    weights: an untrained lens conditioning starts as the identity); --focus-distance only moves
    the render's focus plane, not the predicted depth."""
    photo, _, _ = scene
    depths = []
    for focus in ("1.0", "6.0"):
        out = tmp_path / focus
        result = run(photo, "--f", "2", "--out", out, "--focus-distance", focus, "--save-depth", "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)[0]["focus_source"] == "flag"
        depths.append(np.load(out / "scene_depth.npy"))
    assert np.array_equal(depths[0], depths[1])


def test_equivalent_gives_a_small_sensor_the_blur_of_full_frame(tmp_path):
    """A phone-like photo (6 mm lens, 28 mm equivalent) at f/1.8: barely blurred as taken, with a
    warning that says what to do; --equivalent renders it as a 28 mm f/1.8 on full frame, whose
    CoC is the crop factor (28/6) times larger, by the thin lens."""
    rgb = textured_rgb(H, W)
    photo = write_photo(tmp_path / "phone.jpg", rgb, make_exif(focal_mm=6.0, focus_m=0.5, focal_35mm=28))
    depth = write_depth_png(tmp_path / "phone_depth.png", two_plane_depth(H, W, 0.5, 8.0))
    plain = run(photo, "--f", "1.8", "--depth", depth, "--out", tmp_path / "plain", "--json")
    equivalent = run(photo, "--f", "1.8", "--depth", depth, "--out", tmp_path / "eq", "--equivalent", "--json")
    assert plain.exit_code == 0 and equivalent.exit_code == 0, plain.output + equivalent.output
    small, large = json.loads(plain.stdout)[0], json.loads(equivalent.stdout)[0]
    assert small["max_blur_px"] < 2 and any("--equivalent" in w for w in small["warnings"])
    assert large["focal_mm"] == 28 and large["sensor_diagonal_mm"] == pytest.approx(43.27)
    # same field of view: c_px = A f / (S1 - f) (1 - S1/D) / pitch, pitch = diagonal / image diagonal
    def coc_px(focal_mm, diagonal_mm):
        return (focal_mm / 1.8) * focal_mm / (500 - focal_mm) * (1 - 0.5 / 8) / (diagonal_mm / math.hypot(W, H))
    assert large["max_blur_px"] == pytest.approx(coc_px(28, 43.27), rel=0.02)
    assert large["max_blur_px"] > 2 and not any("barely visible" in w for w in large["warnings"])


def test_library_errors_name_settings_and_the_command_names_flags(tmp_path):
    """RenderSettings speaks of its fields; `bokeh render` turns them into its flags."""
    from bokehcli.errors import SettingError
    from bokehcli.pipeline import RenderSettings

    with pytest.raises(SettingError, match=r"^fmt must be one of") as caught:
        RenderSettings(f_number_text="2", fmt="gif").validate()
    assert caught.value.field == "fmt"
    with pytest.raises(SettingError, match=r"^tile_px: tile must be"):
        RenderSettings(f_number_text="2", tile_px=12).validate()
    photo = write_photo(tmp_path / "p.jpg", np.full((32, 48, 3), 128, np.uint8), make_exif())
    for args, line in ((["--format", "gif"], "error: --format must be one of"),
                       (["--tile", "12"], "error: --tile: tile must be"),
                       (["--blades", "2"], "error: --blades must be 0 (round) or at least 3")):
        result = run(photo, "--f", "2", *args)
        assert result.exit_code == 2 and result.stderr.strip().startswith(line), result.stderr
