"""Aperture shapes: anti-aliased blur kernels and aperture sample points.

Coordinates are image coordinates (x right, y down). An aperture with ``blades = n >= 3`` is a
regular n-gon of circumradius 1; ``blades = 0`` is the disk. ``rotation_deg`` turns the polygon
counter-clockwise on screen; at 0 one vertex points up. It sets the bokeh shape *behind* the focus
plane; in front of it the shape is turned by 180 degrees (docs/optics.md#aperture-shape).

A point at signed CoC ``c`` seen from aperture point ``p`` moves by ``-p * c / 2``. For ``c > 0``
the spread is therefore the aperture point set mirrored through the origin, so
:func:`aperture_points` returns the *behind* shape turned by 180 degrees and the two modules
agree by construction.
"""

from __future__ import annotations

import math

import torch

GOLDEN_ANGLE = math.pi * (3.0 - math.sqrt(5.0))


def _edge_normals(blades: int, rotation_deg: float) -> tuple[torch.Tensor, float]:
    """Unit outward edge normals (n, 2) in image coordinates and the apothem (circumradius 1)."""
    up = math.pi / 2 + math.radians(rotation_deg)  # vertex direction, counter-clockwise on screen
    angles = up + math.pi / blades + 2 * math.pi * torch.arange(blades, dtype=torch.float64) / blades
    normals = torch.stack([torch.cos(angles), -torch.sin(angles)], dim=-1)  # y axis points down
    return normals, math.cos(math.pi / blades)


def shape_signed_distance(xy: torch.Tensor, blades: int, rotation_deg: float) -> torch.Tensor:
    """Signed distance (negative inside) from points ``xy`` (..., 2) to the unit aperture."""
    if blades == 0:
        return xy.norm(dim=-1) - 1.0
    if blades < 3:
        raise ValueError(f"an aperture needs 0 (disk) or at least 3 blades, got {blades}")
    normals, apothem = _edge_normals(blades, rotation_deg)
    return (xy.to(torch.float64) @ normals.T).amax(dim=-1).to(xy.dtype) - apothem


def shape_area(blades: int) -> float:
    """Area of the unit aperture (circumradius 1)."""
    if blades == 0:
        return math.pi
    return 0.5 * blades * math.sin(2 * math.pi / blades)


def kernel_size(diameter_px: float) -> int:
    """Odd side length that holds an anti-aliased kernel of this diameter."""
    return 2 * int(math.ceil(abs(diameter_px) / 2 + 0.5)) + 1


def aperture_kernel(
    coc_px: float,
    blades: int = 0,
    rotation_deg: float = 0.0,
    dtype: torch.dtype = torch.float32,
    size: int | None = None,
    normalize: bool = True,
) -> torch.Tensor:
    """Point-spread function of a point with signed CoC diameter ``coc_px``, shape (k, k).

    The kernel ``K`` is meant for true convolution ``out(x) = sum_s K(s) in(x - s)``; its centre
    is at index ``k // 2``. Each pixel holds the area of the pixel covered by the shape, by the
    usual signed-distance approximation ``clamp(0.5 - sd_px, 0, 1)``, so the unnormalised sum is
    the shape's area (``pi r^2`` for the disk) and the kernel changes continuously with the
    diameter. ``normalize`` makes it sum to 1 (energy conservation). A negative ``coc_px`` (in
    front of the focus plane) turns the shape by 180 degrees.
    """
    radius = abs(float(coc_px)) / 2
    k = size if size is not None else kernel_size(coc_px)
    if k % 2 == 0:
        raise ValueError(f"kernel size must be odd, got {k}")
    half = k // 2
    coords = torch.arange(-half, half + 1, dtype=torch.float64)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    xy = torch.stack([xx, yy], dim=-1)
    rotation = rotation_deg + (180.0 if coc_px < 0 else 0.0)
    if radius < 1e-6:
        sd_px = xy.norm(dim=-1)  # a point: only the centre pixel is covered
    else:
        sd_px = shape_signed_distance(xy / radius, blades, rotation) * radius
    kernel = (0.5 - sd_px).clamp(0.0, 1.0)
    if normalize:
        kernel = kernel / kernel.sum()
    return kernel.to(dtype)


def aperture_points(n: int, blades: int = 0, rotation_deg: float = 0.0) -> torch.Tensor:
    """About ``n`` well-spread points (m, 2) filling the unit aperture uniformly, float64.

    Sunflower (Vogel) spiral over the unit disk; for polygons the points outside are dropped and
    the spiral is densified so that about ``n`` remain. The polygon is the behind-focus shape
    turned by 180 degrees (see the module docstring).
    """
    if n < 1:
        raise ValueError("need at least one aperture point")
    density = math.pi / shape_area(blades)
    m = max(n, int(math.ceil(n * density)))
    i = torch.arange(m, dtype=torch.float64)
    r = torch.sqrt((i + 0.5) / m)
    theta = i * GOLDEN_ANGLE
    pts = torch.stack([r * torch.cos(theta), r * torch.sin(theta)], dim=-1)
    if blades:
        pts = pts[shape_signed_distance(pts, blades, rotation_deg + 180.0) <= 0]
    return pts
