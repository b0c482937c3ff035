"""Hostile inputs of issue 21 (files; signals and concurrent writers: tests/test_stops_and_writers.py).

Each input is built by tests/hostile.py from the published formats. The promise checked: bounded
time and memory, the limits the user set hold for every image, nothing outside bokeh's own
decoders runs (no Ghostscript), and every refusal is one line naming the file, exit 1 for a bad
file and 2 for bad usage. Fuzzing of the same inputs at length: the tests marked slow at the end.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import EpsImagePlugin, Image
from typer.testing import CliRunner

from awkward import upright_pattern
from bokehcli.cli.app import app
from bokehcli.depthio import load_depth
from bokehcli.errors import InputError
from bokehcli.imageio import load_photo, read_size
from bokehcli.lens import read_lens
from bokehcli.lens.xmp import MAX_XMP_BYTES, read_xmp_focus
from bokehcli.models.bokehflow import BokehFlow
from bokehcli.models.factory import load_model
from hostile import (PNG_SIGNATURE, POSTSCRIPT, fake_ghostscript, flat_png16, heic_lookalike, hostile_configs, ihdr,
                     jpeg_with_xmp, npy_header_only, png_chunk, png_rows, png_with_second_header, write_animation,
                     write_weights, xmp_bombs)
from photos import make_exif, write_photo
from startup_signals import skip_if_before_our_code

REPO = Path(__file__).resolve().parents[1]


def run(*args):
    result = CliRunner().invoke(app, [*map(str, args)])
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    return result


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def bokeh(*args, env=None, timeout=120):
    """`bokeh` in a subprocess (the console entry point with its signal handling)."""
    return subprocess.run([sys.executable, "-m", "bokehcli", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, "COLUMNS": "200", **(env or {})}, timeout=timeout)


def assert_one_line(message: str, path: Path) -> None:
    assert message.startswith(f"{path}: ") and "\n" not in message, message


@pytest.fixture
def photo(tmp_path):
    """A small photo with a constant depth map beside it."""
    path = write_photo(tmp_path / "p.jpg", upright_pattern(48, 64), make_exif(focus_m=2.0))
    np.save(tmp_path / "p.npy", np.full((48, 64), 2.0, np.float32))
    return path


# --- 1. XMP in linear time ----------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(xmp_bombs(64)))
def test_adversarial_xmp_is_read_in_bounded_time(tmp_path, alarm, name):
    """A 1 MB packet of each kind: the XMP reader alone, then a JPEG carrying it in 17 APP1
    segments through `read_lens` (unclosed comments took over 600 s, 20,000 bound prefixes
    about 800 s)."""
    packet = xmp_bombs(MAX_XMP_BYTES)[name]
    assert read_xmp_focus([packet]) is None
    path = tmp_path / "x.jpg"
    path.write_bytes(jpeg_with_xmp(packet))
    assert read_lens(path).focus_m is None


def test_the_focus_is_still_found_behind_an_xmp_bomb(tmp_path):
    """Linear time must not cost the answer: a real property after the bound prefixes."""
    packet = xmp_bombs(MAX_XMP_BYTES - 200)["bound prefixes"] + b' p7:ApproximateFocusDistance="33/10"'
    assert read_xmp_focus([packet]) == ("XMP:aux:ApproximateFocusDistance", 3.3)


def test_subnormal_xmp_focus_is_ignored_not_zero(tmp_path):
    """1e-320 m passed the plausibility test (it is positive) and was shown as a focus of 0.0 m."""
    path = tmp_path / "x.jpg"
    path.write_bytes(jpeg_with_xmp(b'<x aux:ApproximateFocusDistance="1e-320"/>'))
    info = read_lens(path)
    assert info.focus_m is None and not info.focus_infinite
    assert "ignored implausible focus distance 1e-320 m (XMP:aux:ApproximateFocusDistance)" in info.warnings


# --- 2, 3. PNG headers and 16-bit decoding ------------------------------------------------

def test_a_second_png_header_cannot_lift_max_pixels(tmp_path, alarm):
    """64x48 in the first IHDR, 3000x2000 in a second one after an empty IDAT: the size checked
    against --max-pixels is the only size anything is decoded at."""
    path = tmp_path / "liar.png"
    path.write_bytes(png_with_second_header((64, 48), (3000, 2000)))
    for limit in (10_000, 10**9):
        with pytest.raises(InputError) as caught:
            load_photo(path, max_pixels=limit)
        assert_one_line(str(caught.value), path)
    np.save(tmp_path / "liar.npy", np.full((48, 64), 2.0, np.float32))
    out = tmp_path / "out"
    result = run("render", path, "--f", "2", "--depth", tmp_path / "liar.npy", "--out", out, "--max-pixels", 10_000)
    assert result.exit_code == 1 and len(error_lines(result)) == 1
    assert not out.exists() or not list(out.iterdir())


def test_second_ihdr_after_the_image_data_is_refused(tmp_path):
    rows = np.zeros((48, 1 + 64 * 6), np.uint8)
    data = png_rows(rows, 64, 48)
    path = tmp_path / "two.png"
    path.write_bytes(data[:-12] + ihdr(64, 48) + png_chunk(b"IEND", b""))
    with pytest.raises(InputError, match="second IHDR"):
        load_photo(path)


def load_with_peak(path: Path):
    """``load_photo(path)`` and the peak of the memory it allocated meanwhile (numpy included)."""
    tracemalloc.start()
    try:
        return load_photo(path), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_tall_16bit_png_decodes_in_memory_of_its_size(tmp_path):
    """Unfiltering along anti-diagonals over the whole image took (H + W) H bytes per channel
    pair: 865 MB for these 1.2 MB of pixels (issue: 1.1 GB peak). Now the bands keep it within a
    fixed budget (64 MB) or twice the image."""
    width, height = 16, 12000
    path = tmp_path / "tall.png"
    path.write_bytes(flat_png16(width, height, value=40000))
    photo, peak = load_with_peak(path)
    assert photo.srgb.shape == (height, width, 3) and photo.bit_depth == 16
    assert np.all(photo.srgb == np.float32(40000 / 65535))
    assert peak < 160 << 20, f"peak {peak >> 20} MB"


# --- 4. every decoded image obeys --max-pixels --------------------------------------------

@pytest.mark.parametrize("kind", ["png", "npy"])
def test_depth_maps_obey_max_pixels(tmp_path, photo, alarm, kind):
    """A 70 KB PNG that decodes to 36 MP (1.4 GB as the render's float maps), and a .npy header
    announcing as much: refused from the header, like a photo that size."""
    depth = tmp_path / f"bomb.{kind}"
    depth.write_bytes(flat_png16(6000, 6000, channels=1) if kind == "png" else npy_header_only((6000, 6000)))
    with pytest.raises(InputError, match=r"too many pixels \(6000x6000 = 36 MP; the limit is 0.01 MP\)"):
        load_depth(depth, max_pixels=10_000)
    result = run("render", photo, "--f", "2", "--depth", depth, "--out", tmp_path / "out", "--max-pixels", 10_000)
    assert result.exit_code == 1
    assert error_lines(result) == [f"error: {photo}: {depth}: too many pixels (6000x6000 = 36 MP; the limit is "
                                   f"0.01 MP)"]


# --- 5. hostile weights -------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_model(tiny_config):
    torch.manual_seed(0)
    model = BokehFlow(tiny_config)
    return {k: v.contiguous() for k, v in model.state_dict().items()}, json.loads(model.config.to_json())


@pytest.mark.parametrize("kind", sorted(hostile_configs({})))
def test_hostile_weight_configs_are_refused_before_building(tmp_path, tiny_model, alarm, kind):
    tensors, config = tiny_model
    path = write_weights(tmp_path / "w.safetensors", tensors, hostile_configs(config)[kind])
    with pytest.raises(InputError) as caught:
        load_model(path)
    assert_one_line(str(caught.value), path)
    assert "invalid model config" in str(caught.value)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_weights_must_be_finite(tmp_path, tiny_model, photo, value):
    tensors, config = tiny_model
    name = sorted(tensors)[3]
    poisoned = {**tensors, name: tensors[name].clone().flatten().index_fill(0, torch.tensor([0]), value)
                .reshape(tensors[name].shape)}
    path = write_weights(tmp_path / "w.safetensors", poisoned, json.dumps(config))
    with pytest.raises(InputError, match=f"tensor {name} holds NaN or infinite values"):
        load_model(path)
    result = run("render", photo, "--f", "2", "--model", path, "--out", tmp_path / "out")
    assert result.exit_code == 2  # weights no photo could use: a usage error, before the batch
    assert len(error_lines(result)) == 1 and str(path) in error_lines(result)[0]


def test_integer_weights_are_refused(tmp_path, tiny_model):
    tensors, config = tiny_model
    name = sorted(tensors)[0]
    path = write_weights(tmp_path / "w.safetensors", {**tensors, name: tensors[name].to(torch.int32)},
                         json.dumps(config))
    with pytest.raises(InputError, match=f"tensor {name} holds torch.int32 values"):
        load_model(path)


# --- 6. an allow-list of formats: no Ghostscript ------------------------------------------

@pytest.fixture
def ghostscript_spy(monkeypatch):
    """Pillow's EPS plugin as if Ghostscript were installed, recording every call to it."""
    calls = []

    def spy(*args, **kwargs):
        calls.append(args)
        raise OSError("the spy does not interpret PostScript")

    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", spy)
    monkeypatch.setattr(EpsImagePlugin, "has_ghostscript", lambda: True)
    return calls


def test_postscript_is_refused_by_name_and_never_interpreted(tmp_path, ghostscript_spy):
    path = tmp_path / "holiday.jpg"
    path.write_bytes(POSTSCRIPT)
    depth = tmp_path / "holiday_depth.png"
    depth.write_bytes(POSTSCRIPT)
    for read, name in ((load_photo, path), (read_size, path), (read_lens, path), (load_depth, depth)):
        with pytest.raises(InputError, match="holds EPS data, a format bokeh does not read") as caught:
            read(name)
        assert_one_line(str(caught.value), name)
    assert ghostscript_spy == []


def test_cli_never_runs_ghostscript(tmp_path):
    """End to end, with a `gs` on PATH that leaves a mark when run (Pillow finds Ghostscript on
    PATH and would run it on the .jpg)."""
    env, marker = fake_ghostscript(tmp_path)
    path = tmp_path / "holiday.jpg"
    path.write_bytes(POSTSCRIPT)
    np.save(tmp_path / "d.npy", np.full((48, 64), 2.0, np.float32))
    for args in (("info", path), ("render", path, "--f", "2", "--depth", tmp_path / "d.npy", "--out", tmp_path)):
        result = bokeh(*args, env=env)
        assert result.returncode == 1, result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "EPS" in errors[0] and "Traceback" not in result.stderr
    assert not marker.exists()


# --- 12. usage errors and odd names -------------------------------------------------------

@pytest.mark.parametrize("template", ["{stem}{stem.foo}.npy", "{stem}/{0}.npy", "{stem}{", "{stem!r}{stem}",
                                      "{stem}{stem:>999999999}"])
def test_bad_depth_templates_are_usage_errors(tmp_path, photo, template):
    result = run("render", photo, "--f", "2", "--depth", str(tmp_path / template), "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert len(error_lines(result)) == 1 and error_lines(result)[0].startswith("error: --depth: bad template")


def test_a_stem_of_dots_cannot_climb_out_of_a_template(tmp_path, photo):
    """`...jpg` has the stem `..`: 'maps/{stem}/d.npy' would read maps/../d.npy."""
    dots = tmp_path / "...jpg"
    dots.write_bytes(photo.read_bytes())
    (tmp_path / "maps").mkdir()
    np.save(tmp_path / "d.npy", np.full((48, 64), 2.0, np.float32))  # where the climb would land
    result = run("render", dots, "--f", "2", "--depth", str(tmp_path / "maps" / "{stem}" / "d.npy"),
                 "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert error_lines(result) == [f"error: {dots}: its name cannot fill {{stem}} in the --depth template "
                                   f"'{tmp_path / 'maps' / '{stem}' / 'd.npy'}' (the stem '..' names a folder)"]


@pytest.mark.parametrize("flag, value", [("--focal-length", "1e300"), ("--focal-length", "nan"),
                                         ("--focus-distance", "1e300"), ("--focus-distance", "1e-320"),
                                         ("--crop-factor", "1e-300"), ("--sensor-diagonal", "inf")])
def test_absurd_lens_flags_are_usage_errors(tmp_path, photo, flag, value):
    result = run("render", photo, "--f", "2", "--depth", tmp_path / "p.npy", flag, value, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert len(error_lines(result)) == 1 and error_lines(result)[0].startswith(f"error: {flag} must be from ")


@pytest.mark.parametrize("args, command, what", [
    (["render", "x.jpg", "--tile", "-5"], "render", "Invalid value for '--tile'"),
    (["render", "x.jpg", "--quality", "1000"], "render", "Invalid value for '--quality'"),
    (["render", "x.jpg", "--max-pixels", "0"], "render", "Invalid value for '--max-pixels'"),
    (["render", "x.jpg", "--no-such-flag"], "render", "No such option: --no-such-flag"),
    (["render"], "render", "Missing argument"),
    (["info", "x.jpg", "--json=yes"], "info", "Option '--json' does not take a value"),
    (["train", "--steps", "many"], "train", "Invalid value for '--steps'"),
    (["synth", "--train", "-1"], "synth", "Invalid value for '--train'"),
    (["bench", "--threads", "0"], "bench", "Invalid value for '--threads'"),
    (["eval", "--no-such-flag"], "eval", "No such option: --no-such-flag"),
    (["rendr"], None, "No such command 'rendr'"),
    (["--no-such-flag"], None, "No such option: --no-such-flag"),
])
def test_every_usage_error_click_finds_is_one_line(args, command, what):
    """Ranges, types, unknown options and commands, missing arguments (checked by Click before
    any command runs): one line naming the problem and the help to read, exit 2, no usage panel."""
    result = run(*args)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    help_command = f"bokeh {command}" if command else "bokeh"  # the program name CliRunner gives
    assert lines[0].startswith(f"error: {what}") and lines[0].endswith(f" (see {help_command} --help)"), lines[0]


def test_usage_errors_through_the_entry_point_are_one_line():
    result = bokeh("render", "x.jpg", "--quality", "1000")
    assert result.returncode == 2
    assert result.stderr == ("error: Invalid value for '--quality': Input should be less than or equal to 100 "
                             "(see python -m bokehcli render --help)\n")


def test_bare_bokeh_still_shows_the_help():
    result = bokeh()
    assert result.returncode == 2 and "Commands" in result.stdout + result.stderr


def test_heic_without_its_decoder_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.delitem(Image.OPEN, "HEIF", raising=False)
    path = tmp_path / "IMG_0001.HEIC"
    path.write_bytes(heic_lookalike())
    with pytest.raises(InputError) as caught:
        load_photo(path)
    assert str(caught.value) == (f"{path}: HEIC/HEIF photos need the optional package pillow-heif "
                                 f"(pip install pillow-heif)")


@pytest.mark.parametrize("suffix", [".gif", ".png", ".webp"])
def test_animations_render_their_first_frame_and_say_so(tmp_path, suffix):
    path = write_animation(tmp_path / f"anim{suffix}")
    np.save(tmp_path / "anim.npy", np.full((24, 32), 2.0, np.float32))
    result = run("render", path, "--f", "2", "--depth", tmp_path / "anim.npy", "--out", tmp_path / "out",
                 "--format", "png")
    assert result.exit_code == 0
    assert f"warning: {path}: " in result.stderr and "the first is used" in result.stderr
    with Image.open(tmp_path / "out" / "anim_bokeh_f2.png") as im:  # frame 0 is (0, 100, 200), the next 50 away
        assert np.abs(np.asarray(im, np.int16) - np.array([0, 100, 200])).max() <= 8  # WebP is lossy


def test_names_with_newlines_and_undecodable_bytes(tmp_path, photo):
    """Under a strict UTF-8 stdout the table of a photo whose name is not UTF-8 crashed; a newline
    in a name split its error line in two."""
    odd = tmp_path / os.fsdecode(b"caf\xe9.jpg")
    odd.write_bytes(photo.read_bytes())
    missing = tmp_path / "two\nlines.jpg"
    env = {"PYTHONIOENCODING": "utf-8", "LC_ALL": "C.UTF-8"}
    for args in (("info", odd), ("render", odd, missing, "--f", "2", "--depth", tmp_path / "p.npy",
                                 "--out", tmp_path / "out")):
        result = bokeh(*args, env=env)
        assert "Traceback" not in result.stderr, result.stderr
        assert "caf\\xe9.jpg" in result.stdout
    assert result.returncode == 1  # the missing file
    assert result.stderr.splitlines() == [line for line in result.stderr.splitlines() if line.startswith(
        ("error:", "warning:")) or re.match(r"\[\d+/\d+\] ", line)]  # or a photo's progress line
    assert f"error: {tmp_path}/two\\nlines.jpg: no such file" in result.stderr.splitlines()


def test_an_output_name_too_long_for_the_file_system(tmp_path, photo):
    """246 characters + "_bokeh_f2.jpg" is more than a name may have: a line, not an internal error."""
    long = tmp_path / ("x" * 246 + ".jpg")
    long.write_bytes(photo.read_bytes())
    out = tmp_path / "out"
    out.mkdir()  # in an existing folder, asking whether the output exists already fails
    result = run("render", long, photo, "--f", "2", "--depth", tmp_path / "p.npy", "--out", out)
    assert result.exit_code == 1
    assert error_lines(result) == [f"error: {long}: File name too long ({out / long.stem}_bokeh_f2.jpg)"]
    assert [p.name for p in out.iterdir()] == ["p_bokeh_f2.jpg"]


def _render_small(tmp_path: Path, photo: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bokehcli", "render", str(photo), "--f", "2", "--depth",
                             str(tmp_path / "p.npy"), "--out", str(tmp_path / "out")], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.fixture(scope="module")
def whole_run_s(tmp_path_factory) -> float:
    """How long the small render takes from launch to exit on this machine now."""
    folder = tmp_path_factory.mktemp("timing")
    photo = write_photo(folder / "p.jpg", upright_pattern(48, 64), make_exif(focus_m=2.0))
    np.save(folder / "p.npy", np.full((48, 64), 2.0, np.float32))
    times = []
    for _ in range(2):  # the quicker of two: a signal must still come before the run can end
        start = time.perf_counter()
        assert _render_small(folder, photo).wait(timeout=120) == 0
        times.append(time.perf_counter() - start)
    return min(times)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("share", [0.02, 0.08, 0.15, 0.22, 0.3, 0.37, 0.44, 0.5])
def test_signals_anywhere_in_the_start_up(tmp_path, photo, whole_run_s, signum, share):
    """A signal raised inside an import broke the module (ImportError, "internal error") or was
    swallowed by an import-lock callback (the batch then finished with exit 0). The signal comes
    at a share of the quicker of two whole runs, in start-up (imports, about two thirds of a run
    here): later, on a machine whose load changes, the run may have ended first."""
    proc = _render_small(tmp_path, photo)
    time.sleep(share * whole_run_s)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=120)
    skip_if_before_our_code(proc.returncode, stderr, signum)
    code, stopped = (130, "interrupted") if signum == signal.SIGINT else (143, "terminated")
    # Late in start-up the batch may already be running: then it names what it finished.
    assert (proc.returncode, stderr) in ((code, f"{stopped}\n"),
                                         (code, f"{stopped}: 0 of 1 rendered; rerun to finish the rest\n"))


# --- slow: fuzzing the same inputs --------------------------------------------------------

@pytest.mark.slow
def test_very_tall_16bit_png_decodes_in_memory_of_its_size(tmp_path):
    """The issue's 100 x 60000 px case: 21 GB of skewed grid before the bands."""
    path = tmp_path / "tall.png"
    path.write_bytes(flat_png16(100, 60000, value=123, channels=4))
    photo, peak = load_with_peak(path)
    assert photo.srgb.shape == (60000, 100, 3)
    assert peak < 512 << 20, f"peak {peak >> 20} MB"  # the image itself: 48 MB stored, 96 MB as float


_FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                          HealthCheck.too_slow])


@pytest.mark.slow
@_FUZZ
@given(data=st.data())
def test_fuzzed_png_headers_and_filters(tmp_path, alarm, data):
    """PNGs with lying, repeated or odd headers, every filter type (and invalid ones), cut short:
    a photo within the limit or one InputError line, quickly."""
    width = data.draw(st.one_of(st.integers(1, 40), st.integers(1, 200_000)))
    height = data.draw(st.one_of(st.integers(1, 40), st.integers(1, 200_000)))
    bit_depth, colour_type = data.draw(st.sampled_from([(16, 2), (16, 6), (16, 4), (16, 0), (8, 2), (8, 6),
                                                        (8, 3), (1, 0), (4, 0)]))
    interlace = data.draw(st.sampled_from([0, 0, 1, 2]))
    real_w, real_h = min(width, 40), min(height, 40)
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour_type]
    row_bytes = 1 + -(-real_w * channels * bit_depth // 8)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    rows = rng.integers(0, 256, (real_h, row_bytes), dtype=np.uint8)
    rows[:, 0] = rng.integers(0, data.draw(st.sampled_from([5, 5, 6])), real_h)
    head = PNG_SIGNATURE + png_chunk(b"IHDR", np.array([width, height], ">u4").tobytes()
                                     + bytes([bit_depth, colour_type, 0, 0, interlace]))
    chunks = [png_chunk(b"IDAT", zlib.compress(rows.tobytes()))]
    if data.draw(st.booleans()):
        chunks.insert(data.draw(st.integers(0, 1)), ihdr(data.draw(st.integers(1, 100_000)),
                                                         data.draw(st.integers(1, 100_000))))
    raw = head + b"".join(chunks) + png_chunk(b"IEND", b"")
    raw = raw[:data.draw(st.integers(9, len(raw)))] if data.draw(st.booleans()) else raw
    path = tmp_path / "fuzz.png"
    path.write_bytes(raw)
    try:
        photo = load_photo(path, max_pixels=4096)
    except InputError as exc:
        assert_one_line(str(exc), path)
    else:
        assert photo.srgb.shape[0] * photo.srgb.shape[1] <= 4096


_XMP_PIECES = [b"<!--", b"-->", b"<!-- x", b'xmlns:a="http://ns.adobe.com/exif/1.0/aux/" ', b"xmlns:aux=",
               b'aux:ApproximateFocusDistance="', b"<aux:ApproximateFocusDistance>", b"</aux:ApproximateFocusDistance>",
               b'a:ApproximateFocusDistance="7/2"', b"1", b"/", b"e-", b"' ", b'" ', b" " * 64, b"x" * 63 + b":",
               b"<exif:SubjectDistance ", b"GFocus:FocalDistance='", b"\xff\xfe", b"<", b">"]


@pytest.mark.slow
@_FUZZ
@given(pieces=st.lists(st.tuples(st.sampled_from(_XMP_PIECES), st.integers(1, 20_000)), min_size=1, max_size=12))
def test_fuzzed_xmp_is_read_in_bounded_time(alarm, pieces):
    packet = b"".join(piece * count for piece, count in pieces)
    found = read_xmp_focus([packet])
    assert found is None or found[1] > 0


_CONFIG_VALUES = ["0", "-1", "1", "2", "3", "64", "100000", "1" + "0" * 30, "1e400", "Infinity", "-Infinity", "NaN",
                  "0.5", "2.5", "true", "null", '"x"', "[]", "{}", '"' + "n" * 100 + '"']


@pytest.mark.slow
@_FUZZ
@given(data=st.data())
def test_fuzzed_weight_configs(tmp_path, tiny_model, alarm, data):
    """Any field of the stored config set to any JSON value: loaded, or one InputError line,
    in seconds."""
    tensors, config = tiny_model
    changed = data.draw(st.dictionaries(st.sampled_from(sorted(config)), st.sampled_from(_CONFIG_VALUES),
                                        min_size=1, max_size=4))
    text = json.dumps({**config, **{key: f"@{key}@" for key in changed}})
    for key, raw in changed.items():
        text = text.replace(f'"@{key}@"', raw)
    path = write_weights(tmp_path / "w.safetensors", tensors, text)
    try:
        load_model(path)
    except InputError as exc:
        assert_one_line(str(exc), path)
