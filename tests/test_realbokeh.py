"""RealBokeh reader on a tiny set written by `bokeh synth`."""

import json
import shutil

import numpy as np
import pytest
import torch

from bokehcli.data.realbokeh import RealBokehTrain, format_fstop, list_pairs, parse_fstop
from bokehcli.data.synth import synthesize
from bokehcli.errors import InputError
from bokehcli.imageio import load_photo


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    root = tmp_path_factory.mktemp("realbokeh")
    synthesize(root, {"train": 2, "validation": 1, "test": 1}, 64, 48, seed=11)
    return root


@pytest.fixture
def root(pristine, tmp_path):
    """A private copy each test may break."""
    copy = tmp_path / "set"
    shutil.copytree(pristine, copy)
    return copy


def meta_path(root, split="train", sid=0):
    return root / split / "metadata" / f"{sid}.json"


def edit_meta(root, **changes):
    path = meta_path(root)
    meta = json.loads(path.read_text())
    meta.update(changes)
    path.write_text(json.dumps(meta))
    return path


def test_format_and_parse_fstop():
    assert format_fstop(2.0) == "2.0" and format_fstop(5.6) == "5.6" and format_fstop(2) == "2.0"
    assert format_fstop(10) == "10" and format_fstop(20.0) == "20" and format_fstop(22) == "22"
    assert parse_fstop("f2.0") == 2.0 and parse_fstop("F16") == 16.0 and parse_fstop("5.6") == 5.6
    for bad in ("fx", "", "f-2", "fnan"):
        with pytest.raises(ValueError):
            parse_fstop(bad)


def test_list_pairs_round_trip(pristine):
    for split, n in (("train", 2), ("validation", 1), ("test", 1)):
        pairs = list_pairs(pristine, split)
        metas = [json.loads(meta_path(pristine, split, i).read_text()) for i in range(n)]
        assert len(pairs) == sum(len(m["target_avs"]) for m in metas)
        expected = [(str(m["id"]), f, m["focal_length"], m["focus_plane_distance"])
                    for m in metas for f in m["target_avs"]]
        assert [(p.id, p.f_number, p.focal_mm, p.focus_m) for p in pairs] == expected
        for p in pairs:
            assert p.source_path.name == f"{p.id}_f22.JPG"
            assert p.target_path.name == f"{p.id}_f{format_fstop(p.f_number)}.JPG"
            assert p.sensor_diag_mm == pytest.approx(43.27)
            assert p.depth_path is not None and p.depth_path.name == f"{p.id}.npy"


def test_lower_case_jpg_accepted(root):
    src = root / "train" / "in" / "0_f22.JPG"
    src.rename(src.with_suffix(".jpg"))
    pairs = list_pairs(root, "train")
    assert pairs[0].source_path.name == "0_f22.jpg"


def test_training_items(pristine):
    ds = RealBokehTrain(pristine, "train", crop=32, seed=3)
    assert len(ds) == 2
    item = ds[1]
    assert item["source"].shape == item["target"].shape == (3, 32, 32)
    assert item["depth_m"].shape == (1, 32, 32)
    assert item["width_px"].item() == 64 and item["height_px"].item() == 48  # the full frame
    assert item["sensor_diag_mm"].item() == pytest.approx(43.27)
    assert 0.0 <= item["source"].min() and item["source"].max() <= 1.0
    meta = json.loads(meta_path(pristine, "train", 1).read_text())
    assert any(item["f_number"].item() == pytest.approx(f) for f in meta["target_avs"])
    assert item["focal_mm"].item() == pytest.approx(meta["focal_length"])
    # Reproducible per (seed, epoch, index); another epoch draws again.
    again = RealBokehTrain(pristine, "train", crop=32, seed=3)[1]
    assert all(torch.equal(item[k], again[k]) for k in item)
    ds.set_epoch(1)
    draws = [ds[1]] + [RealBokehTrain(pristine, "train", crop=32, seed=s)[1] for s in range(4, 9)]
    assert any(not torch.equal(d["source"], item["source"]) for d in draws)


def find(crop, full):
    """(top, left, flipped) where the crop (h, w, C) sits in full (H, W, C)."""
    h, w = crop.shape[:2]
    for flipped in (False, True):
        c = crop[:, ::-1] if flipped else crop
        for top in range(full.shape[0] - h + 1):
            for left in range(full.shape[1] - w + 1):
                if np.array_equal(full[top:top + h, left:left + w], c):
                    return top, left, flipped
    raise AssertionError("crop not found")


@pytest.mark.parametrize("index", [0, 1])
def test_crop_is_the_same_in_source_target_and_depth(pristine, index):
    ds = RealBokehTrain(pristine, "train", crop=24, seed=5)
    item = ds[index]
    pairs = ds.scenes[ds.ids[index]]
    pair = next(p for p in pairs if p.f_number == pytest.approx(item["f_number"].item()))
    source = load_photo(pair.source_path).srgb
    target = load_photo(pair.target_path).srgb
    depth = np.load(pair.depth_path)[:, :, None]
    spot = find(item["source"].permute(1, 2, 0).numpy(), source)
    assert spot == find(item["depth_m"].permute(1, 2, 0).numpy(), depth)
    top, left, flipped = spot
    crop = target[top:top + 24, left:left + 24]
    assert np.array_equal(item["target"].permute(1, 2, 0).numpy(), crop[:, ::-1] if flipped else crop)


def test_whole_frames_without_crop(pristine):
    item = RealBokehTrain(pristine, "test", crop=None)[0]
    assert item["source"].shape == (3, 48, 64)


def test_missing_key(root):
    path = meta_path(root)
    meta = json.loads(path.read_text())
    del meta["focal_length"]
    path.write_text(json.dumps(meta))
    with pytest.raises(InputError, match=f"{path}.*focal_length"):
        list_pairs(root, "train")


@pytest.mark.parametrize("key, value", [("focal_length", "50"), ("target_avs", [2.0]),
                                        ("focus_plane_distance", -1.0), ("id", 5), ("ISO", "high"),
                                        ("source_image", 3)])
def test_wrong_types(root, key, value):
    path = edit_meta(root, **{key: value})
    with pytest.raises(InputError, match=str(path)):
        list_pairs(root, "train")


def test_corrupt_json(root):
    path = meta_path(root)
    path.write_text("{not json")
    with pytest.raises(InputError, match=f"{path}.*JSON"):
        list_pairs(root, "train")


@pytest.mark.parametrize("escape", ["../../../etc/passwd", "/etc/passwd", "../../outside.JPG"])
def test_paths_may_not_escape_the_root(root, escape):
    (root.parent / "outside.JPG").write_bytes(b"x")
    path = edit_meta(root, source_image=escape)
    with pytest.raises(InputError, match=f"{path}.*leaves the dataset root"):
        list_pairs(root, "train")


def test_listed_target_missing(root):
    meta = json.loads(meta_path(root).read_text())
    missing = root / "train" / meta["target_images"][-1]
    missing.unlink()
    with pytest.raises(InputError, match=f"{missing}.* is missing"):
        list_pairs(root, "train")


def test_corrupt_image_names_the_file(root):
    meta = json.loads(meta_path(root).read_text())
    target = root / "train" / meta["target_images"][0]
    target.write_bytes(b"\xff\xd8 definitely not a jpeg")
    for p in (root / "train" / "gt" / "0").iterdir():
        if p != target:
            p.write_bytes(target.read_bytes())  # every target of scene 0 is corrupt
    ds = RealBokehTrain(root, "train", crop=16)
    with pytest.raises(InputError, match=str(root / "train" / "gt" / "0")):
        ds[0]


def test_bad_depth_names_the_file(root):
    depth = root / "train" / "depth" / "0.npy"
    np.save(depth, np.ones((5, 5), np.float32))
    with pytest.raises(InputError, match=f"{depth}"):
        RealBokehTrain(root, "train", crop=16)[0]


def test_not_a_dataset(tmp_path):
    with pytest.raises(InputError, match="metadata"):
        list_pairs(tmp_path, "train")
    with pytest.raises(InputError, match="split"):
        list_pairs(tmp_path, "val")
