"""Layered held-out scenes from a generator independent of the training data's.

Nothing here comes from :mod:`bokehcli.data.scenes` (what `bokeh synth`, and so the shipped
weights, were trained on) but its plain ``Scene`` container: the textures are *dead leaves* —
opaque discs of random colour dropped on top of one another, radii drawn from a power law, which
gives the edge statistics and the 1/f spectrum of natural images — the layers are ellipses and
polygons, their depths are uniform in inverse depth between NEAR_M and FAR_M (not placed around
the focus), and the focus is on a layer picked at random, the backdrop included. Only the physics
is shared: the planes go to the accumulation-buffer reference like every other test scene.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from bokehcli.data.scenes import Scene
from bokehcli.optics import FULL_FRAME_DIAGONAL_MM, Lens
from bokehcli.render.accumulation import Plane

NEAR_M, FAR_M = 1.0, 25.0
WIDEST_F_NUMBER = 1.8  # the canvas margin holds everything that blurs into the frame down to this


def dead_leaves(rng: np.random.Generator, height: int, width: int, r_min: float = 2.5,
                r_max: float | None = None, coverage: float = 0.99) -> torch.Tensor:
    """(3, height, width) linear RGB: discs with radius density ~ r^-3 (scale invariant), each
    hiding what lies under it, until ``coverage`` of the canvas is covered (the last specks show
    the colour of a leaf under them all)."""
    r_max = r_max or 0.25 * min(height, width)
    palette_shift = rng.uniform(-0.15, 0.15, 3)
    image = np.empty((3, height, width), np.float32)
    image[:] = np.clip(rng.uniform(0.0, 1.0, 3) ** 2.2, 0.01, 0.95)[:, None, None]
    covered = np.zeros((height, width), bool)
    bare = covered.size
    while bare > (1 - coverage) * covered.size:
        # Inverse CDF of p(r) ~ r^-3 on [r_min, r_max].
        u = rng.random()
        r = (r_min ** -2 - u * (r_min ** -2 - r_max ** -2)) ** -0.5
        cy, cx = rng.uniform(-r, height + r), rng.uniform(-r, width + r)
        y0, y1 = max(int(cy - r), 0), min(int(math.ceil(cy + r)) + 1, height)
        x0, x1 = max(int(cx - r), 0), min(int(math.ceil(cx + r)) + 1, width)
        if y1 <= y0 or x1 <= x0:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1]
        inside = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        fresh = inside & ~covered[y0:y1, x0:x1]  # painted back to front: only what is still bare
        if not fresh.any():
            continue
        colour = np.clip(rng.uniform(0.0, 1.0, 3) ** 2.2 + palette_shift * rng.random(), 0.01, 0.95)
        image[:, y0:y1, x0:x1][:, fresh] = colour[:, None]
        covered[y0:y1, x0:x1] |= fresh
        bare -= int(fresh.sum())
    return torch.from_numpy(image)


def _shape_alpha(rng: np.random.Generator, height: int, width: int, size_px: float) -> torch.Tensor:
    """Anti-aliased coverage of an ellipse or a convex polygon of about ``size_px`` across."""
    cy, cx = rng.uniform(0.2, 0.8) * height, rng.uniform(0.15, 0.85) * width
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    y, x = yy - cy, xx - cx
    if rng.random() < 0.5:
        a, b = size_px / 2, size_px / 2 * rng.uniform(0.4, 1.0)
        t = rng.uniform(0, math.pi)
        u, v = x * math.cos(t) + y * math.sin(t), -x * math.sin(t) + y * math.cos(t)
        # Distance to the ellipse, to first order: (level - 1) / |grad level|.
        level = np.sqrt((u / a) ** 2 + (v / b) ** 2)
        grad = np.sqrt((u / a**2) ** 2 + (v / b**2) ** 2) / np.maximum(level, 1e-6)
        signed = (level - 1) / np.maximum(grad, 1e-6)
    else:
        sides = int(rng.integers(3, 8))
        angles = np.sort(rng.uniform(0, 2 * math.pi, sides))
        radius = size_px / 2
        signed = np.full((height, width), -np.inf, np.float32)
        corners = [(radius * math.cos(t), radius * math.sin(t)) for t in angles]
        for (xa, ya), (xb, yb) in zip(corners, corners[1:] + corners[:1]):
            nx, ny = yb - ya, -(xb - xa)  # outward normal of a counter-clockwise edge
            norm = math.hypot(nx, ny) or 1.0
            signed = np.maximum(signed, ((x - xa) * nx + (y - ya) * ny) / norm)
    return torch.from_numpy(np.clip(0.5 - signed, 0.0, 1.0).astype(np.float32))


def dead_leaves_scene(seed: int, width_px: int, height_px: int) -> Scene:
    """A backdrop and 1-3 shaped layers in front, dead-leaves textured, focused on one of them."""
    rng = np.random.default_rng([seed, 0xDEAD1EAF])
    focal_mm = round(float(np.exp(rng.uniform(math.log(24), math.log(85)))), 1)
    inverse = np.sort(rng.uniform(1 / FAR_M, 1 / NEAR_M, int(rng.integers(2, 5))))  # far to near
    depths = [round(float(1 / d), 3) for d in inverse]
    focus_m = depths[int(rng.integers(len(depths)))]
    lens = Lens(focal_mm, WIDEST_F_NUMBER, focus_m, FULL_FRAME_DIAGONAL_MM)
    widest = max(abs(float(lens.coc_px(torch.tensor([d]), width_px, height_px))) for d in depths)
    margin = int(math.ceil(widest / 2)) + 2
    hc, wc = height_px + 2 * margin, width_px + 2 * margin
    brightness = rng.uniform(0.6, 1.0, len(depths))
    planes = [Plane(dead_leaves(rng, hc, wc) * brightness[0], torch.ones(hc, wc), depths[0])]
    for depth, gain in zip(depths[1:], brightness[1:]):
        alpha = _shape_alpha(rng, hc, wc, rng.uniform(0.3, 0.7) * min(width_px, height_px))
        planes.append(Plane(dead_leaves(rng, hc, wc) * gain, alpha, depth))
    return Scene(planes, width_px, height_px, focal_mm, focus_m)
