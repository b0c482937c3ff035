"""`bokeh synth`: RealBokeh layout, metadata, EXIF, determinism."""

import json

import exifread
import numpy as np
import pytest
from typer.testing import CliRunner

from bokehcli.cli.app import app
from bokehcli.data.realbokeh import METADATA_KEYS, format_fstop
from bokehcli.data.synth import TARGET_F_NUMBERS, Job, choose_targets, parse_size, synthesize, write_scene

SIZE = "64x48"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    result = CliRunner().invoke(app, ["synth", "--out", str(root), "--train", "2", "--val", "1",
                                      "--test", "1", "--size", SIZE, "--seed", "7", "--workers", "1",
                                      "--json"])
    assert result.exit_code == 0, result.output
    return root, json.loads(result.stdout)


def test_summary(dataset):
    _, summary = dataset
    assert summary["rendered"] == 4 and summary["skipped"] == 0
    assert summary["scenes"] == {"train": 2, "validation": 1, "test": 1}
    assert summary["pairs"] >= 8


def test_layout_names_and_metadata(dataset):
    root, _ = dataset
    for split, n in (("train", 2), ("validation", 1), ("test", 1)):
        metas = sorted((root / split / "metadata").glob("*.json"))
        assert [m.stem for m in metas] == [str(i) for i in range(n)]  # ids restart per split
        for i in range(n):
            meta = json.loads((root / split / "metadata" / f"{i}.json").read_text())
            assert list(meta) == list(METADATA_KEYS)
            assert meta["id"] == i and meta["source_av"] == 22.0
            assert meta["source_image"] == f"in/{i}_f22.JPG"
            assert (root / split / meta["source_image"]).is_file()
            assert meta["target_images"] == [f"gt/{i}/{i}_f{format_fstop(f)}.JPG" for f in meta["target_avs"]]
            assert all((root / split / p).is_file() for p in meta["target_images"])
            assert sorted(p.name for p in (root / split / "gt" / str(i)).iterdir()) == sorted(
                p.split("/")[-1] for p in meta["target_images"])
            assert min(meta["target_avs"]) <= 2.8
            depth = np.load(root / split / "depth" / f"{i}.npy")
            assert depth.dtype == np.float32 and depth.shape == (48, 64) and (depth > 0).all()


def test_exif(dataset):
    root, _ = dataset
    meta = json.loads((root / "train" / "metadata" / "0.json").read_text())
    path = root / "train" / meta["target_images"][0]
    with open(path, "rb") as fh:
        tags = exifread.process_file(fh, details=False)
    assert str(tags["Image Make"]) == "bokeh-synth"
    assert float(tags["EXIF FNumber"].values[0]) == pytest.approx(meta["target_avs"][0])
    assert float(tags["EXIF FocalLength"].values[0]) == pytest.approx(meta["focal_length"])
    assert int(str(tags["EXIF FocalLengthIn35mmFilm"])) == round(meta["focal_length"])
    assert float(tags["EXIF SubjectDistance"].values[0]) == pytest.approx(meta["focus_plane_distance"])


def test_deterministic_and_independent_of_job_order(dataset, tmp_path):
    root, _ = dataset
    w, h = parse_size(SIZE)
    # Only test/0, rendered alone: the same bytes as in the full run.
    record = write_scene(Job(tmp_path, "test", 0, 7, w, h, overwrite=False))
    assert not record["skipped"]
    for rel in ["metadata/0.json", "in/0_f22.JPG", "depth/0.npy"]:
        assert (tmp_path / "test" / rel).read_bytes() == (root / "test" / rel).read_bytes()
    meta = json.loads((root / "test" / "metadata" / "0.json").read_text())
    for rel in meta["target_images"]:
        assert (tmp_path / "test" / rel).read_bytes() == (root / "test" / rel).read_bytes()
    # A rerun skips complete scenes.
    assert write_scene(Job(tmp_path, "test", 0, 7, w, h, overwrite=False))["skipped"]


def test_rerun_skips_and_reports(dataset):
    root, _ = dataset
    result = CliRunner().invoke(app, ["synth", "--out", str(root), "--train", "2", "--size", SIZE,
                                      "--seed", "7", "--workers", "1"])
    assert result.exit_code == 0
    assert "0 scenes rendered, 2 already there" in result.stdout


def test_choose_targets():
    for seed in range(50):
        targets = choose_targets(np.random.default_rng(seed))
        assert 2 <= len(targets) <= 4 and targets == sorted(set(targets))
        assert set(targets) <= set(TARGET_F_NUMBERS) and min(targets) <= 2.8


def test_other_settings_are_refused_not_mixed_into_a_set(dataset):
    root, _ = dataset
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    for other in (["--size", "96x64", "--seed", "7"], ["--size", SIZE, "--seed", "8"],
                  ["--size", SIZE, "--seed", "7", "--layered", "0.5"]):
        result = CliRunner().invoke(app, ["synth", "--out", str(root), "--test", "2", "--workers", "1", *other])
        assert result.exit_code == 2 and "holds a set made with --size 64x48 --seed 7" in result.stderr
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before


def test_unwritable_out_is_one_line(tmp_path):
    (tmp_path / "afile").write_text("")
    result = CliRunner().invoke(app, ["synth", "--out", str(tmp_path / "afile"), "--test", "1", "--size", SIZE])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert [line for line in result.stderr.splitlines() if line.strip()] == [
        f"error: {tmp_path / 'afile'}: cannot write the data set: File exists ({tmp_path / 'afile'})"]


@pytest.mark.parametrize("args", [["--size", "64"], ["--size", "axb"], []])
def test_usage_errors(tmp_path, args):
    extra = [] if args == [] else ["--train", "1"]
    result = CliRunner().invoke(app, ["synth", "--out", str(tmp_path), *extra, *args])
    assert result.exit_code == 2


def test_parse_size():
    assert parse_size("768x512") == (768, 512)
    with pytest.raises(ValueError):
        parse_size("0x5")


def test_layered_fraction_gives_fronto_parallel_scenes(tmp_path):
    """--layered 1: every scene is a stack of fronto-parallel cards, so its depth map holds only
    the few depths of its planes."""
    synthesize(tmp_path / "layered", {"train": 2}, 48, 32, seed=4, layered_fraction=1.0)
    for i in range(2):
        depth = np.load(tmp_path / "layered" / "train" / "depth" / f"{i}.npy")
        assert len(np.unique(depth)) <= 5
    with pytest.raises(ValueError):
        synthesize(tmp_path / "bad", {"train": 1}, 48, 32, seed=4, layered_fraction=1.5)
