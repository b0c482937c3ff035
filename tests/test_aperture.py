"""Aperture kernels: energy, area, anti-aliasing, orientation; sample points agree with kernels."""

import math

import pytest
import torch

from bokehcli.ops.aperture import aperture_kernel, aperture_points, shape_area, shape_signed_distance


@pytest.mark.parametrize("blades", [0, 5, 6, 9])
@pytest.mark.parametrize("coc", [0.3, 1.7, 8.0, -23.5, 61.0])
def test_kernels_sum_to_one(blades, coc):
    k = aperture_kernel(coc, blades, rotation_deg=13.0, dtype=torch.float64)
    assert k.shape[0] % 2 == 1 and k.shape[0] == k.shape[1]
    assert k.sum().item() == pytest.approx(1.0, abs=1e-12)
    assert (k >= 0).all()


@pytest.mark.parametrize("blades", [0, 5, 6, 8])
def test_unnormalised_area_matches_shape(blades):
    radius = 20.0
    k = aperture_kernel(2 * radius, blades, dtype=torch.float64, normalize=False)
    assert k.sum().item() == pytest.approx(shape_area(blades) * radius**2, rel=5e-3)
    if blades == 0:
        assert shape_area(0) == math.pi


def test_kernel_changes_continuously_with_diameter():
    a = aperture_kernel(10.0, size=15, dtype=torch.float64)
    b = aperture_kernel(10.02, size=15, dtype=torch.float64)
    assert (a - b).abs().max().item() < 1e-3
    assert aperture_kernel(0.9, dtype=torch.float64).max().item() == 1.0  # below 1 px: a point


def test_polygon_orientation_and_front_inversion():
    """Rotation 0: a vertex points up behind the focus plane; in front the shape turns 180 deg."""
    behind = aperture_kernel(40.0, blades=5, dtype=torch.float64, normalize=False)
    front = aperture_kernel(-40.0, blades=5, dtype=torch.float64, normalize=False)
    assert torch.allclose(front, behind.flip(0, 1), atol=1e-9)
    half = behind.shape[0] // 2
    column = behind[:, half]
    top_extent = half - int((column > 0.5).nonzero()[0])
    bottom_extent = int((column > 0.5).nonzero()[-1]) - half
    assert top_extent in (19, 20)  # the vertex tip covers about half a pixel
    assert bottom_extent == round(20 * math.cos(math.pi / 5))
    assert not torch.equal(behind, behind.flip(0, 1))


def test_aperture_points_match_behind_kernel():
    """A point behind focus (c > 0) seen from aperture point p moves by -p c / 2: the set of
    moves must fill the behind-focus kernel's shape."""
    pts = aperture_points(4000, blades=5, rotation_deg=20.0)
    assert abs(len(pts) - 4000) < 200
    assert pts.norm(dim=-1).max() <= 1.0
    moves = -pts  # c / 2 = 1
    assert (shape_signed_distance(moves, 5, 20.0) <= 1e-12).all()
    assert moves.mean(0).abs().max() < 0.02
    disk = aperture_points(1000)
    assert len(disk) == 1000 and disk.norm(dim=-1).max() <= 1.0
