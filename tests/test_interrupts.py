"""SIGINT/SIGTERM mid-batch: clean stop, no partial or temporary file, the rerun finishes."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from photos import make_exif, textured_rgb, write_depth_png, write_photo

N_PHOTOS = 10


@pytest.fixture
def batch(tmp_path):
    depth = np.full((240, 360), 6.0, np.float32)
    depth[:, :180] = 2.0
    for i in range(N_PHOTOS):
        write_photo(tmp_path / f"p{i}.jpg", textured_rgb(240, 360, seed=i), make_exif(focus_m=2.0))
        write_depth_png(tmp_path / f"p{i}_depth.png", depth)
    return tmp_path


def start(batch, out):
    args = [sys.executable, "-m", "bokehcli", "render", *sorted(str(p) for p in batch.glob("p?.jpg")),
            "--f", "1.4", "--depth", str(batch / "{stem}_depth.png"), "--out", str(out)]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "200"})


def wait_for_first_output(out, proc, timeout_s=120):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        if out.is_dir() and any(p.name.endswith(".jpg") and not p.name.startswith(".") for p in out.iterdir()):
            return
        time.sleep(0.02)
    pytest.fail("no output appeared")


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_mid_batch_then_rerun_completes(batch, signum, code):
    out = batch / "out"
    proc = start(batch, out)
    wait_for_first_output(out, proc)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    done = sorted(p.name for p in out.iterdir())
    assert all(name.endswith("_bokeh_f1.4.jpg") for name in done), done  # no temp or partial file
    assert 1 <= len(done) < N_PHOTOS
    # the last line names what finished: the photos whose outputs are there
    names = ", ".join(name.replace("_bokeh_f1.4", "") for name in done)
    stopped = "interrupted" if signum == signal.SIGINT else "terminated"
    assert stderr.splitlines()[-1] == f"{stopped}: {len(done)} of {N_PHOTOS} rendered ({names}); rerun to finish the rest"
    # and outside a terminal, each finished photo had its line as it finished (the last one's
    # may be missing: the signal can come between writing the photo and reporting it)
    counted = [line.split()[0] for line in stderr.splitlines() if line.startswith("[")]
    assert counted == [f"[{i}/{N_PHOTOS}]" for i in range(1, len(counted) + 1)]
    assert len(counted) in (len(done), len(done) - 1)
    rerun = start(batch, out)
    stdout, stderr = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, stderr
    assert len(list(out.iterdir())) == N_PHOTOS
