"""The accumulation-buffer reference against closed-form thin-lens results."""

import math

import pytest
import torch
import torch.nn.functional as F

from bokehcli.ops.aperture import aperture_kernel
from bokehcli.optics import Lens
from bokehcli.render.accumulation import Plane, accumulation_render, default_point_count, pinhole_view

W, H, M = 72, 56, 20  # frame and margin (px)
# A small "sensor" gives CoCs of ~10-20 px on a tiny frame.
LENS = Lens(focal_mm=85.0, f_number=1.4, focus_m=1.0, sensor_diag_mm=4.0)


pytestmark = pytest.mark.usefixtures("one_thread")


def depth_for_coc(coc_px: float) -> float:
    """Depth whose signed CoC is ``coc_px`` for LENS on the W x H frame (inverse-depth linear)."""
    c_inf = float(LENS.coc_px(torch.tensor(math.inf), W, H))
    return LENS.focus_m / (1.0 - coc_px / c_inf)


def canvas(value=0.0):
    return torch.full((H + 2 * M, W + 2 * M), float(value))


def noise_texture(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(3, H + 2 * M, W + 2 * M, generator=g)


def frame(t):
    return t[..., M:M + H, M:M + W]


def test_depth_for_coc_helper():
    assert float(LENS.coc_px(torch.tensor(depth_for_coc(14.0)), W, H)) == pytest.approx(14.0, rel=1e-5)
    assert float(LENS.coc_px(torch.tensor(depth_for_coc(-9.0)), W, H)) == pytest.approx(-9.0, rel=1e-5)


def test_plane_at_focus_is_unchanged():
    tex = noise_texture()
    out = accumulation_render([Plane(tex, canvas(1.0), LENS.focus_m)], LENS, W, H)
    assert torch.allclose(out, frame(tex), atol=1e-4)


@pytest.mark.parametrize("blades", [0, 5])
@pytest.mark.parametrize("coc", [14.0, -11.0])
def test_uniform_plane_is_convolution_with_aperture_kernel(blades, coc):
    tex = noise_texture(1)
    out = accumulation_render([Plane(tex, canvas(1.0), depth_for_coc(coc))], LENS, W, H, blades=blades)
    k = aperture_kernel(coc, blades)
    # aperture_kernel is for true convolution: conv2d correlates, so flip it.
    ref = F.conv2d(tex[:, None], k.flip(0, 1)[None, None], padding=k.shape[0] // 2)[:, 0]
    err = (out - frame(ref)).abs()
    # Per-pixel white noise is the hardest texture. With the default count the sampling of the
    # aperture adds about as much as the different anti-aliasing of the rim (area coverage vs.
    # bilinear-splatted samples), which is all that is left with many points.
    assert err.mean() < 5e-3
    assert err.max() < 2e-2
    many = accumulation_render([Plane(tex, canvas(1.0), depth_for_coc(coc))], LENS, W, H, blades=blades,
                               n_points=1600)
    assert (many - frame(ref)).abs().mean() < 2e-3


def test_energy_of_a_point_light_is_conserved():
    rgb, alpha = torch.zeros(3, H + 2 * M, W + 2 * M), canvas(0.0)
    cy, cx = M + H // 2, M + W // 2
    rgb[:, cy, cx], alpha[cy, cx] = 20.0, 1.0
    lights = Plane(rgb, alpha, depth_for_coc(18.0))
    out = accumulation_render([lights], LENS, W, H)
    assert out.sum(dim=(1, 2)) == pytest.approx([20.0] * 3, rel=1e-3)
    # The light is spread over the disk (area pi 9^2), not left as a dot.
    assert out[0].max() < 20.0 / (math.pi * 8 ** 2)


def test_mean_is_preserved_for_a_blurred_opaque_plane():
    tex = noise_texture(2)
    out = accumulation_render([Plane(tex, canvas(1.0), depth_for_coc(16.0))], LENS, W, H)
    assert out.mean() == pytest.approx(frame(tex).mean().item(), abs=2e-3)


def halves(left_value):
    """Alpha of a half plane covering canvas columns left of the frame centre."""
    alpha = canvas(0.0)
    alpha[:, : M + W // 2] = left_value
    return alpha


def colour(r, g, b):
    return torch.tensor([r, g, b], dtype=torch.float32)[:, None, None].expand(3, H + 2 * M, W + 2 * M)


def test_sharp_foreground_edge_over_blurred_background_does_not_bleed():
    fg = Plane(colour(1, 0, 0), halves(1.0), LENS.focus_m)  # in focus, opaque, left half
    bg = Plane(noise_texture(3), canvas(1.0), depth_for_coc(16.0))
    out = accumulation_render([bg, fg], LENS, W, H)
    edge = W // 2
    # The in-focus occluder stays exactly itself up to its edge; the blurred background does not
    # spread over it ...
    assert torch.allclose(out[:, :, :edge], colour(1, 0, 0)[:, :H, :edge], atol=1e-5)
    # ... and no red spreads onto the background side.
    assert out[0, :, edge:].max() < frame(noise_texture(3))[0].max() + 1e-5
    assert (out[0, :, edge + 1:] - out[1, :, edge + 1:]).abs().mean() < 0.3


def disk_segment_fraction(d, r):
    """Fraction of a disk of radius r on the far side of a line at signed distance d from its centre."""
    d = max(-r, min(r, d))
    return (r * r * math.acos(d / r) - d * math.sqrt(r * r - d * d)) / (math.pi * r * r)


def test_blurred_foreground_rim_shows_the_sharp_background():
    coc = -16.0
    fg = Plane(colour(1, 0, 0), halves(1.0), depth_for_coc(coc))  # in front of focus, blurred
    bg = Plane(colour(0, 1, 0), canvas(1.0), LENS.focus_m)  # sharp
    out = accumulation_render([bg, fg], LENS, W, H)
    r = abs(coc) / 2
    edge = W // 2 - 0.5  # the boundary between columns edge-1 and edge, in frame columns
    for col in range(W // 2 - 12, W // 2 + 12):
        expected_red = disk_segment_fraction(col - edge, r)  # fraction of shifts covering col
        assert out[0, H // 2, col].item() == pytest.approx(expected_red, abs=0.03)
        # Colour and coverage add up: the background shows through the semi-transparent rim.
        assert out[0, H // 2, col] + out[1, H // 2, col] == pytest.approx(1.0, abs=1e-4)
    assert 0.2 < out[1, H // 2, W // 2 - 2].item() < 0.8


@pytest.mark.parametrize("coc", [16.0, -16.0])
def test_five_blade_bokeh_matches_aperture_kernel(coc):
    rgb, alpha = torch.zeros(3, H + 2 * M, W + 2 * M), canvas(0.0)
    cy, cx = M + H // 2, M + W // 2
    rgb[:, cy, cx], alpha[cy, cx] = 1.0, 1.0
    out = accumulation_render([Plane(rgb, alpha, depth_for_coc(coc))], LENS, W, H, blades=5,
                              rotation_deg=10.0)[0]
    k = aperture_kernel(coc, 5, 10.0)
    half = k.shape[0] // 2
    spot = out[H // 2 - half:H // 2 + half + 1, W // 2 - half:W // 2 + half + 1]
    assert spot.sum() == pytest.approx(1.0, abs=1e-3)
    same = (spot - k).abs().sum()
    assert same < 0.12  # the same shape, up to rim anti-aliasing
    # Behind and in front of the focus plane the pentagon points opposite ways: the kernel turned
    # by 180 degrees is a clearly worse match (a pentagon and its turn overlap by ~90 %).
    assert (spot - k.flip(0, 1)).abs().sum() > 2 * same


def test_depth_map_plane_matches_constant_plane():
    tex = noise_texture(4)
    depth = depth_for_coc(12.0)
    constant = accumulation_render([Plane(tex, canvas(1.0), depth)], LENS, W, H, n_points=64)
    mapped = accumulation_render([Plane(tex, canvas(1.0), canvas(depth))], LENS, W, H, n_points=64)
    assert torch.allclose(constant, mapped, atol=1e-5)


def test_interpenetrating_planes_are_sorted_per_pixel():
    # Two slanted planes cross at the middle column: each is in front on one side.
    cols = torch.arange(W + 2 * M, dtype=torch.float32)
    ramp = (cols / (W + 2 * M - 1)).expand(H + 2 * M, -1)
    a = Plane(colour(1, 0, 0), canvas(1.0), 1.0 + ramp)  # red: near on the left
    b = Plane(colour(0, 0, 1), canvas(1.0), 2.0 - ramp)  # blue: near on the right
    rgb, depth = pinhole_view([a, b], W, H)
    assert rgb[0, :, : W // 2 - 1].min() == 1.0 and rgb[2, :, W // 2 + 1:].min() == 1.0
    assert torch.allclose(depth, torch.minimum(frame(a.depth_m), frame(b.depth_m)))
    # The accumulation render with the lens agrees at the pinhole point and stays a mixture.
    out = accumulation_render([a, b], LENS, W, H, n_points=1)
    assert torch.allclose(out, rgb, atol=1e-5)


def test_pinhole_depth_is_the_first_surface_past_half_coverage():
    front = Plane(colour(1, 0, 0), halves(0.4), 1.5)  # too thin to count
    middle = Plane(colour(0, 1, 0), halves(0.6), 2.5)
    back = Plane(colour(0, 0, 1), canvas(1.0), 4.0)
    rgb, depth = pinhole_view([back, middle, front], W, H)
    assert depth[:, : W // 2].unique().tolist() == [2.5]
    assert depth[:, W // 2:].unique().tolist() == [4.0]
    # over: 0.4 red + 0.6 * 0.6 green + 0.6 * 0.4 blue
    assert rgb[:, 0, 0].tolist() == pytest.approx([0.4, 0.36, 0.24], abs=1e-6)


def test_point_count_follows_the_largest_coc():
    assert default_point_count(0.0) == 1
    assert default_point_count(40.0) == math.ceil(math.pi * 20 ** 2)
    assert default_point_count(1e4) == 4096


def test_planes_must_share_a_canvas_and_fit_the_frame():
    p = Plane(noise_texture(), canvas(1.0), 2.0)
    small = Plane(torch.zeros(3, 10, 10), torch.ones(10, 10), 2.0)
    with pytest.raises(ValueError, match="canvas"):
        accumulation_render([p, small], LENS, W, H)
    with pytest.raises(ValueError, match="does not fit"):
        accumulation_render([small], LENS, W, H)
    with pytest.raises(ValueError, match="alpha"):
        Plane(torch.zeros(3, 10, 10), torch.ones(9, 10), 2.0)
