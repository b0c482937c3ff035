"""The layered renderer against physics: in-focus plane, uniform planes, occlusion, energy."""

import math

import pytest
import torch

from bokehcli.ops.aperture import aperture_kernel
from bokehcli.ops.blur import fft_convolve
from bokehcli.optics import Lens
from bokehcli.render.accumulation import Plane, accumulation_render, pinhole_view
from bokehcli.render.layered import (FILL_MIN_ALPHA, HighlightBoost, _active_boxes, _fill_behind, _reach_box,
                                     layer_centres, layer_weights, render_bokeh, render_bokeh_tiled,
                                     MAX_TILE_GROWTH, MAX_TILE_PIXELS, MIN_TILE_SAVING, _tile_grid, fitted_tile_px,
                                     padded_pixels)


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
    assert centres[0] <= -30 and centres[-1] >= 55 and {-1.0, 0.0, 1.0} <= set(centres)
    steps = [b - a for a, b in zip(centres, centres[1:])]
    beyond = [b - a for a, b in zip(centres, centres[1:]) if a >= 1.0]  # the blurred layers behind
    assert min(steps) == pytest.approx(1.0) and beyond[0] == pytest.approx(1.5) and max(steps) < 0.25 * 55
    c = torch.linspace(-40, 70, 2001, dtype=torch.float64)
    weights, occluders = zip(*(layer_weights(c, centres, k) for k in range(len(centres))))
    weights, occluders = torch.stack(weights), torch.stack(occluders)
    assert torch.allclose(weights.sum(0), torch.ones_like(c))  # a partition of unity
    assert weights.diff(dim=-1).abs().max() <= (c[1] - c[0]) / min(steps) + 1e-9  # continuous in c
    assert torch.equal(occluders.sum(0), torch.ones_like(c))  # every pixel occludes exactly once
    # ... at the back layer of the pair of centres around it.
    for k in range(1, len(centres)):
        inside = (c > centres[k - 1]) & (c <= centres[k])
        assert torch.equal(occluders[k][inside], torch.ones(int(inside.sum()), dtype=torch.float64))


def test_layer_boxes_from_one_pass_equal_those_of_each_layers_weights():
    """The boxes found from the bins each row and column holds (one pass per tile) are those of
    each layer's non-zero weights (one pass per layer), on a batch of two different CoC maps."""
    g = torch.Generator().manual_seed(3)
    coc = torch.full((2, 1, 90, 120), 0.0)
    coc[0, :, 10:30, 20:50] = 7.0 + torch.rand(20, 30, generator=g)
    coc[1, :, 50:80, 60:110] = -25.0 * torch.rand(30, 50, generator=g)
    coc[1, :, :, 115:] = 40.0
    centres = layer_centres(float(coc.min()), float(coc.max()))
    whole = (0, 90, 0, 120)
    for k, box in enumerate(_active_boxes(coc, centres)):
        at = (layer_weights(coc, centres, k)[0] > 0).flatten(0, 1).any(0)
        assert box == _reach_box(at.any(1).nonzero(), at.any(0).nonzero(), centres[k], 1, whole), k


def test_fill_behind_blurs_only_near_depth_edges_with_the_same_result():
    """The fill is computed in the reach of the depth edges only; the formula over the whole box
    (its docstring) gives the same."""
    g = torch.Generator().manual_seed(4)
    box, coc = (0, 160, 0, 200), 14.0
    acc = torch.rand(1, 4, 160, 200, generator=g)
    acc[:, 3] = torch.rand(160, 200, generator=g).clamp(0.2, 1.0)
    occluder = torch.zeros(1, 1, 160, 200)
    occluder[..., 60:90, 70:110] = 1.0                 # a small object ...
    far_behind = torch.zeros(1, 1, 160, 200)
    far_behind[..., 60:90, 110:200] = 1.0              # ... with far background on its right only
    edge = occluder * (torch.nn.functional.max_pool2d(far_behind, 3, stride=1, padding=1) > 0)
    spread = fft_convolve(torch.cat([acc, edge], 1), aperture_kernel(coc))
    gate = ((spread[:, 4:] > FILL_MIN_ALPHA) & (spread[:, 3:4] > FILL_MIN_ALPHA)).float()
    deficit = (1 - acc[:, 3:]).clamp_min(0) * occluder * gate
    expected = acc + deficit * torch.cat([spread[:, :3] / spread[:, 3:4].clamp_min(FILL_MIN_ALPHA),
                                          torch.ones_like(deficit)], 1)
    assert deficit.sum() > 10                          # the test fills something
    ours = _fill_behind(acc.clone(), occluder, far_behind, coc, box)
    assert (ours - expected).abs().max() < 1e-5


def test_sub_pixel_coc_comes_back_as_it_went_in():
    """A point whose CoC diameter is at most one pixel images inside its own pixel: whatever the
    mix of such CoCs, clipped highlights included, the image comes back unchanged; a blurred
    background beside it does not touch the sharp pixels in front of it."""
    g = torch.Generator().manual_seed(4)
    img = texture(64, 96, seed=4)
    img[..., ::7, ::5] = 1.0  # clipped highlights, which the default boost brightens before blurring
    coc = torch.rand(1, 1, 64, 96, generator=g) * 2 - 1  # anywhere in [-1, 1] px
    assert (render_bokeh(img, coc) - img).abs().max() < 1e-6
    assert (render_bokeh_tiled(img, coc, tile_px=64) - img).abs().max() < 1e-6
    coc[..., 48:] = 20.0  # a far background on the right, behind the near-sharp pixels
    out = render_bokeh(img, coc)
    assert (out[..., :48] - img[..., :48]).abs().max() < 1e-6
    assert (out[..., 60:] - img[..., 60:]).abs().max() > 0.05


def test_normalisation_right_by_construction():
    """Multiplying by visibility twice darkens layer transitions. A uniform image
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
    # Beyond the reach of the widest layer the foreground's CoC is split into (plus the bilinear
    # pixel of a blur at reduced resolution) the background is untouched.
    reach = math.ceil(max(abs(c) for c in layer_centres(-30.0, 0.0)) / 2) + 2
    assert row[0, 80 + reach:].max() < 1e-4
    assert torch.allclose(row[:, 140], torch.tensor([0.0, 0.0, 0.8]), atol=1e-5)


def _plane_scene(specs, width=72, height=56, margin=20):
    """Accumulation reference and our render of constant-colour planes, back to front.

    ``specs``: (rgb, columns of the padded frame it covers, signed CoC in px at its depth)."""
    lens = Lens(85.0, 1.4, 1.0, 4.0)
    coc_inf = float(lens.coc_px(torch.tensor(math.inf), width, height))
    planes = []
    for rgb, cols, coc in specs:
        alpha = torch.zeros(height + 2 * margin, width + 2 * margin)
        alpha[:, cols] = 1.0
        colour = torch.tensor(rgb)[:, None, None].expand(3, *alpha.shape).contiguous()
        planes.append(Plane(colour, alpha, lens.focus_m / (1 - coc / coc_inf)))
    reference = accumulation_render(planes, lens, width, height)
    rgb, depth = pinhole_view(planes, width, height)
    ours = render_bokeh(rgb[None], lens.coc_px(depth[None, None], width, height), highlight_boost=1.0)[0]
    return reference[:, height // 2], ours[:, height // 2]


def test_blurred_foreground_lets_the_background_through_inside_its_edge_too():
    """Partial occlusion on both sides of a defocused edge (red half plane, CoC -16 px, over sharp
    green): a real lens sees round the edge, so 2-8 px inside it the background shows as well."""
    reference, ours = _plane_scene([((0.0, 1.0, 0.0), slice(None), 0.0), ((1.0, 0.0, 0.0), slice(0, 56), -16.0)])
    inside = slice(36 - 8, 36 - 1)                      # the edge sits at column 36 of the frame
    assert reference[1, inside].max() > 0.1             # the physics: green shows inside the red
    assert (ours[:, inside] - reference[:, inside]).abs().max() < 0.06
    assert (ours[:, 36:48] - reference[:, 36:48]).abs().max() < 0.06


def test_an_edge_hidden_by_a_nearer_surface_lets_nothing_through():
    """A slightly blurred green wall (CoC +6) meets a sharp red subject in front of it; far blue
    (CoC +40) shows from 20 px further right. Behind the wall's edge next to the subject is more
    wall, not the far blue: the wall's rim there must stay green."""
    reference, ours = _plane_scene([((0.0, 0.0, 1.0), slice(None), 40.0), ((0.0, 1.0, 0.0), slice(0, 60), 6.0),
                                    ((1.0, 0.0, 0.0), slice(0, 40), 0.0)])
    wall = slice(40 - 20 + 1, 40 - 20 + 6)              # frame columns just right of the subject
    assert ours[2, wall].max() < 0.02 and reference[2, wall].max() < 0.02
    assert (ours[:, wall] - reference[:, wall]).abs().max() < 0.06


def test_front_shape_is_rotated_180_degrees():
    img = torch.zeros(1, 3, 81, 81)
    img[..., 40, 40] = 0.9
    # CoC 24 px: both layers it is split into blur at full resolution, whose grid has no
    # orientation (a blur at reduced resolution starts its pixel blocks at the top left).
    behind = render_bokeh(img, torch.full((1, 1, 81, 81), 24.0), blades=5, highlight_boost=1.0)
    front = render_bokeh(img, torch.full((1, 1, 81, 81), -24.0), blades=5, highlight_boost=1.0)
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


def test_highlight_boost_is_finite_and_invertible_on_hdr_input():
    """Linear radiance above 1 is scaled by the gain, not pushed through the exponential."""
    boost = HighlightBoost()
    x = torch.tensor([0.5, 0.95, 1.0, 2.5, 27.0, 1e4]).view(1, 1, 1, -1).expand(1, 3, 1, 6)
    y = boost.forward(x)
    assert torch.isfinite(y).all() and (y[0, 0, 0].diff() > 0).all()
    assert torch.allclose(y[..., 3:], x[..., 3:] * boost.gain)
    assert torch.allclose(boost.inverse(y), x, rtol=1e-5)
    img = torch.full((1, 3, 41, 41), 0.2)
    img[..., 20, 20] = 27.0                                    # a lamp in an HDR image
    out = render_bokeh(img, torch.full((1, 1, 41, 41), 10.0))
    assert torch.isfinite(out).all()
    with pytest.raises(ValueError, match="between 1 and 100"):
        HighlightBoost(1e20)


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
    # depth edges, where each layer's fill reads what lies behind it across tile seams
    rows, cols = torch.meshgrid(torch.arange(300), torch.arange(420), indexing="ij")
    coc = torch.full((1, 1, 300, 420), 66.0)
    coc[..., (rows - 128) ** 2 + (cols - 128) ** 2 < 60 ** 2] = -66.0
    coc[..., 200:, 250:] = 3.0
    whole = render_bokeh(img, coc)
    assert (whole - render_bokeh_tiled(img, coc, tile_px=128)).abs().max() < 1e-5


def test_padded_pixels_against_every_tile_box():
    for height, width, tile, halo in ((300, 420, 128, 64), (2000, 3008, 1024, 1152), (4000, 6000, 2048, 384)):
        boxes = [(min(y + tile + halo, height) - max(y - halo, 0)) * (min(x + tile + halo, width) - max(x - halo, 0))
                 for y in range(0, height, tile) for x in range(0, width, tile)]
        assert padded_pixels(height, width, tile, halo) == (sum(boxes), max(boxes))


@pytest.mark.parametrize("height, width, coc_max_px", [(4000, 6000, 58.6), (3000, 4000, 40.0), (4000, 6000, 111.0)])
def test_a_usual_blur_keeps_the_default_tile(height, width, coc_max_px):
    assert fitted_tile_px(height, width, layer_centres(0.0, coc_max_px), 1024) == 1024


@pytest.mark.parametrize("height, width, coc_max_px", [(2000, 3008, 904.0), (4000, 6000, 1500.0),
                                                       (5657, 8485, 3000.0)])
def test_a_wide_blur_takes_larger_tiles_that_render_fewer_pixels(height, width, coc_max_px):
    """With a 904 px blur on the Nikon D70's 6 MP frame, each 1024 px tile was rendered with a
    1152 px halo: 29 MP of padded tiles for a 6 MP photo (72 s); the whole frame at once, 6 MP (28 s)."""
    centres = layer_centres(0.0, coc_max_px)
    _, halo = _tile_grid(centres)
    base_total, base_largest = padded_pixels(height, width, 1024, halo)
    side = fitted_tile_px(height, width, centres, 1024)
    total, largest = padded_pixels(height, width, side, halo)
    assert side > 1024 and total <= (1 - MIN_TILE_SAVING) * base_total
    assert largest <= max(MAX_TILE_PIXELS, MAX_TILE_GROWTH * base_largest)


def test_tiles_fitted_to_the_blur_render_what_small_tiles_render():
    img = texture(256, 384, seed=4)
    coc = torch.linspace(-20, 150, 384).expand(1, 1, 256, 384).contiguous()
    assert fitted_tile_px(256, 384, layer_centres(-20.0, 150.0), 64) > 64
    fitted = render_bokeh_tiled(img, coc, tile_px=64, fit_to_blur=True)
    assert (fitted - render_bokeh_tiled(img, coc, tile_px=64)).abs().max() < 1e-5


def test_tiled_equals_whole_image_when_the_blur_is_downsampled_128x():
    """A 2100-px CoC blurs at 1/128 resolution: tile crops must start on that grid, not just on 64."""
    img = texture(32, 2600, seed=3)
    coc = torch.full((1, 1, 32, 2600), 2100.0)
    coc[..., :1200] = 300.0
    whole = render_bokeh(img, coc)
    tiled = render_bokeh_tiled(img, coc, tile_px=320)
    assert (whole - tiled).abs().max() < 1e-5
