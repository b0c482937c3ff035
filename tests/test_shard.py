"""`bokeh render --shard I/N` and `bokeh render` under torchrun: each process renders its own
share of the inputs, the shares together render every photo once."""

import json
import os
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from bokehcli.cli.app import app
from bokehcli.shard import Share
from photos import make_exif, textured_rgb, two_plane_depth, write_depth_png, write_photo

H, W = 24, 32
STEMS = [f"p{n}" for n in range(5)]
TORCHRUN_VARS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@pytest.fixture
def batch(tmp_path):
    """Five tiny photos in a folder with their depth maps in another (rendering one takes ms)."""
    photos, depth = tmp_path / "photos", tmp_path / "depth"
    photos.mkdir()
    depth.mkdir()
    for n, stem in enumerate(STEMS):
        write_photo(photos / f"{stem}.jpg", textured_rgb(H, W, seed=n), make_exif(focal_mm=50, focus_m=2.0))
        write_depth_png(depth / f"{stem}.png", two_plane_depth(H, W))
    return photos, depth


def render_args(batch, out):
    photos, depth = batch
    return ["render", str(photos), "--f", "2", "--depth", str(depth / "{stem}.png"), "--out", str(out), "--json",
            "--device", "cpu"]


def rendered_stems(stdout: str) -> list[str]:
    return [os.path.basename(r["path"]).removesuffix(".jpg") for r in json.loads(stdout) if r["status"] == "rendered"]


def torchrun_env(rank: int, world: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in TORCHRUN_VARS}
    return {**env, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world),
            "LOCAL_WORLD_SIZE": str(world), "OMP_NUM_THREADS": "1"}


@pytest.mark.slow  # two interpreters importing torch: ~5 s
def test_two_torchrun_ranks_render_disjoint_shares_covering_the_batch(batch, tmp_path):
    """Two processes started as torchrun starts them (its environment), at the same time."""
    out = tmp_path / "out"
    procs = [subprocess.Popen([sys.executable, "-m", "bokehcli", *render_args(batch, out)], env=torchrun_env(rank, 2),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for rank in range(2)]
    results = [proc.communicate(timeout=300) + (proc.returncode,) for proc in procs]
    shares = []
    for rank, (stdout, stderr, code) in enumerate(results):
        assert code == 0, stderr
        assert f"shard {rank}/2 (torchrun RANK {rank} of WORLD_SIZE 2)" in stderr
        shares.append(rendered_stems(stdout))
    assert not set(shares[0]) & set(shares[1])
    assert sorted(shares[0] + shares[1]) == STEMS
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{s}_bokeh_f2.jpg" for s in STEMS)


def test_job_array_shards_and_torchrun_ranks_combine(batch, tmp_path, monkeypatch):
    """--shard I/2 alone, and --shard I/2 with two torchrun ranks each: the four shares of the
    second run are the two shares of the first, split again, and still cover the batch once."""
    for name in TORCHRUN_VARS:
        monkeypatch.delenv(name, raising=False)
    halves = []
    for index in range(2):
        result = CliRunner().invoke(app, [*render_args(batch, tmp_path / "a"), "--shard", f"{index}/2"])
        assert result.exit_code == 0, result.output
        assert f"shard {index}/2 (--shard {index}/2): rendering" in result.stderr
        halves.append(rendered_stems(result.stdout))
    assert sorted(halves[0] + halves[1]) == STEMS and not set(halves[0]) & set(halves[1])
    quarters = {}
    for index in range(2):
        for rank in range(2):
            monkeypatch.setenv("RANK", str(rank))
            monkeypatch.setenv("WORLD_SIZE", "2")
            result = CliRunner().invoke(app, [*render_args(batch, tmp_path / "b"), "--shard", f"{index}/2"])
            assert result.exit_code == 0, result.output
            assert f"shard {index + 2 * rank}/4" in result.stderr
            quarters[index, rank] = rendered_stems(result.stdout)
    for index in range(2):
        assert sorted(quarters[index, 0] + quarters[index, 1]) == sorted(halves[index])
    assert sum(len(stems) for stems in quarters.values()) == len(STEMS)


@pytest.mark.parametrize("value", ["2/2", "1/0", "-1/2", "a/b", "1", "1/2/3", "", " / "])
def test_bad_shard_is_one_usage_line(batch, tmp_path, value):
    result = CliRunner().invoke(app, [*render_args(batch, tmp_path), "--shard", value])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--shard must be I/N" in lines[0] and "Traceback" not in result.output
    assert not any(tmp_path.glob("*_bokeh_*"))


@pytest.mark.parametrize("rank, world", [("2", "2"), ("x", "2"), ("-1", "2")])
def test_bad_torchrun_environment_is_one_usage_line(batch, tmp_path, monkeypatch, rank, world):
    monkeypatch.setenv("RANK", rank)
    monkeypatch.setenv("WORLD_SIZE", world)
    result = CliRunner().invoke(app, render_args(batch, tmp_path))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "torchrun environment" in lines[0]


@given(keys=st.lists(st.sampled_from("abcdefghij"), max_size=30), count=st.integers(1, 6))
def test_shares_are_disjoint_complete_balanced_and_keep_equal_keys_together(keys, count):
    items = list(enumerate(keys))           # (position, key): items with equal keys are distinct items
    shares = [Share(index, count, "test").take(items, key=lambda item: item[1]) for index in range(count)]
    assert sorted(item for share in shares for item in share) == items
    owner = {key: index for index, share in enumerate(shares) for _, key in share}
    assert all(owner[key] == index for index, share in enumerate(shares) for _, key in share)
    distinct = [len({key for _, key in share}) for share in shares]
    assert max(distinct) - min(distinct) <= 1
