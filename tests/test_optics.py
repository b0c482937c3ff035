"""Thin-lens CoC against closed-form values (SPEC §1) and the seed-audit #2 guard."""

import math

import pytest
import torch

from bokehcli.optics import (FULL_FRAME_DIAGONAL_MM, Lens, coc_mm, coc_mm_from_inverse_depth, coc_px,
                             pixel_pitch_mm, sensor_diagonal_mm)

F64 = dict(dtype=torch.float64)


def spec_coc_mm(depth_m, focal_mm, n, focus_m):
    """SPEC §1 literally: c = A f / (S1 - f) * (D - S1) / D with everything in mm."""
    a, s1, d = focal_mm / n, focus_m * 1000, depth_m * 1000
    return a * focal_mm / (s1 - focal_mm) * (d - s1) / d


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_zero_exactly_at_focus_distance(dtype):
    # Many distances: rounding 1/S1 and 1/D differently leaves ~1e-5 px on a third of them.
    focus = torch.exp(torch.linspace(math.log(0.06), math.log(20.0), 500, dtype=torch.float64)).to(dtype)
    for focal_mm in (24.0, 35.0, 50.0):
        for s1 in focus.tolist():
            value = coc_px(torch.tensor([s1], dtype=dtype), focal_mm, 1.8, s1, FULL_FRAME_DIAGONAL_MM, 6000, 4000)
            assert value.item() == 0.0, (focal_mm, s1)


@pytest.mark.parametrize("depth_m", [0.4, 1.0, 1.9, 2.1, 5.0, 100.0])
def test_matches_spec_formula_and_sign(depth_m):
    got = coc_mm(torch.tensor(depth_m, **F64), 50.0, 2.0, 2.0).item()
    assert got == pytest.approx(spec_coc_mm(depth_m, 50.0, 2.0, 2.0), rel=1e-12)
    assert (got > 0) == (depth_m > 2.0)


def test_worked_example():
    # f = 50 mm, N = 2, S1 = 2 m, D = 4 m: 25 * 50 / 1950 * 0.5 = 0.320513 mm
    assert coc_mm(torch.tensor(4.0, **F64), 50, 2, 2).item() == pytest.approx(0.3205128205, rel=1e-9)


def test_far_limit_and_infinite_focus():
    far = coc_mm(torch.tensor(math.inf, **F64), 50, 2, 2).item()
    assert far == pytest.approx(25 * 50 / (2000 - 50), rel=1e-12)  # A f / (S1 - f)
    # Focus at infinity: everything is in front, c = -A f / D.
    at_inf = coc_mm(torch.tensor(3.0, **F64), 50, 2, math.inf).item()
    assert at_inf == pytest.approx(-25 * 50 / 3000, rel=1e-12)
    assert coc_mm(torch.tensor(math.inf, **F64), 50, 2, math.inf).item() == 0.0


def test_linear_in_inverse_depth():
    inv = torch.linspace(0.05, 2.0, 9, **F64)
    c = coc_mm_from_inverse_depth(inv, 85, 1.4, 3.0)
    second_difference = c[2:] - 2 * c[1:-1] + c[:-2]
    assert second_difference.abs().max().item() < 1e-14


def test_pixels_and_sensor():
    assert sensor_diagonal_mm(1.0) == FULL_FRAME_DIAGONAL_MM
    assert sensor_diagonal_mm(1.5) == pytest.approx(43.27 / 1.5)
    pitch = pixel_pitch_mm(43.27, 6000, 4000)
    assert pitch == pytest.approx(43.27 / math.hypot(6000, 4000))
    px = coc_px(torch.tensor(4.0, **F64), 50, 2, 2, 43.27, 6000, 4000).item()
    assert px == pytest.approx(0.3205128205 / pitch, rel=1e-9)
    lens = Lens(50, 2, 2)
    assert lens.coc_px(torch.tensor(4.0, **F64), 6000, 4000).item() == pytest.approx(px)


def test_focus_guard_gives_finite_values_and_gradients():
    """Seed audit #2: S1 at or below f must not produce inf/NaN, also with a learnable f."""
    focal = torch.tensor(50.0, requires_grad=True, **F64)
    depth = torch.tensor([0.03, 0.2, 1.0, math.inf], **F64)
    for focus_m in (0.05, 0.02, 0.0505):  # S1 == f, S1 < f, S1 == 1.01 f
        c = coc_mm(depth, focal, 2.0, focus_m)
        grad, = torch.autograd.grad(c.sum(), focal)
        assert torch.isfinite(c).all() and torch.isfinite(grad)
    # The guard acts as S1 = 1.01 f with f held constant inside it.
    guarded = coc_mm(depth[:3], 50.0, 2.0, 0.02)
    reference = torch.tensor([spec_coc_mm(d, 50.0, 2.0, 0.0505) for d in depth[:3].tolist()], **F64)
    assert torch.allclose(guarded, reference, rtol=1e-12)
    # ... and its gradient in f is the SPEC formula's with S1 = 0.0505 m held constant.
    grad, = torch.autograd.grad(coc_mm(depth[1:3], focal, 2.0, 0.02).sum(), focal)
    f = torch.tensor(50.0, requires_grad=True, **F64)
    s1_mm, d_mm = 50.5, depth[1:3] * 1000
    expected, = torch.autograd.grad((f / 2.0 * f / (s1_mm - f) * (d_mm - s1_mm) / d_mm).sum(), f)
    assert torch.allclose(grad, expected, rtol=1e-9)


def test_lens_validates():
    with pytest.raises(ValueError):
        Lens(0, 2, 2)
    with pytest.raises(ValueError):
        Lens(50, -1, 2)
    Lens(50, 2, math.inf)  # infinity is a valid focus distance


def test_hyperfocal_distance_leaves_infinity_just_sharp():
    """Focused at H, a point at infinity has exactly the acceptable CoC (sensor diagonal / 1500)."""
    from bokehcli.optics import ACCEPTABLE_COC_FRACTION, hyperfocal_m

    focal_mm, f_number = 50.0, 8.0
    h_m = hyperfocal_m(focal_mm, f_number, FULL_FRAME_DIAGONAL_MM)
    at_infinity = coc_mm_from_inverse_depth(torch.tensor(0.0), focal_mm, f_number, h_m).abs()
    assert float(at_infinity) == pytest.approx(FULL_FRAME_DIAGONAL_MM * ACCEPTABLE_COC_FRACTION, rel=1e-4)
