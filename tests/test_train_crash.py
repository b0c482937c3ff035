"""`kill -9` at random moments of a training run (checkpoints written every step): every resume
starts from the last complete checkpoint and the finished run logs each step exactly once."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from bokehcli.data.synth import synthesize
from bokehcli.models.factory import load_model

STEPS = 30


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("set")
    synthesize(root, {"train": 2, "validation": 1}, 64, 48, seed=5)
    return root


def command(data, run, resume):
    args = [sys.executable, "-m", "bokehcli", "train", "--data", str(data), "--out", str(run), "--variant", "nano",
            "--steps", str(STEPS), "--batch-size", "1", "--crop", "32", "--save-every", "1", "--log-every", "1",
            "--val-every", "1000", "--workers", "0", "--device", "cpu", "--seed", "0"]
    return args + (["--resume"] if resume else [])


def test_kill_9_anywhere_then_resume(data, tmp_path):
    run = tmp_path / "run"
    rng = random.Random(0)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for attempt in range(3):
        proc = subprocess.Popen(command(data, run, resume=attempt > 0), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + 120
        while not (run / "state.pt").exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 1.5))  # somewhere in later steps, often mid-checkpoint
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    interrupted_at = torch.load(run / "state.pt", weights_only=True)["step"]
    assert 1 <= interrupted_at < STEPS  # the kills landed mid-run
    final = subprocess.run(command(data, run, resume=True), capture_output=True, text=True, env=env, timeout=300)
    assert final.returncode == 0, final.stderr
    steps = [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()]
    assert steps == list(range(1, STEPS + 1))
    load_model(run / "last.safetensors")  # complete and loadable
    assert not [p.name for p in run.iterdir() if p.name.startswith(".")]  # no temporary file left
