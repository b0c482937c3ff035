"""Depth map I/O: formats, unknown values, resizing, filling, refusals."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bokehcli.depthio import fill_unknown_depth, load_depth, resize_depth, save_depth
from bokehcli.errors import InputError
from bokehcli.files import TMP_PREFIX

INF, NAN = np.inf, np.nan


def test_round_trip_npy_and_png(tmp_path):
    depth = np.array([[1.2345, 2.0, NAN], [INF, 70.0, 0.0004]], np.float32)
    npy, png = save_depth(tmp_path, "photo", depth)
    assert (npy.name, png.name) == ("photo_depth.npy", "photo_depth.png")
    back, warnings = load_depth(npy)
    np.testing.assert_array_equal(back, depth)
    assert back.dtype == np.float32 and warnings == []
    with Image.open(png) as im:
        assert im.mode == "I;16"
        np.testing.assert_array_equal(np.asarray(im), [[1234, 2000, 0], [65535, 65535, 1]])
    back, _ = load_depth(png)
    np.testing.assert_allclose(back, [[1.234, 2.0, NAN], [65.535, 65.535, 0.001]], rtol=1e-6)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(TMP_PREFIX)]


def test_npy_unknown_values(tmp_path):
    np.save(tmp_path / "d.npy", np.array([[NAN, -1.0, 0.0, -INF, INF, 2.5]], np.float64))
    depth, _ = load_depth(tmp_path / "d.npy")
    assert depth.dtype == np.float32
    np.testing.assert_array_equal(depth, [[NAN, NAN, NAN, NAN, INF, 2.5]])


@pytest.mark.parametrize("array, problem", [
    (np.ones((4, 4), np.int32), "floating-point metres"),
    (np.ones((4, 4, 1), np.float32), "2-D"),
    (np.array([[None, 1.0]], dtype=object), "pickled"),
    (np.full((3, 3), NAN, np.float32), "no known values"),
])
def test_npy_refused(tmp_path, array, problem):
    np.save(tmp_path / "d.npy", array, allow_pickle=True)
    with pytest.raises(InputError, match=f"d.npy: .*{problem}"):
        load_depth(tmp_path / "d.npy")


def test_truncated_and_bogus_npy(tmp_path):
    np.save(tmp_path / "d.npy", np.ones((50, 50), np.float32))
    data = (tmp_path / "d.npy").read_bytes()
    (tmp_path / "t.npy").write_bytes(data[:-100])
    (tmp_path / "b.npy").write_bytes(b"not numpy at all")
    for name, problem in (("t.npy", "truncated"), ("b.npy", "corrupt"), ("none.npy", "file not found")):
        with pytest.raises(InputError, match=f"{name}: .*{problem}"):
            load_depth(tmp_path / name)


def test_png_refusals(tmp_path):
    Image.fromarray(np.full((4, 4), 100, np.uint8)).save(tmp_path / "d8.png")
    with pytest.raises(InputError, match="d8.png: 8-bit PNG: depth units would be ambiguous"):
        load_depth(tmp_path / "d8.png")
    Image.fromarray(np.zeros((4, 4), np.uint16)).save(tmp_path / "zero.png")
    with pytest.raises(InputError, match="no known values"):
        load_depth(tmp_path / "zero.png")
    (tmp_path / "d.exr").write_bytes(b"x")
    with pytest.raises(InputError, match="unsupported depth map format"):
        load_depth(tmp_path / "d.exr")
    Image.fromarray(np.ones((4, 4), np.uint16)).save(tmp_path / "big.png")
    with pytest.raises(InputError, match="too many pixels"):
        load_depth(tmp_path / "big.png", max_pixels=15)


def test_aspect_ratio_checked(tmp_path):
    np.save(tmp_path / "d.npy", np.ones((30, 40), np.float32))
    with pytest.raises(InputError, match=r"d.npy: depth map is 40x30 but the photo is 400x400"):
        load_depth(tmp_path / "d.npy", size_wh=(400, 400))
    with pytest.raises(InputError, match="rotated"):
        load_depth(tmp_path / "d.npy", size_wh=(300, 400))
    depth, warnings = load_depth(tmp_path / "d.npy", size_wh=(40, 30))
    assert depth.shape == (30, 40) and warnings == []
    depth, warnings = load_depth(tmp_path / "d.npy", size_wh=(400, 299))  # rounding of a resized map
    assert depth.shape == (299, 400) and np.all(depth == 1.0)
    assert warnings == [f"{tmp_path / 'd.npy'}: depth map 40x30 resized to 400x299"]


def test_resize_is_bilinear_in_inverse_depth():
    depth = np.array([[1.0, INF]], np.float32)  # inverse depth 1 and 0
    resized = resize_depth(depth, (4, 1))
    # output centres at input coordinates -0.25, 0.25, 0.75, 1.25 -> inverse 1, 0.75, 0.25, 0
    np.testing.assert_allclose(resized, [[1.0, 4 / 3, 4.0, INF]], rtol=1e-6)


def test_resize_ignores_unknown_pixels():
    # output centres at input coordinates -0.25, 0.25, 0.75, 1.25: the last row and column
    # see only unknown pixels and stay unknown, the others see only the value 2
    depth = np.array([[2.0, NAN], [NAN, NAN]], np.float32)
    expected = np.full((4, 4), NAN)
    expected[:3, :3] = 2.0
    np.testing.assert_array_equal(resize_depth(depth, (4, 4)), expected)


def test_fill_unknown_takes_the_nearest_known_value():
    depth = np.full((5, 7), NAN, np.float32)
    depth[0, 0], depth[4, 6], depth[2, 3] = 1.0, INF, 3.0
    filled = fill_unknown_depth(depth)
    rows, cols = np.mgrid[:5, :7]
    known = [(0, 0), (4, 6), (2, 3)]
    nearest = np.argmin([np.hypot(rows - r, cols - c) for r, c in known], axis=0)
    np.testing.assert_array_equal(filled, np.array([1.0, INF, 3.0], np.float32)[nearest])
    assert np.isnan(depth).sum() == 32  # input untouched


def test_fill_all_unknown_is_an_error():
    with pytest.raises(InputError, match="x.png: depth map has no known values"):
        fill_unknown_depth(np.full((2, 2), NAN, np.float32), source="x.png")


def test_save_depth_failure_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(Image.Image, "save", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        save_depth(tmp_path, "p", np.ones((2, 2), np.float32))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p_depth.npy"]
