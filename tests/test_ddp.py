"""`bokeh train` and `bokeh eval` as 2 CPU processes (gloo on 127.0.0.1), as torchrun starts them,
against one process doing the same work."""

import json
import os
import socket
import subprocess
import sys

import pytest
import torch

from bokehcli.data.synth import synthesize


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("set")
    synthesize(root, {"train": 3, "validation": 1, "test": 2}, 64, 48, seed=5)
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(args: list[str], world: int, timeout_s: float = 120) -> list[subprocess.CompletedProcess]:
    """``python -m bokehcli ARGS`` in ``world`` processes with torchrun's environment."""
    port = free_port()
    procs = []
    for rank in range(world):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "RANK": str(rank), "LOCAL_RANK": str(rank),
               "WORLD_SIZE": str(world), "LOCAL_WORLD_SIZE": str(world), "MASTER_ADDR": "127.0.0.1",
               "MASTER_PORT": str(port)}
        if world == 1:
            for key in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
                env.pop(key)
        procs.append(subprocess.Popen([sys.executable, "-m", "bokehcli", *args], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    results = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=timeout_s)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
    for r in results:
        assert r.returncode == 0, r.stderr
    return results


def test_ddp_training_equals_one_process_with_the_global_batch(data, tmp_path):
    common = ["train", "--data", str(data), "--variant", "nano", "--steps", "3", "--crop", "32", "--device", "cpu",
              "--workers", "0", "--log-every", "1", "--json"]
    launch([*common, "--batch-size", "2", "--out", str(tmp_path / "one")], world=1)
    results = launch([*common, "--batch-size", "1", "--out", str(tmp_path / "two")], world=2)
    assert json.loads(results[0].stdout)["step"] == 3 and results[1].stdout == ""  # rank 0 reports

    def log(run):
        return [json.loads(line) for line in (tmp_path / run / "log.jsonl").read_text().splitlines()]

    one, two = log("one"), log("two")
    assert [r["step"] for r in two] == [1, 2, 3]
    for a, b in zip(one, two):
        for key in ("loss", "l1", "ssim", "depth", "consistency", "grad_norm", "lr"):
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-6), (a["step"], key)
    sa = torch.load(tmp_path / "one" / "state.pt", weights_only=True)
    sb = torch.load(tmp_path / "two" / "state.pt", weights_only=True)
    assert sa["data_position"] == sb["data_position"] == 6
    # Adam divides by sqrt(v): float differences in near-zero gradients (the zero-initialised FiLM
    # projections' first steps) move a weight by up to a fraction of the step size (lr 3e-4 here).
    # Every weight within half a step, and all but a handful within a sixth of one.
    far = 0
    for name, tensor in sa["model"].items():
        torch.testing.assert_close(sb["model"][name], tensor, rtol=1e-4, atol=1.5e-4)
        far += int(((sb["model"][name] - tensor).abs() > 5e-5 + 1e-4 * tensor.abs()).sum())
    assert far <= 1e-4 * sum(w.numel() for w in sa["model"].values()), far


def test_sharded_eval_equals_one_process(data, tmp_path):
    common = ["eval", "--data", str(data), "--model", "physics-gt", "--device", "cpu", "--json"]
    launch([*common, "--out", str(tmp_path / "one")], world=1)
    launch([*common, "--out", str(tmp_path / "two")], world=2)
    one = json.loads((tmp_path / "one" / "metrics.json").read_text())
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    one.pop("seconds_per_mp"), two.pop("seconds_per_mp")
    assert one == two
    assert (tmp_path / "two" / "per_image.csv").read_text().count("\n") == one["n_pairs"] + 1
