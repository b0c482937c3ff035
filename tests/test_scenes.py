"""Procedural scenes: determinism, geometry limits, content."""

import math

import pytest
import torch

from bokehcli.data.scenes import MAX_COC_FRACTION, fronto_parallel_scene, random_scene
from bokehcli.render.accumulation import max_coc_px, pinhole_view

W, H = 192, 128


pytestmark = pytest.mark.usefixtures("one_thread")


def same_scene(a, b):
    if (a.focal_mm, a.focus_m, len(a.planes)) != (b.focal_mm, b.focus_m, len(b.planes)):
        return False
    for p, q in zip(a.planes, b.planes):
        if not (torch.equal(p.rgb, q.rgb) and torch.equal(p.alpha, q.alpha)):
            return False
        if isinstance(p.depth_m, torch.Tensor) != isinstance(q.depth_m, torch.Tensor):
            return False
        if isinstance(p.depth_m, torch.Tensor) and not torch.equal(p.depth_m, q.depth_m):
            return False
        if not isinstance(p.depth_m, torch.Tensor) and p.depth_m != q.depth_m:
            return False
    return True


@pytest.mark.parametrize("make", [random_scene, fronto_parallel_scene])
def test_deterministic_per_seed(make):
    assert same_scene(make((3, 1, 7), W, H), make((3, 1, 7), W, H))
    assert not same_scene(make((3, 1, 7), W, H), make((3, 1, 8), W, H))


def test_global_rng_untouched():
    torch.manual_seed(0)
    expected = torch.rand(1)
    torch.manual_seed(0)
    random_scene(5, W, H)
    assert torch.equal(torch.rand(1), expected)


@pytest.mark.parametrize("seed", range(12))
def test_random_scene_geometry(seed):
    scene = random_scene(seed, W, H, widest_f_number=2.0)
    hc, wc = scene.planes[0].size
    assert all(p.size == (hc, wc) for p in scene.planes)
    margin = min((hc - H) // 2, (wc - W) // 2)
    assert (hc - H) % 2 == 0 and (wc - W) % 2 == 0  # the frame is centred on the optical axis
    coc = max_coc_px(scene.planes, scene.lens(2.0), W, H)
    assert coc <= MAX_COC_FRACTION * math.hypot(W, H) * 1.01
    assert margin >= coc / 2
    assert 24.0 <= scene.focal_mm <= 85.0 and scene.focus_m > 0
    rgb, depth = pinhole_view(scene.planes, W, H)
    assert rgb.shape == (3, H, W) and depth.shape == (H, W)
    assert torch.isfinite(rgb).all() and (depth > 0).all() and torch.isfinite(depth).all()
    assert rgb.min() >= 0


def test_random_scenes_have_bright_lights_slanted_planes_and_real_blur():
    scenes = [random_scene(seed, 768, 512, widest_f_number=2.0) for seed in range(6)]
    assert any(p.rgb.max() > 3.0 for s in scenes for p in s.planes)  # clip and turn into bokeh balls
    assert any(isinstance(p.depth_m, torch.Tensor) for s in scenes for p in s.planes)
    cocs = [max_coc_px(s.planes, s.lens(2.0), 768, 512) for s in scenes]
    assert max(cocs) > 20.0  # tens of px at f/2 on 768x512


@pytest.mark.parametrize("seed", range(8))
def test_fronto_parallel_scene(seed):
    scene = fronto_parallel_scene(seed, W, H)
    assert 2 <= len(scene.planes) <= 5
    assert all(not isinstance(p.depth_m, torch.Tensor) for p in scene.planes)
    assert all(p.rgb.max() <= 1.0 for p in scene.planes)
    depths = [p.depth_m for p in scene.planes]
    assert scene.focus_m in depths
    backdrop = scene.planes[0]
    assert backdrop.alpha.min() == 1.0 and backdrop.depth_m == max(depths)


@pytest.mark.parametrize("seed", range(6))
def test_independent_dead_leaves_scenes(seed):
    """The held-out generator of tests/dead_leaves_scenes.py: a sound scene, focused on a layer."""
    from dead_leaves_scenes import FAR_M, NEAR_M, dead_leaves_scene

    scene = dead_leaves_scene(seed, W, H)
    assert same_scene(scene, dead_leaves_scene(seed, W, H))
    assert 2 <= len(scene.planes) <= 4 and bool((scene.planes[0].alpha == 1).all())
    depths = [p.depth_m for p in scene.planes]
    assert scene.focus_m in depths and all(NEAR_M <= d <= FAR_M for d in depths)
    assert depths == sorted(depths, reverse=True)  # backdrop first, nearer layers over it
    hc, wc = scene.planes[0].size
    assert min(hc - H, wc - W) // 2 >= max_coc_px(scene.planes, scene.lens(1.8), W, H) / 2
    rgb, depth = pinhole_view(scene.planes, W, H)
    assert rgb.std() > 0.05 and 0 <= float(rgb.min()) and float(rgb.max()) <= 1
    # The layer in focus shows somewhere in the frame.
    assert bool((depth == scene.focus_m).any())
