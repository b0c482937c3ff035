"""Stop signals, killed writers and concurrent writers (issue 21; hostile files:
tests/test_hostile_inputs.py).

Ctrl-C reaches a terminal's whole process group and `kill -TERM -PGID` every process in it: the
subprocess tests start `bokeh` in a session of its own and signal the group, as a terminal would,
with bounded waits. Promised: exit 130 / 143 with one line whenever the signal comes (during the
imports too), workers stopped by their parent without a word, no temporary file left by an
interrupt, none left for good by a kill, and no output silently replaced by another run.
"""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from bokehcli import train as tr
from bokehcli.cli.app import app
from bokehcli.data.synth import synthesize
from bokehcli.files import OutputExists, atomic_path, remove_stale_temp_files
from bokehcli.stop import STOP_SIGNALS, Interrupted, install_stop_handlers, spawning_workers
from photos import make_exif, textured_rgb, write_photo
from startup_signals import skip_if_before_our_code

REPO = Path(__file__).resolve().parents[1]
WAIT_S = 120      # for a subprocess to reach the moment a test signals it
EXIT = {signal.SIGINT: (130, "interrupted"), signal.SIGTERM: (143, "terminated")}


def start(*args, **popen):
    """`bokeh` in a new session (its own process group), as a shell starts a foreground job."""
    return subprocess.Popen([sys.executable, "-m", "bokehcli", *map(str, args)], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            env={**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": "1"}, **popen)


def wait_for(condition, proc, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{what} never happened: {proc.communicate()[1][-2000:]}")
        time.sleep(0.02)


def stop_group(proc, signum) -> str:
    """Signal the whole group, wait for the parent, then for every worker; returns stderr."""
    os.killpg(proc.pid, signum)
    _, stderr = proc.communicate(timeout=60)
    deadline = time.monotonic() + 30
    while True:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return stderr
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail("workers outlived the parent")
        time.sleep(0.05)


def assert_stopped(proc, stderr: str, signum) -> None:
    """Exit 130/143 and a single line about it; warnings and progress lines printed before are fine."""
    code, word = EXIT[signum]
    assert proc.returncode == code, stderr
    lines = stderr.splitlines()
    assert lines and lines[-1] == word, stderr
    # warnings and, outside a terminal, the plain progress lines of training and synth come before it
    assert all(line.startswith(("warning:", "step ", "synth: ")) for line in lines[:-1]), stderr


def temporary_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".bokeh-tmp-*")]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("set")
    synthesize(root, {"train": 3, "validation": 1}, 64, 48, seed=3)
    return root


def train_args(data, out, workers=2):
    return ["train", "--data", data, "--out", out, "--variant", "nano", "--steps", "10000", "--batch-size", "1",
            "--crop", "32", "--log-every", "1", "--save-every", "10000", "--val-every", "10000",
            "--workers", workers, "--device", "cpu"]


# --- 8. signals during start-up -----------------------------------------------------------

@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_the_imports(tmp_path, signum):
    """The commands' imports take seconds; a signal 0.3 s in printed a KeyboardInterrupt
    traceback (SIGINT) or killed the process without a word (SIGTERM)."""
    photo = write_photo(tmp_path / "p.jpg", textured_rgb(48, 64), make_exif(focus_m=2.0))
    proc = start("render", photo, "--f", "2", "--out", tmp_path / "out")
    time.sleep(0.3)
    assert proc.poll() is None
    stderr = stop_group(proc, signum)
    skip_if_before_our_code(proc.returncode, stderr, signum)     # on a cold start 0.3 s can be that early
    assert_stopped(proc, stderr, signum)


# A command whose work ends normally, but during which a stop signal landed in a finaliser (where
# the handler's exception cannot propagate), as the garbage collector can run one at any moment.
_SIGNAL_IN_A_FINALISER = """
import os, signal, sys, time
from bokehcli.cli import app, commands

class Finaliser:
    def __del__(self):
        os.kill(os.getpid(), signal.SIG{name})
        time.sleep(0.5)  # the handler runs here, inside __del__

def run():
    Finaliser()
    print("work done")
    sys.exit(0)

commands.run = run
app.main()
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_inside_a_finaliser_still_stops_the_run_in_one_line(signum):
    """Python reports an exception raised in a finaliser as "Exception ignored in ..." with a
    traceback and carries on: the run ended 0, or with a traceback before its one line."""
    code = _SIGNAL_IN_A_FINALISER.format(name=signal.Signals(signum).name[3:])
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=WAIT_S)
    assert (result.returncode, result.stderr) == (EXIT[signum][0], EXIT[signum][1] + "\n")


# --- 7. workers leave stopping to their parent --------------------------------------------

def _signal_training(data, out, signum):
    proc = start(*train_args(data, out))
    log = out / "log.jsonl"
    wait_for(lambda: log.exists() and log.stat().st_size > 0, proc, "a first logged step")
    return proc, stop_group(proc, signum)


def test_ctrl_c_during_training_with_loader_workers(data, tmp_path):
    """Before: exit 1 in 3 of 4 trials, with 77-114 lines of the workers' tracebacks."""
    proc, stderr = _signal_training(data, tmp_path / "run", signal.SIGINT)
    assert_stopped(proc, stderr, signal.SIGINT)
    assert not temporary_files(tmp_path / "run")


# How a worker process hands a tensor to its parent: does it start the helper thread that serves
# file descriptors over a socket (multiprocessing's resource sharer)?
_HANDS_OVER_BY_SOCKET = """
import sys
import torch
from multiprocessing import resource_sharer
from multiprocessing.reduction import ForkingPickler
from bokehcli.train import loader_worker_init
if sys.argv[1] == "loader worker":
    loader_worker_init(0)
ForkingPickler.dumps(torch.zeros(4))
print(resource_sharer._resource_sharer._listener is not None)
"""


@pytest.mark.parametrize("process, by_socket", [("loader worker", False), ("plain", True)])
def test_loader_workers_hand_batches_over_without_a_socket_thread(process, by_socket):
    """CI once printed that thread's traceback (a connection closed half-way: the parent had been
    interrupted while fetching a batch's descriptors) between the last step and "interrupted".
    A plain process shows the test can see the thread."""
    result = subprocess.run([sys.executable, "-c", _HANDS_OVER_BY_SOCKET, process], cwd=REPO,
                            capture_output=True, text=True, timeout=WAIT_S)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(by_socket)


@pytest.mark.slow
@pytest.mark.parametrize("signum, trial", [(signal.SIGINT, 1), (signal.SIGINT, 2), (signal.SIGTERM, 0),
                                           (signal.SIGTERM, 1)])
def test_signals_to_the_training_process_group(data, tmp_path, signum, trial):
    proc, stderr = _signal_training(data, tmp_path / "run", signum)
    assert_stopped(proc, stderr, signum)


def test_spawned_workers_are_born_ignoring_ctrl_c():
    """A spawned worker imports for a second or two before its initialiser runs. Before: it
    started with Python's own SIGINT handler (the parent's signal mask does not reach a spawned
    interpreter), and a Ctrl-C in that time printed its KeyboardInterrupt traceback (seen once in
    the slow synth test below)."""
    ctx = multiprocessing.get_context("spawn")
    before = signal.getsignal(signal.SIGINT)
    with spawning_workers():
        pool = ctx.Pool(1)      # no initialiser: what the worker inherited, not what it set
    try:
        assert pool.apply(signal.getsignal, (signal.SIGINT,)) == signal.SIG_IGN
        # SIGTERM is not ignored: the pool stops its workers with it
        assert pool.apply(signal.getsignal, (signal.SIGTERM,)) == signal.SIG_DFL
    finally:
        pool.close()            # (not terminate: a worker killed outright could keep the queue's lock)
        pool.join()
    assert signal.getsignal(signal.SIGINT) is before


def test_spawning_workers_outside_the_main_thread_only_holds_the_signals_back():
    errors = []

    def spawn_block():
        try:
            with spawning_workers():
                pass
        except Exception as error:      # Python sets handlers only in the main thread
            errors.append(error)

    thread = threading.Thread(target=spawn_block)
    thread.start()
    thread.join()
    assert errors == []


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signals_to_synth_and_its_workers(tmp_path, signum):
    out = tmp_path / "set"
    proc = start("synth", "--out", out, "--train", 500, "--size", "64x48", "--workers", 2)
    wait_for(lambda: any((out / "train" / "metadata").glob("*.json")), proc, "a first scene")
    assert_stopped(proc, stop_group(proc, signum), signum)
    assert not temporary_files(out)


# --- 9. temporary files -------------------------------------------------------------------

def test_an_interrupt_right_after_the_temporary_file_is_made(tmp_path, monkeypatch):
    """A signal in the instant between creating the temporary file and taking note of its name
    left the file behind (2 of 10 SIGTERMs)."""
    real = tempfile.mkstemp

    def mkstemp_then_signal(*args, **kwargs):
        made = real(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)
        return made

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp_then_signal)
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    install_stop_handlers()
    try:
        with pytest.raises(Interrupted), atomic_path(tmp_path / "out.jpg") as tmp:
            tmp.write_bytes(b"never finished")
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    assert list(tmp_path.iterdir()) == []


_WRITER = """
import sys, time
from bokehcli.files import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    tmp.write_bytes(b"half a file")
    print("writing", flush=True)
    time.sleep(120)
"""


def _writer(target: Path):
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(target)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "writing\n"
    return proc


def test_killed_writers_leave_files_that_the_next_run_removes(tmp_path):
    """SIGKILL leaves a temporary file whatever the code does; the next write into that folder
    (a rerun) removes it, and never one whose writer is still at work."""
    photo = write_photo(tmp_path / "p.jpg", textured_rgb(48, 64), make_exif(focus_m=2.0))
    np.save(tmp_path / "p.npy", np.full((48, 64), 2.0, np.float32))
    out = tmp_path / "out"
    out.mkdir()
    (out / ".bokeh-tmp-notes").write_text("a file of the user's that only looks like ours")
    killed, alive = _writer(out / "a.jpg"), _writer(out / "b.jpg")
    try:
        killed.kill()
        killed.wait(timeout=30)
        assert len(temporary_files(out)) == 3
        result = CliRunner().invoke(app, ["render", str(photo), "--f", "2", "--depth", str(tmp_path / "p.npy"),
                                          "--out", str(out)])
        assert result.exit_code == 0, result.output
        left = sorted(p.name for p in temporary_files(out))
        assert len(left) == 2 and ".bokeh-tmp-notes" in left  # the live writer's and the user's
    finally:
        alive.kill()
        alive.wait(timeout=30)
    assert [p.name for p in remove_stale_temp_files(out)] == [n for n in left if n != ".bokeh-tmp-notes"]
    assert sorted(p.name for p in out.iterdir()) == [".bokeh-tmp-notes", "p_bokeh_f2.jpg"]


def test_a_new_training_run_starts_clean(data, tmp_path):
    """A run killed before its first checkpoint leaves log lines and a temporary checkpoint and no
    state.pt; the next run (new, or --resume with nothing to resume) appended to that log
    (steps twice) and left the file there."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "log.jsonl").write_text("".join(json.dumps({"step": s, "loss": 1.0}) + "\n" for s in (1, 2, 3)))
    (out / ".bokeh-tmp-k1ll3d_9.pt").write_bytes(b"half a checkpoint")
    runtime = tr.Runtime(data=data, out=out, resume=True, device="cpu", workers=0, on_note=lambda note: None)
    tr.train(dict(variant="nano", batch_size=1, crop=32, log_every=1, save_every=100, val_every=100, steps=2), runtime)
    steps = [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2]
    assert not temporary_files(out)


# --- 10. concurrent writers ---------------------------------------------------------------

@pytest.fixture
def namesakes(tmp_path):
    """Two different photos both called a.jpg (one dark, one bright), with their depth maps."""
    photos = []
    for folder, level in (("x", 40), ("y", 210)):
        (tmp_path / folder).mkdir()
        photos.append(write_photo(tmp_path / folder / "a.jpg", np.full((48, 64, 3), level, np.uint8),
                                  make_exif(focus_m=2.0)))
        np.save(tmp_path / folder / "a.npy", np.full((48, 64), 2.0, np.float32))
    return photos


def _mean_level(path: Path) -> float:
    with Image.open(path) as im:
        return float(np.asarray(im).mean())


def test_an_output_written_meanwhile_is_not_replaced(tmp_path, namesakes, monkeypatch):
    """Another run writes a_bokeh_f2.jpg while this one renders: it used to be replaced silently,
    both runs reporting "rendered"."""
    import bokehcli.pipeline as pipeline

    dark, bright = namesakes
    out = tmp_path / "out"
    real = pipeline.render_with_depth

    def other_run_finishes_first(*args, **kwargs):
        CliRunner().invoke(app, ["render", str(bright), "--f", "2", "--depth", str(bright.with_suffix(".npy")),
                                 "--out", str(out)])
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "render_with_depth", other_run_finishes_first)
    result = CliRunner().invoke(app, ["render", str(dark), "--f", "2", "--depth", str(dark.with_suffix(".npy")),
                                      "--out", str(out)])
    assert result.exit_code == 1
    target = out / "a_bokeh_f2.jpg"
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == [
        f"error: {target}: appeared while this one was written (another run writing the same file?); left as it is "
        f"(--overwrite replaces it)"]
    assert _mean_level(target) > 150  # the other run's bright photo
    assert sorted(p.name for p in out.iterdir()) == ["a_bokeh_f2.jpg"]


@pytest.mark.parametrize("links", [True, False])
def test_exclusive_writes(tmp_path, monkeypatch, links):
    """``replace=False`` never replaces, also where the file system has no hard links."""
    if not links:
        def no_links(*args, **kwargs):
            raise OSError(errno.EPERM, "Operation not permitted")

        monkeypatch.setattr(os, "link", no_links)
    target = tmp_path / "x.bin"
    with atomic_path(target, replace=False) as tmp:
        tmp.write_bytes(b"first")
    with pytest.raises(OutputExists, match="appeared while this one was written"):
        with atomic_path(target, replace=False) as tmp:
            tmp.write_bytes(b"second")
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"third")
    assert target.read_bytes() == b"third" and [p.name for p in tmp_path.iterdir()] == ["x.bin"]


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(3))
def test_concurrent_renders_into_one_folder(tmp_path, namesakes, trial):
    """Two processes render namesakes into one --out at once: one output, from the run that says
    it rendered it; the other says it skipped or failed. Never both "rendered"."""
    out = tmp_path / "out"
    procs = [start("render", photo, "--f", "2", "--depth", photo.with_suffix(".npy"), "--out", out, "--json")
             for photo in namesakes]
    reports = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=WAIT_S)
        assert "Traceback" not in stderr
        reports.append(json.loads(stdout)[0])
    rendered = [i for i, r in enumerate(reports) if r.get("status") == "rendered"]
    assert len(rendered) == 1, reports
    other = reports[1 - rendered[0]]
    assert other.get("status") == "skipped" or "appeared while this one was written" in other.get("error", ""), other
    assert (_mean_level(out / "a_bokeh_f2.jpg") > 150) == (rendered[0] == 1)
    assert sorted(p.name for p in out.iterdir()) == ["a_bokeh_f2.jpg"]
