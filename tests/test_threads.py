"""`--threads` on every heavy command, and OpenMP's passive wait set before torch loads."""

import json
import os
import subprocess
import sys

import pytest
import torch
from typer.testing import CliRunner

from bokehcli.cli.app import app


@pytest.fixture
def restore_threads():
    previous = torch.get_num_threads()
    yield
    torch.set_num_threads(previous)


def test_the_cli_package_sets_a_passive_wait_before_torch_loads():
    """OpenMP reads its wait policy once, when torch loads it: the CLI package must set it first,
    and leave a value the user chose alone."""
    code = "import sys, os, bokehcli.cli; print('torch' in sys.modules, os.environ.get('OMP_WAIT_POLICY'))"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    fresh = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert fresh.stdout.split() == ["False", "PASSIVE"]
    chosen = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={**env, "OMP_WAIT_POLICY": "ACTIVE"})
    assert chosen.stdout.split() == ["False", "ACTIVE"]


@pytest.mark.parametrize("command", ["render", "train", "eval", "bench"])
def test_every_heavy_command_takes_threads(command):
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "--threads" in result.stdout


def test_bench_runs_with_and_reports_the_thread_setting(restore_threads):
    result = CliRunner().invoke(app, ["bench", "--size", "64x48", "--with-depth", "--repeat", "1", "--threads", "1",
                                      "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["settings"]["threads"] == 1 == torch.get_num_threads()
    assert report["settings"]["omp_wait_policy"] == os.environ.get("OMP_WAIT_POLICY")
    bad = CliRunner().invoke(app, ["bench", "--size", "64x48", "--with-depth", "--threads", "0"])
    assert bad.exit_code == 2
