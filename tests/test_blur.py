"""Blur ops against a brute-force convolution; reduced-resolution path within noise."""

import pytest
import torch
import torch.nn.functional as F

from bokehcli.ops.aperture import aperture_kernel
from bokehcli.ops.blur import aperture_blur, direct_convolve, fft_convolve, reduction_factor


def naive_convolve(x, kernel):
    """out[y, x] = sum K[i, j] in[y - i + h, x - j + h], zero padded, by explicit shifts."""
    k = kernel.shape[-1]
    h = k // 2
    padded = F.pad(x, (h, h, h, h))
    out = torch.zeros_like(x)
    height, width = x.shape[-2:]
    for i in range(k):
        for j in range(k):
            out += kernel[i, j] * padded[..., 2 * h - i:2 * h - i + height, 2 * h - j:2 * h - j + width]
    return out


@pytest.fixture
def image():
    g = torch.Generator().manual_seed(0)
    return torch.rand(2, 4, 37, 45, generator=g, dtype=torch.float64)


def test_direct_and_fft_equal_naive_true_convolution(image):
    kernel = aperture_kernel(7.0, blades=5, rotation_deg=10, dtype=torch.float64)  # asymmetric
    reference = naive_convolve(image, kernel)
    assert torch.allclose(direct_convolve(image, kernel), reference, atol=1e-12)
    assert torch.allclose(fft_convolve(image, kernel), reference, atol=1e-12)


def test_impulse_response_is_the_kernel():
    kernel = aperture_kernel(9.0, blades=5, dtype=torch.float64)
    impulse = torch.zeros(1, 1, 31, 31, dtype=torch.float64)
    impulse[..., 15, 15] = 1
    response = fft_convolve(impulse, kernel)
    h = kernel.shape[0] // 2
    assert torch.allclose(response[0, 0, 15 - h:15 + h + 1, 15 - h:15 + h + 1], kernel, atol=1e-12)


def test_energy_conserved_away_from_borders():
    x = torch.zeros(1, 1, 200, 200, dtype=torch.float64)
    x[..., 80:120, 90:110] = torch.rand(40, 20, dtype=torch.float64)
    for coc in (3.0, 12.0, 40.0):
        assert aperture_blur(x, coc).sum().item() == pytest.approx(x.sum().item(), rel=1e-6)


@pytest.mark.parametrize("coc", [40.0, 70.0, 130.0])
def test_reduced_resolution_blur_is_within_noise(coc):
    assert reduction_factor(coc / 2) > 1
    g = torch.Generator().manual_seed(1)
    x = torch.rand(1, 3, 300, 340, generator=g)
    x[..., 100:140, 100:180] = 1.0  # hard edges: the worst case for downsampling
    exact = fft_convolve(x, aperture_kernel(coc, dtype=torch.float32))
    fast = aperture_blur(x, coc)
    rmse = (fast - exact)[..., 40:-40, 40:-40].pow(2).mean().sqrt().item()
    assert rmse < 2e-3
