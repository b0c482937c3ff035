"""`bokeh render` on broken and awkward files, failing disks and untrusted weights (issue 8).

Broken inputs: one stderr line each naming the file, exit code 1, the rest of the batch
rendered, nothing else in the output folder. Awkward inputs render at their upright size and
orientation. Output failures: one line per file, no partial or temporary file. Weights are never
unpickled. A bounded-time fuzz of the whole render path on mutated corpus files.
(Signals mid-batch: tests/test_interrupts.py.)
"""

from __future__ import annotations

import errno
import json
import os
import pickle
import re
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps
from typer.testing import CliRunner

from awkward import build_awkward, build_broken, upright_pattern
from bokehcli.cli.app import app
from bokehcli.errors import BokehError
from bokehcli.imageio import load_photo, read_size
from bokehcli.models.bokehflow import BokehFlow
from bokehcli.models.factory import save_model
from bokehcli.pipeline import RenderSettings, render_file
from photos import make_exif, write_photo

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "exif-corpus"
NET = ("--work-size", "128", "--tile", "64")


def run(*args):
    result = CliRunner().invoke(app, ["render", *map(str, args)])
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    return result


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


@pytest.fixture(scope="module")
def model_path(tmp_path_factory, tiny_config):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    save_model(BokehFlow(tiny_config), path)
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    return folder, build_awkward(folder), build_broken(folder)


def test_orientation_builder_agrees_with_pillow(corpus):
    _, awkward, _ = corpus
    for item in awkward:
        if item.path.name.startswith("orient") and item.path.suffix == ".jpg":
            with Image.open(item.path) as im:
                upright = np.asarray(ImageOps.exif_transpose(im).convert("RGB"), dtype=np.float32)
            assert upright.shape == item.upright.shape
            assert np.abs(upright - item.upright).mean() < 2.0, item.path.name


def _check_batch(result, out: Path, awkward, broken, suffix: str = ".jpg") -> None:
    assert result.exit_code == 1, result.output
    lines = error_lines(result)
    for path, pattern in broken.items():
        mine = [line for line in lines if line.startswith(f"error: {path}: ")]
        assert len(mine) == 1, (path, lines)
        assert re.search(pattern, mine[0]), mine[0]
    assert len(lines) == len(broken), lines
    expected = {f"{a.path.stem}_bokeh_f2.0{suffix}" for a in awkward}
    assert {p.name for p in out.iterdir()} == expected  # no temp files, nothing for broken inputs
    for item in awkward:
        with Image.open(out / f"{item.path.stem}_bokeh_f2.0{suffix}") as im:
            assert im.size == item.upright.shape[1::-1], item.path.name
            assert im.getexif().get(0x0112, 1) == 1


def test_acceptance_batch_network_path(corpus, model_path, tmp_path):
    """The acceptance command (no --depth: the network), with a small untrained model."""
    folder, awkward, broken = corpus
    out = tmp_path / "out"
    result = run(*sorted(folder.iterdir()), "--f", "2.0", "--out", out, "--model", model_path, *NET)
    _check_batch(result, out, awkward, broken)
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warnings and all(line.startswith(f"warning: {folder}/") for line in warnings)  # each names its file
    rerun = run(*sorted(folder.iterdir()), "--f", "2.0", "--out", out, "--model", model_path, *NET, "--json")
    assert rerun.exit_code == 1 and len(error_lines(rerun)) == len(broken)
    assert {r["status"] for r in json.loads(rerun.stdout) if "status" in r} == {"skipped"}


def test_acceptance_batch_depth_path_keeps_orientation(corpus, tmp_path):
    """Constant depth at the focus distance: nothing is blurred, so every output must equal
    its upright input, which shows orientation and colour conversion are right."""
    folder, awkward, broken = corpus
    depth_dir = tmp_path / "depth"
    depth_dir.mkdir()
    for item in awkward:
        np.save(depth_dir / f"{item.path.stem}.npy", np.full(item.upright.shape[:2], 2.0, np.float32))
    out = tmp_path / "out"
    result = run(*sorted(folder.iterdir()), "--f", "2.0", "--out", out, "--depth", depth_dir,
                 "--focus-distance", "2", "--format", "png")
    _check_batch(result, out, awkward, broken, ".png")
    for item in awkward:
        with Image.open(out / f"{item.path.stem}_bokeh_f2.0.png") as im:
            got = np.asarray(im.convert("RGB"), dtype=np.float32)
        seen = np.rint(load_photo(item.path).srgb * 255)  # what the renderer was given
        assert np.abs(got - seen).max() <= 1, item.path.name
        assert np.abs(got - item.upright).mean() < 8.0, item.path.name  # JPEG loss on tiny files
        if min(item.upright.shape[:2]) > 4:  # any flip of the picture is far off
            for flipped in (item.upright[::-1], item.upright[:, ::-1]):
                assert np.abs(got - flipped).mean() > 20, item.path.name


@pytest.mark.parametrize("height, width", [(1, 1), (2, 3), (5, 7), (9, 70), (130, 3)])
@pytest.mark.parametrize("work_size_px, tile_px", [(1024, 512), (0, 0), (128, 64)])
def test_tiny_and_thin_images_through_the_network(tmp_path, model_path, height, width, work_size_px, tile_px):
    """Sizes below a tile and not multiples of the token stride (the network pads)."""
    photo = write_photo(tmp_path / "t.png", upright_pattern(height, width))
    result = render_file(photo, RenderSettings("2.0", model=str(model_path), out_dir=tmp_path / "out",
                                               work_size_px=work_size_px, tile_px=tile_px))
    with Image.open(result.output) as im:
        assert im.size == (width, height)


def test_max_pixels_limit(tmp_path):
    small = write_photo(tmp_path / "small.jpg", upright_pattern(10, 20), make_exif(focus_m=2.0))
    large = write_photo(tmp_path / "large.jpg", upright_pattern(24, 40), make_exif(focus_m=2.0))
    for p in (small, large):
        np.save(tmp_path / f"{p.stem}.npy", np.full(read_size(p)[::-1], 3.0, np.float32))
    out = tmp_path / "out"
    result = run(small, large, "--f", "2.0", "--out", out, "--depth", tmp_path / "{stem}.npy", "--max-pixels", 500)
    assert result.exit_code == 1
    assert len(error_lines(result)) == 1 and error_lines(result)[0].startswith(f"error: {large}: too many pixels")
    assert [p.name for p in out.iterdir()] == ["small_bokeh_f2.0.jpg"]
    assert run(small, "--f", "2", "--max-pixels", 0).exit_code == 2


def test_same_output_name_in_one_batch(tmp_path):
    """a.jpg and a.png would both write a_bokeh_f2.jpg: the second fails instead of being
    silently 'skipped'; when the first fails, the second renders."""
    a_jpg = write_photo(tmp_path / "a.jpg", upright_pattern(8, 12), make_exif(focus_m=2.0))
    a_png = write_photo(tmp_path / "a.png", upright_pattern(8, 12))
    np.save(tmp_path / "a.npy", np.full((8, 12), 2.0, np.float32))
    out = tmp_path / "out"
    result = run(a_jpg, a_png, "--f", "2", "--out", out, "--depth", tmp_path / "a.npy")
    assert result.exit_code == 1
    assert error_lines(result) == [f"error: {a_png}: same output a_bokeh_f2.jpg as {a_jpg.absolute()}; "
                                   f"render one of them separately"]
    (tmp_path / "b.jpg").write_bytes(b"")
    b_png = write_photo(tmp_path / "b.png", upright_pattern(8, 12))
    result = run(tmp_path / "b.jpg", b_png, "--f", "2", "--out", out, "--depth", tmp_path / "a.npy")
    assert result.exit_code == 1 and len(error_lines(result)) == 1
    assert (out / "b_bokeh_f2.jpg").is_file()


# --- output failures ----------------------------------------------------------------------

@pytest.fixture
def batch(tmp_path):
    """Three photos with constant depth maps beside them as <stem>.npy."""
    photos = []
    for i in range(3):
        photos.append(write_photo(tmp_path / f"p{i}.jpg", upright_pattern(16, 24), make_exif(focus_m=2.0)))
        np.save(tmp_path / f"p{i}.npy", np.full((16, 24), 4.0, np.float32))
    return photos, ("--depth", tmp_path / "{stem}.npy")


@pytest.mark.parametrize("where", ["parent is a file", "out is a file"])
def test_output_folder_that_cannot_exist(tmp_path, batch, where):
    photos, depth = batch
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    out = blocker / "out" if where == "parent is a file" else blocker
    result = run(*photos, "--f", "2", "--out", out, *depth)
    assert result.exit_code == 2                       # no photo could succeed: said once, before any render
    assert error_lines(result) == [f"error: --out {out}: {blocker} is a file, not a folder"]
    assert blocker.read_text() == "a file, not a folder"


def _failing_once(monkeypatch, target, name, error_no, fail_on_call):
    """Make ``target.name`` raise OSError(error_no) on its ``fail_on_call``-th call (1-based),
    after writing half of what a save would have written."""
    real = getattr(target, name)
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == fail_on_call:
            if name == "save" and isinstance(args[1], (str, os.PathLike)):
                Path(args[1]).write_bytes(b"\xff\xd8 half a JPEG")
            elif name == "save":        # a JPEG is encoded in memory first (for its XMP segments)
                args[1].write(b"\xff\xd8 half a JPEG")
            raise OSError(error_no, os.strerror(error_no))
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, flaky)


@pytest.mark.parametrize("target, name, error_no, message", [
    (Image.Image, "save", errno.ENOSPC, "disk full"),
    (os, "link", errno.ENOSPC, "disk full"),       # outputs are claimed by a hard link, never replaced
    (os, "link", errno.EACCES, "Permission denied"),
    (os, "fsync", errno.EIO, "Input/output error"),
])
def test_failed_write_is_one_line_and_leaves_nothing(tmp_path, batch, monkeypatch, target, name, error_no, message):
    photos, depth = batch
    out = tmp_path / "out"
    _failing_once(monkeypatch, target, name, error_no, fail_on_call=2)
    result = run(*photos, "--f", "2", "--out", out, *depth)
    assert result.exit_code == 1
    assert error_lines(result) == [f"error: {out}/p1_bokeh_f2.jpg: cannot write: {message}"]
    assert sorted(p.name for p in out.iterdir()) == ["p0_bokeh_f2.jpg", "p2_bokeh_f2.jpg"]
    monkeypatch.undo()
    rerun = run(*photos, "--f", "2", "--out", out, *depth)
    assert rerun.exit_code == 0 and len(list(out.iterdir())) == 3


def test_full_disk_while_saving_depth_leaves_the_input_to_do(tmp_path, batch, monkeypatch):
    """With --save-depth the photo is written last: a failed depth write leaves no output photo,
    so the rerun renders that input again instead of skipping it with its depth missing."""
    photos, depth = batch
    out = tmp_path / "out"
    real_save = np.save
    monkeypatch.setattr(np, "save", lambda *a, **k: (_ for _ in ()).throw(OSError(errno.ENOSPC, "full")))
    result = run(photos[0], "--f", "2", "--out", out, *depth, "--save-depth")
    assert result.exit_code == 1 and "disk full" in error_lines(result)[0]
    assert list(out.iterdir()) == []
    monkeypatch.setattr(np, "save", real_save)
    assert run(photos[0], "--f", "2", "--out", out, *depth, "--save-depth").exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == ["p0_bokeh_f2.jpg", "p0_depth.npy", "p0_depth.png",
                                                     "p0_depth_preview.jpg"]


def test_unexpected_failure_is_one_line_and_the_batch_goes_on(tmp_path, batch, monkeypatch):
    """A bug or exhausted memory on one photo: one line naming it, the others still rendered."""
    photos, depth = batch
    import bokehcli.pipeline as pipeline

    real = pipeline.render_with_depth
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory")
        if len(calls) == 2:
            raise MemoryError()
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "render_with_depth", flaky)
    out = tmp_path / "out"
    result = run(*photos, "--f", "2", "--out", out, *depth)
    assert result.exit_code == 1
    assert error_lines(result) == [
        f"error: {photos[0]}: internal error (RuntimeError: DefaultCPUAllocator: can't allocate memory); "
        f"please report it",
        f"error: {photos[1]}: out of memory"]
    assert [p.name for p in out.iterdir()] == ["p2_bokeh_f2.jpg"]


# --- untrusted weights --------------------------------------------------------------------

class _Payload:
    """Unpickling this creates a marker file: proof that a pickle was executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("kind", ["pickle", "torch.save", "noise", "empty", "truncated"])
def test_weights_are_never_unpickled(tmp_path, batch, model_path, kind):
    photos, _ = batch
    marker = tmp_path / "pwned"
    weights = tmp_path / "evil.safetensors"
    if kind == "pickle":
        weights.write_bytes(pickle.dumps({"weights": _Payload(marker)}))
    elif kind == "torch.save":
        torch.save({"weights": _Payload(marker)}, weights)
    elif kind == "noise":
        weights.write_bytes(bytes(range(256)) * 4)
    elif kind == "truncated":
        weights.write_bytes(model_path.read_bytes()[:1000])
    else:
        weights.write_bytes(b"")
    out = tmp_path / "out"
    result = run(*photos, "--f", "2", "--out", out, "--model", weights)
    # Weights no photo could use: one usage error before the batch, naming the file.
    assert result.exit_code == 2
    lines = error_lines(result)
    assert len(lines) == 1 and str(weights) in lines[0], lines
    assert not marker.exists()
    assert not out.exists() or not list(out.iterdir())


# --- fuzz: the whole render path on mutated real files ------------------------------------

def _small_corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg") and p.stat().st_size <= 60_000)


class _Hang(Exception):
    pass


def _alarm(signum, frame):  # noqa: ARG001 - signal handler signature
    raise _Hang()


FUZZ_SECONDS_PER_FILE = 20


@pytest.mark.skipif(not _small_corpus_files(), reason="no exif-corpus")
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_render_file_on_mutated_corpus_files(tmp_path, model_path, data):
    """Mutated real JPEGs (bytes flipped, cut, or spliced) through decode, lens metadata, the
    network or a given depth, render and encode: either an output of the upright size or a
    BokehError, within a bounded time."""
    source = data.draw(st.sampled_from(_small_corpus_files()))
    raw = bytearray(source.read_bytes())
    how = data.draw(st.sampled_from(["flip", "cut", "splice"]))
    if how == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    elif how == "cut":
        raw = raw[:data.draw(st.integers(0, len(raw)))]
    else:
        at = data.draw(st.integers(0, len(raw)))
        raw[at:at] = data.draw(st.binary(min_size=1, max_size=64))
    path = tmp_path / "mutant.jpg"
    path.write_bytes(bytes(raw))
    use_network = data.draw(st.booleans())
    depth = None
    if not use_network:
        try:
            width, height = read_size(path)
        except BokehError:
            width, height = 1, 1
        if width * height <= 300_000:
            depth = str(tmp_path / "mutant.npy")
            np.save(depth, np.full((height, width), 3.0, np.float32))
    options = RenderSettings("2.0", depth=depth, model=str(model_path), out_dir=tmp_path / "out", overwrite=True,
                             max_pixels=300_000, work_size_px=64, tile_px=0)
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(FUZZ_SECONDS_PER_FILE)
    try:
        result = render_file(path, options)
    except BokehError as exc:
        assert str(exc).startswith(str(path)) or str(exc).startswith(str(tmp_path)), exc
        assert "\n" not in str(exc)
        return
    except _Hang:
        pytest.fail(f"{source.name} mutated by {how}: no answer in {FUZZ_SECONDS_PER_FILE} s")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    with Image.open(result.output) as im:
        assert im.size == read_size(path)


def test_atomic_outputs_get_ordinary_permissions(tmp_path):
    """mkstemp makes 0600 files; outputs must look like any other file the user writes."""
    import os
    from bokehcli.files import atomic_path

    target = tmp_path / "x.bin"
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"data")
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask
    assert [p.name for p in tmp_path.iterdir()] == ["x.bin"]
