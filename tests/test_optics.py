"""Thin-lens CoC against closed-form values (docs/optics.md) and the focus guard."""

import math

import pytest
import torch

from bokehcli.ops.aperture import aperture_kernel
from bokehcli.ops.blur import fft_convolve
from bokehcli.optics import (FULL_FRAME_DIAGONAL_MM, Lens, coc_mm, coc_mm_from_inverse_depth, coc_px,
                             pixel_pitch_mm, residual_f_number, sensor_diag_mm_for_crop)

F64 = dict(dtype=torch.float64)


def spec_coc_mm(depth_m, focal_mm, n, focus_m):
    """The thin-lens formula literally: c = A f / (S1 - f) * (D - S1) / D with everything in mm."""
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
    assert sensor_diag_mm_for_crop(1.0) == FULL_FRAME_DIAGONAL_MM
    assert sensor_diag_mm_for_crop(1.5) == pytest.approx(43.27 / 1.5)
    pitch = pixel_pitch_mm(43.27, 6000, 4000)
    assert pitch == pytest.approx(43.27 / math.hypot(6000, 4000))
    px = coc_px(torch.tensor(4.0, **F64), 50, 2, 2, 43.27, 6000, 4000).item()
    assert px == pytest.approx(0.3205128205 / pitch, rel=1e-9)
    lens = Lens(50, 2, 2)
    assert lens.coc_px(torch.tensor(4.0, **F64), 6000, 4000).item() == pytest.approx(px)


def test_focus_guard_gives_finite_values_and_gradients():
    """The focus guard: S1 at or below f must not produce inf/NaN, also with a learnable f."""
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
    # ... and its gradient in f is the thin-lens formula's with S1 = 0.0505 m held constant.
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


def _second_moment(kernel: torch.Tensor) -> float:
    """Mean squared distance from the centre of a (k, k) kernel that sums to 1."""
    half = kernel.shape[-1] // 2
    yy, xx = torch.meshgrid(*(torch.arange(-half, half + 1, **F64),) * 2, indexing="ij")
    return float((kernel.double() * (xx ** 2 + yy ** 2)).sum())


@pytest.mark.parametrize("target, source", [(8.0, 22.0), (16.0, 22.0), (20.0, 22.0), (4.0, 5.6)])
def test_residual_blur_completes_the_source_blur(target, source):
    """A photo at f/N_s blurred again at the residual f-number has the blur of f/N_t to the
    second moment: the composed kernel's is the target disc's."""
    residual = residual_f_number(target, source)
    assert 1 / residual ** 2 == pytest.approx(1 / target ** 2 - 1 / source ** 2)
    coc_target = 60.0  # px at f/N_t; the CoC scales as 1/N at one depth
    coc_source, coc_residual = coc_target * target / source, coc_target * target / residual
    k_target, k_residual = (aperture_kernel(c, dtype=torch.float64) for c in (coc_target, coc_residual))
    size = aperture_kernel(coc_source).shape[-1] + k_residual.shape[-1] - 1  # holds the whole composition
    composed = fft_convolve(aperture_kernel(coc_source, dtype=torch.float64, size=size)[None, None], k_residual)[0, 0]
    assert _second_moment(composed) == pytest.approx(_second_moment(k_target), rel=0.02)


def test_residual_blur_of_a_near_sharp_target_beats_blurring_it_whole():
    """f/22 -> f/20: the photo already holds most of the target's blur. Adding the residual disc
    comes far closer to the target than adding the whole target disc again."""
    coc_target = 60.0
    coc_source, coc_residual = coc_target * 20 / 22, coc_target * 20 / residual_f_number(20.0, 22.0)
    g = torch.Generator().manual_seed(0)
    scene = torch.nn.functional.interpolate(torch.rand(1, 1, 40, 40, generator=g, **F64), size=(320, 320),
                                            mode="nearest")
    blur = {c: aperture_kernel(c, dtype=torch.float64) for c in (coc_source, coc_target, coc_residual)}
    photo, truth = fft_convolve(scene, blur[coc_source]), fft_convolve(scene, blur[coc_target])
    inner = (slice(None), slice(None), slice(80, 240), slice(80, 240))
    error_residual = (fft_convolve(photo, blur[coc_residual]) - truth)[inner].pow(2).mean()
    error_whole = (fft_convolve(photo, blur[coc_target]) - truth)[inner].pow(2).mean()
    assert error_residual < 0.5 * error_whole


def test_residual_of_an_aperture_no_wider_than_the_source_adds_nothing():
    assert residual_f_number(22.0, 22.0) == math.inf and residual_f_number(32.0, 22.0) == math.inf
    assert residual_f_number(2.0, 22.0) == pytest.approx(2.0083, abs=1e-4)
    with pytest.raises(ValueError):
        residual_f_number(0.0, 22.0)
