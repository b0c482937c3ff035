"""sRGB transfer: the standard's values, exact round trip, large-tensor path equals the plain one."""

import torch

from bokehcli.ops import color


def test_standard_values_and_round_trip():
    v = torch.tensor([0.0, 0.04045, 0.5, 1.0], dtype=torch.float64)
    linear = color.srgb_to_linear(v)
    assert torch.allclose(linear, torch.tensor([0.0, 0.04045 / 12.92, 0.21404114, 1.0], dtype=torch.float64))
    grid = torch.linspace(0, 1, 1001, dtype=torch.float64)
    assert torch.allclose(color.linear_to_srgb(color.srgb_to_linear(grid)), grid, atol=1e-12)


def test_sliced_large_tensors_equal_the_plain_formula():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 700, 500, generator=g).permute(0, 2, 3, 1)  # large and non-contiguous
    assert x.numel() > color._SLICE_ELEMENTS
    assert torch.allclose(color.srgb_to_linear(x), color._srgb_to_linear(x), rtol=1e-6, atol=0)
    assert torch.allclose(color.linear_to_srgb(x), color._linear_to_srgb(x), rtol=1e-6, atol=0)


def test_gradients_pass_through():
    x = torch.linspace(0.0, 1.0, 50, dtype=torch.float64, requires_grad=True)
    (color.linear_to_srgb(x).sum() + color.srgb_to_linear(x).sum()).backward()
    assert torch.isfinite(x.grad).all()
