"""The layered renderer against physics: in-focus plane, uniform planes, occlusion, energy."""

import math

import pytest
import torch

from bokehcli.ops.aperture import aperture_kernel
from bokehcli.ops.blur import fft_convolve
from bokehcli.optics import Lens
from bokehcli.render.layered import (HighlightBoost, layer_centres, layer_weights, render_bokeh,
                                     render_bokeh_tiled)


def psnr(a, b):
    mse = ((a - b) ** 2).mean().item()
    return math.inf if mse == 0 else -10 * math.log10(mse)


def texture(h=96, w=128, seed=0):
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, h // 8, w // 8, generator=g)
    fine = torch.rand(1, 3, h, w, generator=g)
    smooth = torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    return (0.6 * smooth + 0.3 * fine).clamp(0, 0.9)  # below the highlight threshold


def test_plane_at_focus_distance_unchanged():
    img = texture()
    lens = Lens(50, 1.8, 2.0)
    depth = torch.full((1, 1, 96, 128), 2.0)
    out = render_bokeh(img, lens.coc_px(depth, 128, 96))
    assert psnr(out, img) >= 45
    assert (out - img).abs().max() < 1e-5


@pytest.mark.parametrize("coc", [9.0, -17.3, 30.0])
def test_uniform_plane_equals_convolution_with_kernel(coc):
    img = texture(128, 128)
    out = render_bokeh(img, torch.full((1, 1, 128, 128), coc), highlight_boost=1.0)
    expected = fft_convolve(img, aperture_kernel(coc))
    m = int(abs(coc)) + 2  # interior: the renderer renormalises at the frame border
    assert psnr(out[..., m:-m, m:-m], expected[..., m:-m, m:-m]) > 40


def test_layer_grid_weights_and_occluders():
    centres = layer_centres(-30.0, 55.0)
    assert centres[0] <= -30 and centres[-1] >= 55 and 0.0 in centres
    steps = [b - a for a, b in zip(centres, centres[1:])]
    assert min(steps) == pytest.approx(1.5) and max(steps) < 0.25 * 55
    c = torch.linspace(-40, 70, 2001, dtype=torch.float64)
    weights, occluders = zip(*(layer_weights(c, centres, k) for k in range(len(centres))))
    weights, occluders = torch.stack(weights), torch.stack(occluders)
    assert torch.allclose(weights.sum(0), torch.ones_like(c))  # a partition of unity
    assert weights.diff(dim=-1).abs().max() < 0.05  # continuous in c
    assert torch.equal(occluders.sum(0), torch.ones_like(c))  # every pixel occludes exactly once
    # ... at the back layer of the pair of centres around it.
    for k in range(1, len(centres)):
        inside = (c > centres[k - 1]) & (c <= centres[k])
        assert torch.equal(occluders[k][inside], torch.ones(int(inside.sum()), dtype=torch.float64))


def test_normalisation_right_by_construction():
    """Seed audit #1: multiplying by visibility twice darkens layer transitions. A uniform image
    stays uniform whatever the CoC map (the colour/coverage ratio is preserved exactly)."""
    g = torch.Generator().manual_seed(3)
    coc = (torch.rand(1, 1, 80, 100, generator=g) * 60 - 20)
    coc = torch.nn.functional.avg_pool2d(coc, 5, 1, 2)
    colour = torch.tensor([0.2, 0.5, 0.7]).view(1, 3, 1, 1)
    out = render_bokeh(colour.expand(1, 3, 80, 100).contiguous(), coc)
    assert (out - colour).abs().max() < 1e-5


def test_sharp_foreground_occludes_blurred_background():
    img = texture(100, 160, seed=1)
    coc = torch.full((1, 1, 100, 160), 24.0)  # far background
    coc[..., :, :80] = 0.0  # in-focus subject on the left
    out = render_bokeh(img, coc, highlight_boost=1.0)
    # The subject stays sharp right up to its edge: no background bleeds over it.
    assert (out[..., :, :80] - img[..., :, :80]).abs().max() < 1e-5


def test_blurred_foreground_spreads_over_sharp_background():
    """Partial occlusion: the blurred foreground's rim is semi-transparent."""
    h, w = 64, 160
    img = torch.zeros(1, 3, h, w)
    img[:, 0, :, :80] = 0.8  # red foreground on the left
    img[:, 2, :, 80:] = 0.8  # blue in-focus background on the right
    coc = torch.zeros(1, 1, h, w)
    coc[..., :80] = -30.0  # foreground in front of the focus plane
    out = render_bokeh(img, coc, highlight_boost=1.0)
    row = out[0, :, h // 2]
    beside = row[:, 85]  # background pixel within the foreground's blur radius
    assert beside[0] > 0.05 and beside[2] > 0.3  # both visible: foreground over, background through
    assert row[0, 80 + 16:].max() < 1e-4  # beyond the radius the background is untouched
    assert torch.allclose(row[:, 140], torch.tensor([0.0, 0.0, 0.8]), atol=1e-5)


def test_front_shape_is_rotated_180_degrees():
    img = torch.zeros(1, 3, 81, 81)
    img[..., 40, 40] = 0.9
    behind = render_bokeh(img, torch.full((1, 1, 81, 81), 30.0), blades=5, highlight_boost=1.0)
    front = render_bokeh(img, torch.full((1, 1, 81, 81), -30.0), blades=5, highlight_boost=1.0)
    assert torch.allclose(front, behind.flip(-1, -2), atol=1e-6)
    assert not torch.allclose(behind, behind.flip(-1, -2), atol=1e-3)


def test_highlight_boost_makes_bright_bokeh_and_is_exact_in_focus():
    boost = HighlightBoost(4.0)
    x = torch.linspace(0, 1, 101).view(1, 1, 1, -1).expand(1, 3, 1, 101)
    assert torch.allclose(boost.inverse(boost.forward(x)), x, atol=1e-6)
    assert boost.forward(torch.ones(1, 3, 1, 1)).max().item() == pytest.approx(4.0, rel=1e-6)
    img = torch.full((1, 3, 61, 61), 0.1)
    img[..., 30, 30] = 1.0  # a clipped point light
    coc = torch.full((1, 1, 61, 61), 12.0)
    plain = render_bokeh(img, coc, highlight_boost=1.0)
    boosted = render_bokeh(img, coc, highlight_boost=4.0)
    # The clipped point carries ~4x the light above the background into its bokeh disk.
    excess = (boosted[..., 30, 30] - 0.1) / (plain[..., 30, 30] - 0.1)
    assert (excess > 3.5).all()
    sharp = render_bokeh(img, torch.zeros(1, 1, 61, 61), highlight_boost=4.0)
    assert (sharp - img).abs().max() < 1e-5


def test_gradients_reach_depth():
    img = texture(48, 64).requires_grad_()
    depth = torch.full((1, 1, 48, 64), 3.0)
    depth[..., :, 32:] = 1.2
    depth = depth.requires_grad_()
    lens = Lens(85, 1.4, 2.0)
    out = render_bokeh(img, lens.coc_px(depth, 64, 48))
    target = texture(48, 64, seed=5)
    ((out - target) ** 2).mean().backward()
    for grad in (depth.grad, img.grad):
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_tiled_equals_whole_image():
    img = texture(300, 420, seed=2)
    coc = torch.linspace(-35, 70, 420).expand(1, 1, 300, 420).contiguous()
    whole = render_bokeh(img, coc)
    tiled = render_bokeh_tiled(img, coc, tile_px=128)
    assert (whole - tiled).abs().max() < 1e-5
