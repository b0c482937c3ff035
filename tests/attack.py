"""The attack of issue 21 on `bokeh` (the code of this checkout), re-runnable from a clean clone.

    OMP_NUM_THREADS=1 python tests/attack.py [--quick] [--only-b] [--json COUNTS.json]

Every input is built here (tests/hostile.py, photos.py, awkward.py), in a temporary folder removed
at the end; the real-camera JPEGs of ../shared/exif-corpus, where that folder exists, join the
photos built here as sources of mutants. ``--quick``: fewer fuzzed files and trials (7.5 min on
two shared cores; the full run 39 min, under others' load). Exit code 0 when every problem count
is zero, else 1; the table of counts goes to stdout, and with ``--json`` to a file.

Part A (files): every hostile or fuzzed file goes through the CLI (`bokeh info`, `bokeh render`)
in a forked child per file (torch loaded once), with a limit of 10 s of CPU time (60 s of wall
clock) and a 4 GB address space cap. Counted: files tried, crashes (a traceback, an uncaught
exception, "internal error"), hangs (> 10 s), out-of-memory lines (a memory bomb hitting the
cap), wrong exit codes (per category: 1 for a bad file, 2 for bad usage, 0 or 1 for fuzz), error
lines that are not one line.

Part B (processes): the real entry point `python -m bokehcli` in subprocesses: PostScript with a
fake `gs` on PATH, HEIC without pillow-heif, odd names under a strict UTF-8 stdout, signals during
the imports and mid-batch (SIGINT, SIGTERM, SIGKILL then rerun), Ctrl-C / SIGTERM to the process
group of `train --workers 2` and `synth --workers 2`, concurrent renders into one --out. Counted:
trials, crashes, hangs, wrong exit codes, leftover temporary files, lost outputs.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from bokehcli.cli.app import app  # noqa: E402

from awkward import build_broken  # noqa: E402
from bokehcli.lens.xmp import MAX_XMP_BYTES  # noqa: E402
from bokehcli.models.factory import create_model, save_model  # noqa: E402
from hostile import (POSTSCRIPT, fake_ghostscript, flat_png16, heic_lookalike, hostile_configs, ihdr,  # noqa: E402
                     jpeg_with_xmp, npy_header_only, png_chunk, png_rows, png_with_second_header, write_animation,
                     write_weights, xmp_bombs)
from lens_builder import jpeg, tiff  # noqa: E402
from photos import make_exif, textured_rgb, write_photo  # noqa: E402

CORPUS = REPO.parent / "shared" / "exif-corpus"
HANG_S = 10
# A file's run is a hang past HANG_S seconds of CPU time (what a parser stuck in a loop burns;
# wall-clock time on two shared cores also counts the other engineers' work), or past this much
# wall-clock time (a run blocked without using the CPU).
BLOCKED_S = 6 * HANG_S
MEMORY_CAP = 4 << 30
PY = sys.executable
TINY = dict(dim=16, heads=2, head_dim=8, blocks=2, fusion_every=1, skip_dim=8, decoder_dim=8, lens_dim=8)
count = collections.Counter()
problems: list[str] = []


def problem(kind: str, what: str) -> None:
    count[kind] += 1
    problems.append(f"{kind}: {what}")


# --- part A: files ------------------------------------------------------------------------

def run_in_child(args: list[str]) -> dict:
    """The CLI (Typer app, in-process) on ``args`` in a forked child: exit code, stderr, stdout,
    uncaught exception, seconds; {"hang": True} past HANG_S of CPU time or BLOCKED_S."""
    read_fd, write_fd = os.pipe()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
        resource.setrlimit(resource.RLIMIT_CPU, (HANG_S, HANG_S + 1))  # SIGXCPU ends the child
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # and leaves no core file
        result = CliRunner().invoke(app, args)
        exc = result.exception
        report = {"code": result.exit_code, "stdout": result.stdout[-4000:], "stderr": result.stderr[-4000:],
                  "exception": None if exc is None or isinstance(exc, SystemExit) else f"{type(exc).__name__}: {exc}"}
        data = json.dumps(report).encode()
        while data:
            data = data[os.write(write_fd, data):]
        os._exit(0)
    os.close(write_fd)
    os.set_blocking(read_fd, False)
    chunks = []

    def drain():
        while True:
            try:
                piece = os.read(read_fd, 1 << 16)
            except BlockingIOError:
                return
            if not piece:
                return
            chunks.append(piece)

    try:
        while True:
            drain()
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() - start > BLOCKED_S:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return {"hang": True}
            time.sleep(0.005)
        drain()
    finally:
        os.close(read_fd)
    text = b"".join(chunks).decode()
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGXCPU:
        return {"hang": True}
    if not text:
        return {"code": None, "stderr": f"child died, status {status}", "stdout": "", "exception": "died"}
    report = json.loads(text)
    report["seconds"] = time.monotonic() - start
    return report


def check(category: str, name: str, args: list[str], allowed: set[int]) -> dict:
    count["files tried"] += 1
    report = run_in_child(args)
    label = f"{category} / {name}"
    if report.get("hang"):
        problem("hangs > 10 s", label)
        return report
    output = report["stdout"] + report["stderr"]
    if report["exception"] or "Traceback" in output or "internal error" in output:
        problem("crashes", f"{label}: {report['exception'] or output[-300:]}")
    if "out of memory" in output:
        problem("out of memory (4 GB cap)", label)
    if report["code"] not in allowed:
        problem("wrong exit codes", f"{label}: {report['code']} not in {sorted(allowed)}: {report['stderr'][-300:]}")
    for line in report["stderr"].splitlines():
        if not expected_stderr(line):
            problem("error lines split or unexpected stderr", f"{label}: {line[:200]!r}")
            break
    return report


def build_files(folder: Path, quick: bool) -> list[tuple[str, str, list[str], set[int]]]:
    """(category, name, CLI args, allowed exit codes) for every file of part A."""
    folder.mkdir(parents=True)
    cases = []
    out = str(folder / "out")
    depth_const = folder / "const.npy"
    np.save(depth_const, np.full((48, 64), 2.0, np.float32))
    photo = write_photo(folder / "photo.jpg", textured_rgb(48, 64), make_exif(focus_m=2.0))
    weights = folder / "tiny.safetensors"
    torch.manual_seed(0)
    model = create_model("nano", name="tiny", **TINY)
    save_model(model, weights)
    net = ["--model", str(weights), "--work-size", "64", "--tile", "0", "--max-pixels", "4000000"]

    def both(category, path, render_codes, info_codes=frozenset({0, 1})):
        """`info` reads headers only (a file whose pixels are broken may pass it); `render` decodes."""
        cases.append((category, path.name, ["info", str(path)], set(info_codes)))
        cases.append((category, path.name, ["render", str(path), "--f", "2", "--out", out, "--overwrite", *net],
                      set(render_codes)))

    # 1. XMP bombs in JPEG APP1 segments, three sizes
    for size in (64 << 10, 256 << 10, MAX_XMP_BYTES):
        for name, packet in xmp_bombs(size).items():
            path = folder / f"xmp_{name.replace(' ', '_')}_{size >> 10}k.jpg"
            path.write_bytes(jpeg_with_xmp(packet))
            cases.append(("XMP bomb", path.name, ["info", str(path)], {0}))
    # 2. PNG header tricks
    rng = np.random.default_rng(21)
    for i, (small, big) in enumerate([((64, 48), (6000, 6000)), ((1, 1), (3000, 2000)), ((64, 48), (64, 48)),
                                      ((8, 8), (100, 60000)), ((60000, 1), (1, 60000))]):
        path = folder / f"ihdr_second_{i}.png"
        path.write_bytes(png_with_second_header(small, big))
        cases.append(("PNG IHDR trick", path.name, ["render", str(path), "--f", "2", "--depth", str(depth_const),
                                                    "--out", out, "--max-pixels", "10000"], {1}))
    for i in range(6):  # an IHDR after the image data, a second before it, one lying about its size
        rows = rng.integers(0, 256, (12, 1 + 16 * 6), dtype=np.uint8)
        rows[:, 0] = rng.integers(0, 5, 12)
        data = png_rows(rows, 16, 12)
        variants = [data[:-12] + ihdr(16, 12) + png_chunk(b"IEND", b""),
                    data[:33] + ihdr(5000, 5000) + data[33:],
                    data[:8] + ihdr(16, 5000) + data[33:],
                    data[:8] + ihdr(50000, 12) + data[33:],
                    data[:8] + ihdr(16, 12, 16, 7) + data[33:],
                    data[:8] + png_chunk(b"IHDR", b"\0" * 12) + data[33:]]
        path = folder / f"ihdr_lie_{i}.png"
        path.write_bytes(variants[i])
        both("PNG IHDR trick", path, {1})
    # 3. 16-bit PNGs: tall, wide, every filter, interlaced, mutated
    for w, h in [(16, 12000), (12000, 16), (100, 30000), (1, 1), (3, 50000)]:
        path = folder / f"png16_{w}x{h}.png"
        path.write_bytes(flat_png16(w, h, value=30000))
        cases.append(("16-bit PNG", path.name, ["render", str(path), "--f", "2", "--out", out, "--overwrite",
                                               *net, "--save-depth"], {0}))
    n_png16 = 60 if quick else 400
    for i in range(n_png16):
        w, h = int(rng.integers(1, 80)), int(rng.integers(1, 80))
        channels = int(rng.choice([1, 2, 3, 4]))
        colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
        rows = rng.integers(0, 256, (h, 1 + w * channels * 2), dtype=np.uint8)
        rows[:, 0] = rng.integers(0, 5, h)
        raw = bytearray(png_rows(rows, w, h, 16, colour_type))
        how = rng.integers(0, 4)
        if how == 1:
            for _ in range(int(rng.integers(1, 6))):
                raw[int(rng.integers(8, len(raw)))] = int(rng.integers(0, 256))
        elif how == 2:
            raw = raw[:int(rng.integers(8, len(raw)))]
        elif how == 3:
            raw[26:27] = bytes([int(rng.choice([1, 2, 7]))])  # odd interlace / compression bytes
        path = folder / f"png16_fuzz_{i}.png"
        path.write_bytes(bytes(raw))
        both("16-bit PNG fuzz", path, {0, 1})
    # 4. depth-map bombs
    for name, data in [("zeros_6000.png", flat_png16(6000, 6000, channels=1)),
                       ("zeros_100x60000.png", flat_png16(100, 60000, channels=1)),
                       ("header_6000.npy", npy_header_only((6000, 6000))),
                       ("header_huge.npy", npy_header_only((2**31, 2**31))),
                       ("header_3d.npy", npy_header_only((48, 64, 3))),
                       ("header_int.npy", npy_header_only((48, 64), "<i4")),
                       ("header_object.npy", npy_header_only((48, 64), "|O")),
                       ("second_ihdr.png", png_with_second_header((64, 48), (6000, 6000))),
                       ("postscript.png", POSTSCRIPT)]:
        path = folder / f"depth_{name}"
        path.write_bytes(data)
        cases.append(("depth-map bomb", path.name, ["render", str(photo), "--f", "2", "--depth", str(path),
                                                    "--out", out, "--overwrite", "--max-pixels", "10000"], {1}))
    # 5. hostile weights: configs, tensors
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    config = json.loads(model.config.to_json())
    for name, text in hostile_configs(config).items():
        path = folder / f"weights_{name.replace(' ', '_').replace(',', '')}.safetensors"
        write_weights(path, tensors, text)
        cases.append(("hostile weights", path.name, ["render", str(photo), "--f", "2", "--model", str(path),
                                                     "--out", out], {2}))
    for i, value in enumerate([float("nan"), float("inf"), -float("inf")]):
        key = sorted(tensors)[i * 7]
        bad = {**tensors, key: torch.full_like(tensors[key], value)}
        path = folder / f"weights_nonfinite_{i}.safetensors"
        write_weights(path, bad, json.dumps(config))
        cases.append(("hostile weights", path.name, ["render", str(photo), "--f", "2", "--model", str(path),
                                                     "--out", out], {2}))
    values = ["0", "-1", "100000", "1" + "0" * 30, "1e400", "Infinity", "NaN", "0.5", "true", "null", '"x"', "[]"]
    for i in range(20 if quick else 80):
        changed = {k: random.Random(i * 31 + j).choice(values)
                   for j, k in enumerate(random.Random(i).sample(sorted(config), random.Random(i).randint(1, 3)))}
        text = json.dumps({**config, **{k: f"@{k}@" for k in changed}})
        for k, raw in changed.items():
            text = text.replace(f'"@{k}@"', raw)
        path = folder / f"weights_fuzz_{i}.safetensors"
        write_weights(path, tensors, text)
        cases.append(("hostile weights fuzz", path.name, ["render", str(photo), "--f", "2", "--model", str(path),
                                                          "--out", out, *net[2:]], {0, 2}))
    # 6. PostScript and other formats under photo names
    for name in ("holiday.jpg", "holiday.png", "holiday.tif", "holiday.heic"):
        path = folder / f"ps_{name}"
        path.write_bytes(POSTSCRIPT)
        both("PostScript", path, {1}, {1})
    for name, data in [("heic_lookalike.heic", heic_lookalike()), ("pdf.jpg", b"%PDF-1.4\n%\xe2\xe3\n1 0 obj\n"),
                       ("xpm.jpg", b"/* XPM */\nstatic char *x[] = {\n"), ("svg.jpg", b"<svg xmlns='x'/>")]:
        path = folder / name
        path.write_bytes(data)
        both("other formats", path, {1}, {1})
    for suffix in (".gif", ".png", ".webp"):
        path = write_animation(folder / f"animation{suffix}")
        cases.append(("animation", path.name, ["render", str(path), "--f", "2", "--out", out, "--overwrite", *net],
                      {0}))
    # the broken files of issue 8 still fail in one line
    for path in build_broken(folder / "broken"):
        both("broken (issue 8)", path, {1})
    # 12. usage errors
    for template in ("{stem}{stem.foo}.npy", "{stem}/{0}", "{stem}{", "{stem!r}{stem}", "{stem}{stem:>999999999}"):
        cases.append(("usage", template, ["render", str(photo), "--f", "2", "--depth", str(folder / template),
                                          "--out", out], {2}))
    for flag, value in [("--focal-length", "1e300"), ("--focal-length", "nan"), ("--focus-distance", "1e300"),
                        ("--focus-distance", "1e-320"), ("--crop-factor", "1e-300"), ("--sensor-diagonal", "inf"),
                        ("--blade-rotation", "inf"), ("--highlight-boost", "1e300"), ("--f", "1e300"),
                        ("--tile", "-5"), ("--focus-at", "99999999999999999999,1"), ("--quality", "1000"),
                        ("--blades", "2"), ("--max-pixels", "0"), ("--format", "bmp")]:
        allowed = {1} if flag == "--focus-at" else {2}  # --focus-at outside the image: that photo fails
        cases.append(("usage", f"{flag} {value}", ["render", str(photo), "--f", "2", "--depth", str(depth_const),
                                                   "--out", out, "--overwrite", flag, value], allowed))
    dots = folder / "templ" / "...jpg"
    dots.parent.mkdir()
    shutil.copy(photo, dots)
    cases.append(("usage", "stem ..", ["render", str(dots), "--f", "2", "--depth", str(folder / "{stem}" / "x.npy"),
                                       "--out", out], {1}))
    # XMP 1e-320 and other tiny focus values
    for value in (b"1e-320", b"5e-324", b"1e-310", b"0.0000001", b"-0", b"4294967295/1", b"1/0", b"0/0"):
        path = folder / f"xmp_focus_{value.decode().replace('/', '_')}.jpg"
        path.write_bytes(jpeg_with_xmp(b'<x aux:ApproximateFocusDistance="' + value + b'"/>'))
        cases.append(("XMP focus", path.name, ["info", str(path), "--json"], {0}))
    # mutated camera JPEGs (flips, cuts, splices) and injected XMP bombs
    sources = camera_like_jpegs(folder / "sources") + sorted(
        p for p in (CORPUS.rglob("*") if CORPUS.is_dir() else []) if p.suffix.lower() in (".jpg", ".jpeg")
        and p.stat().st_size <= 60_000)
    n_mutants = 150 if quick else 1500
    rand = random.Random(21)
    for i in range(n_mutants):
        source = rand.choice(sources)
        raw = bytearray(source.read_bytes())
        how = rand.choice(["flip", "cut", "splice", "xmp"])
        if how == "flip":
            for _ in range(rand.randint(1, 8)):
                raw[rand.randrange(len(raw))] = rand.randrange(256)
        elif how == "cut":
            raw = raw[:rand.randrange(len(raw) + 1)]
        elif how == "splice":
            at = rand.randrange(len(raw) + 1)
            raw[at:at] = bytes(rand.randrange(256) for _ in range(rand.randint(1, 64)))
        else:
            bomb = rand.choice(list(xmp_bombs(60_000).values()))
            body = b"http://ns.adobe.com/xap/1.0/\0" + bomb
            raw[2:2] = b"\xff\xe1" + len(body + b"..").to_bytes(2, "big") + body
        path = folder / f"mutant_{i}_{how}.jpg"
        path.write_bytes(bytes(raw))
        both("mutated camera JPEG", path, {0, 1})
    return cases


def camera_like_jpegs(folder: Path) -> list[Path]:
    """Sources of mutants when no camera's own JPEGs are at hand: EXIF of several makers (the
    maker name picks the maker-note decoder), orientations, an XMP focus distance."""
    folder.mkdir()
    paths = []
    for i, make in enumerate(["Canon", "NIKON CORPORATION", "SONY", "FUJIFILM", "OLYMPUS IMAGING CORP.",
                              "Panasonic", "Apple", "samsung"]):
        path = folder / f"exif_{i}.jpg"
        path.write_bytes(jpeg(tiff(make, "Model 1"), size=(64 + 8 * i, 48)))
        paths.append(path)
    for orientation in (1, 3, 6, 8):
        paths.append(write_photo(folder / f"orientation_{orientation}.jpg", textured_rgb(48, 64, seed=orientation),
                                 make_exif(focal_mm=35.0, focus_m=3.0, focal_35mm=52, orientation=orientation)))
    path = folder / "xmp_focus.jpg"
    path.write_bytes(jpeg_with_xmp(b'<x aux:ApproximateFocusDistance="250/100"/>'))
    return [*paths, path]


def part_a(folder: Path, quick: bool) -> None:
    cases = build_files(folder, quick)
    # The commands import most of their modules on first use: once here, not in every forked
    # child (1.7 s a file otherwise), by a render and an info of the plain photo.
    for args in (["render", folder / "photo.jpg", "--f", "2", "--model", folder / "tiny.safetensors",
                  "--work-size", "64", "--tile", "0", "--out", folder / "warm-up"], ["info", folder / "photo.jpg"]):
        warm = CliRunner().invoke(app, list(map(str, args)))
        assert warm.exit_code == 0, warm.output
    started = time.monotonic()
    for i, (category, name, args, allowed) in enumerate(cases):
        check(category, name, args, allowed)
        if i % 200 == 0:
            print(f"  part A {i}/{len(cases)} ({time.monotonic() - started:.0f} s) {dict(count)}", flush=True)
    leftovers = [p for p in folder.rglob(".bokeh-tmp-*")]
    for path in leftovers:
        problem("leftover temporary files", str(path))


# --- part B: processes --------------------------------------------------------------------

def start(*args, env=None, **popen):
    return subprocess.Popen([PY, "-m", "bokehcli", *map(str, args)], cwd=REPO, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True,
                            env={**os.environ, "COLUMNS": "200", **(env or {})}, **popen)


def finish(proc, label: str, timeout: float = 120) -> tuple[str, str] | None:
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        problem("hangs > 10 s", f"{label}: no exit in {timeout} s")
        return None
    if "Traceback" in stderr or "internal error" in stderr:
        problem("crashes", f"{label}: {stderr[-400:]}")
    return stdout, stderr


def group_gone(proc, label: str) -> None:
    deadline = time.monotonic() + HANG_S
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    problem("hangs > 10 s", f"{label}: workers alive {HANG_S} s after the parent")


# What may precede the one line of a stopped run on stderr: warnings and the plain progress lines
# a command writes outside a terminal (render's "[3/8] a.jpg: rendered -> ...", train's "step ...",
# synth's and eval's "synth: ..." / "eval: ...").
PROGRESS = re.compile(r"(warning:|step |\[\d+/\d+\] |synth: |eval: )")


def expected_stderr(line: str) -> bool:
    """A line a command may write on stderr: a failure's one line, a warning, progress."""
    return line.startswith("error:") or PROGRESS.match(line) is not None


def is_stop_line(line: str, word: str) -> bool:
    """The last line of a stopped run: ``interrupted`` or ``terminated``, alone or with what
    finished (``interrupted: 3 of 8 rendered (...); rerun to finish the rest``)."""
    return line == word or line.startswith(f"{word}: ")


def expect_stop(proc, signum, label: str) -> None:
    os.killpg(proc.pid, signum)
    t0 = time.monotonic()
    result = finish(proc, label, timeout=60)
    if time.monotonic() - t0 > HANG_S:
        problem("hangs > 10 s", f"{label}: {time.monotonic() - t0:.0f} s to stop")
    if result is None:
        return
    count["interrupt trials"] += 1
    group_gone(proc, label)
    lines = result[1].splitlines()
    if proc.returncode == 0 and all(PROGRESS.match(line) for line in lines):
        count["signal after the work was done (exit 0)"] += 1
        return
    want = {signal.SIGINT: (130, "interrupted"), signal.SIGTERM: (143, "terminated")}[signum]
    if proc.returncode != want[0] or not lines or not is_stop_line(lines[-1], want[1]) or any(
            not PROGRESS.match(line) for line in lines[:-1]):
        problem("wrong exit codes", f"{label}: rc {proc.returncode}, stderr {result[1][-300:]!r}")


def wait_until(condition, proc, timeout=120) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def temps(folder: Path, label: str) -> None:
    for path in folder.rglob(".bokeh-tmp-*"):
        problem("leftover temporary files", f"{label}: {path}")


def part_b(folder: Path, quick: bool) -> None:
    folder.mkdir(parents=True)
    rand = random.Random(7)
    # a batch of photos with depth maps
    batch = folder / "batch"
    batch.mkdir()
    for i in range(20):  # seconds of work, so that the signals land before the batch is done
        write_photo(batch / f"p{i:02d}.jpg", textured_rgb(480, 720, seed=i), make_exif(focus_m=2.0))
        np.save(batch / f"p{i:02d}.npy", np.full((480, 720), 3.0, np.float32))
    photos = sorted(batch.glob("p*.jpg"))
    render = ["render", *photos, "--f", "1.4", "--depth", str(batch / "{stem}.npy")]

    # PostScript with a fake Ghostscript on PATH
    spy_env, marker = fake_ghostscript(folder)
    ps = folder / "holiday.jpg"
    ps.write_bytes(POSTSCRIPT)
    for args in (["info", ps], ["render", ps, "--f", "2", "--depth", batch / "p00.npy", "--out", folder / "ps"]):
        count["process trials"] += 1
        result = finish(start(*args, env=spy_env), "PostScript")
        if result and (marker.exists() or "EPS" not in result[1]):
            problem("crashes", "PostScript reached Ghostscript or was not named")
    # HEIC without pillow-heif
    heic = folder / "IMG.HEIC"
    heic.write_bytes(heic_lookalike())
    code = ("import sys; sys.modules['pillow_heif'] = None; sys.argv = ['bokeh', 'info', sys.argv[1]]; "
            "from bokehcli.cli.app import main; main()")
    proc = subprocess.Popen([PY, "-c", code, str(heic)], cwd=REPO, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    count["process trials"] += 1
    result = finish(proc, "HEIC")
    if result and (proc.returncode != 1 or "pip install pillow-heif" not in result[1]):
        problem("wrong exit codes", f"HEIC: {proc.returncode} {result[1]!r}")
    # odd names under a strict UTF-8 stdout
    odd = folder / "odd"
    odd.mkdir()
    names = [b"caf\xe9.jpg", b"new\nline.jpg", b"tab\tand\x1b[31mred.jpg", b"[red]markup.jpg", b"-dash.jpg",
             b" space .jpg", "ünï cödé ‮rtl.jpg".encode(), b"x" * 246 + b".jpg", b"...jpg", b"a.b.c.JPG"]
    for name in names:
        shutil.copy(photos[0], odd / os.fsdecode(name))
    files = [str(odd / os.fsdecode(n)) for n in names]
    for args in (["info", "--", *files], ["render", "--f", "2", "--depth", str(batch / "p00.npy"), "--out",
                                          str(odd / "out"), "--", *files, str(odd / "missing\nfile.jpg")]):
        count["process trials"] += 1
        proc = start(*args, env={"PYTHONIOENCODING": "utf-8", "LC_ALL": "C.UTF-8"})
        result = finish(proc, f"odd names ({args[0]})")
        if result is None:
            continue
        if proc.returncode not in (0, 1):
            problem("wrong exit codes", f"odd names: {proc.returncode}")
        stray = [line for line in result[1].splitlines() if not expected_stderr(line)]
        if stray:
            problem("error lines split or unexpected stderr", f"odd names: {stray[:3]}")
    # signals during start-up and mid-batch, then a rerun
    trials = 6 if quick else 16
    for trial in range(trials):
        signum = (signal.SIGINT, signal.SIGTERM)[trial % 2]
        out = folder / f"run{trial}"
        proc = start(*render, "--out", out)
        if trial < trials // 2:
            time.sleep(rand.uniform(0.2, 3.0))  # during the imports or the first photos (Python itself starts first)
        elif not wait_until(lambda: out.is_dir() and any(p.suffix == ".jpg" for p in out.iterdir()), proc):
            problem("wrong exit codes", f"mid-batch {trial}: no output appeared")
            continue
        else:
            time.sleep(rand.uniform(0, 1.0))
        expect_stop(proc, signum, f"render {signal.Signals(signum).name} trial {trial}")
        temps(out, f"render trial {trial}") if out.exists() else None
        rerun = start(*render, "--out", out, "--json")
        result = finish(rerun, f"rerun {trial}", timeout=300)
        if result and (rerun.returncode != 0 or len(list(out.glob("*_bokeh_f1.4.jpg"))) != len(photos)):
            problem("lost outputs", f"rerun {trial}: rc {rerun.returncode}, {len(list(out.glob('*.jpg')))} outputs")
    for trial in range(3 if quick else 6):  # SIGKILL, then a rerun removes what the kill left
        out = folder / f"kill{trial}"
        proc = start(*render, "--out", out, "--format", "tiff")
        wait_until(lambda: out.is_dir() and any(out.iterdir()), proc)
        time.sleep(rand.uniform(0, 2.0))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        count["interrupt trials"] += 1
        rerun = start(*render, "--out", out, "--format", "tiff")
        result = finish(rerun, f"rerun after kill {trial}", timeout=300)
        temps(out, f"rerun after kill {trial}")
        if result and len(list(out.glob("*_bokeh_f1.4.tif"))) != len(photos):
            problem("lost outputs", f"rerun after kill {trial}")
    # training with two loader workers, and synth with two pool workers
    data = folder / "set"
    proc = start("synth", "--out", data, "--train", 3, "--val", 1, "--size", "64x48", "--workers", 1)
    finish(proc, "synth set", timeout=300)
    for trial in range(4 if quick else 8):
        signum = (signal.SIGINT, signal.SIGTERM)[trial % 2]
        run_dir = folder / f"train{trial}"
        train = ["train", "--data", data, "--out", run_dir, "--steps", 10000, "--batch-size", 1, "--crop", 32,
                 "--log-every", 1, "--save-every", 3, "--val-every", 10000, "--workers", 2, "--device", "cpu"]
        proc = start(*train, env={"OMP_NUM_THREADS": "1"})
        log = run_dir / "log.jsonl"
        if not wait_until(lambda: log.exists() and log.stat().st_size > 0, proc, timeout=180):
            problem("wrong exit codes", f"train {trial}: never logged a step")
            continue
        time.sleep(rand.uniform(0, 3.0))
        if trial % 4 == 3:  # a kill, then a new run / resume must not keep its leftovers or repeat steps
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            count["interrupt trials"] += 1
        else:
            expect_stop(proc, signum, f"train {signal.Signals(signum).name} trial {trial}")
        resume = start(*train, "--stop-at", 40, "--resume", env={"OMP_NUM_THREADS": "1"})
        result = finish(resume, f"train resume {trial}", timeout=600)
        temps(run_dir, f"train {trial}")
        steps = [json.loads(line)["step"] for line in log.read_text().splitlines()] if log.exists() else []
        if result and (resume.returncode != 0 or steps != list(range(1, 41))):
            problem("lost outputs", f"train {trial}: rc {resume.returncode}, log steps {steps[:20]}")
    for trial in range(2 if quick else 6):
        signum = (signal.SIGINT, signal.SIGTERM)[trial % 2]
        out = folder / f"synth{trial}"
        proc = start("synth", "--out", out, "--train", 300, "--size", "64x48", "--workers", 2)
        if not wait_until(lambda: any((out / "train" / "metadata").glob("*.json")), proc, timeout=180):
            problem("wrong exit codes", f"synth {trial}: no scene")
            continue
        time.sleep(rand.uniform(0, 2.0))
        expect_stop(proc, signum, f"synth {signal.Signals(signum).name} trial {trial}")
        temps(out, f"synth {trial}")
    # concurrent renders of namesakes into one --out
    for trial in range(3 if quick else 10):
        here = folder / f"concurrent{trial}"
        pair = []
        for sub, level in (("x", 40), ("y", 210)):
            (here / sub).mkdir(parents=True)
            pair.append(write_photo(here / sub / "a.jpg", np.full((480, 640, 3), level, np.uint8),
                                    make_exif(focus_m=2.0)))
            np.save(here / sub / "a.npy", np.full((480, 640), 4.0, np.float32))
        procs = [start("render", p, "--f", 2, "--depth", p.with_suffix(".npy"), "--out", here / "out", "--json")
                 for p in pair]
        reports = []
        for p in procs:
            count["process trials"] += 1
            result = finish(p, f"concurrent {trial}")
            reports.append(json.loads(result[0])[0] if result and result[0].strip() else {})
        rendered = [i for i, r in enumerate(reports) if r.get("status") == "rendered"]
        target = here / "out" / "a_bokeh_f2.jpg"
        if len(rendered) != 1 or not target.exists():
            problem("lost outputs", f"concurrent {trial}: {reports}")
            continue
        with Image.open(target) as im:
            bright = float(np.asarray(im).mean()) > 128
        if bright != (rendered[0] == 1):
            problem("lost outputs", f"concurrent {trial}: the file is not the one reported rendered")
        temps(here, f"concurrent {trial}")


TRIALS = ["files tried", "interrupt trials", "process trials"]
PROBLEMS = ["crashes", "hangs > 10 s", "wrong exit codes", "leftover temporary files", "lost outputs",
            "out of memory (4 GB cap)", "error lines split or unexpected stderr"]
# Not a problem: a stop signal that came after the last photo was done (the run had succeeded).
LATE = "signal after the work was done (exit 0)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer fuzzed files and trials")
    parser.add_argument("--only-b", action="store_true", help="part B (processes) only")
    parser.add_argument("--json", type=Path, help="write the counts to this file")
    options = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # for the subprocesses; two cores are shared
    # The runs of part B stand for jobs in a terminal's foreground. A shell without job control
    # starts background jobs ignoring SIGINT, which their children inherit (and bokeh, by design,
    # keeps ignoring): run from one, every Ctrl-C trial would find the signal ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="bokeh-attack-"))
    t0 = time.monotonic()
    try:
        if not options.only_b:
            print("part A: files", flush=True)
            part_a(work / "files", options.quick)
            for line in problems:
                print("  " + line, flush=True)
        print(f"part B: processes ({time.monotonic() - t0:.0f} s so far)", flush=True)
        part_b(work / "procs", options.quick)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\ndone in {time.monotonic() - t0:.0f} s ({'quick' if options.quick else 'full'} mode, "
          f"{'with' if CORPUS.is_dir() else 'without'} the camera corpus)")
    counts = {key: count[key] for key in [*TRIALS, *PROBLEMS, LATE]}
    for key, n in counts.items():
        print(f"{key:40s} {n}")
    for line in problems[:80]:
        print("  " + line)
    if options.json:
        options.json.write_text(json.dumps(counts, indent=1))
    return 1 if any(count[key] for key in PROBLEMS) else 0


if __name__ == "__main__":
    sys.exit(main())
