"""Procedural scenes for the accumulation reference (:mod:`bokehcli.render.accumulation`).

A :class:`Scene` is a list of planes on a canvas larger than the frame plus the camera that saw
it. Geometry is a pinhole camera at the canvas centre: canvas pixel ``(i, j)`` has image
coordinates ``u = j - (Wc - 1) / 2``, ``v = i - (Hc - 1) / 2`` (px, y down) and looks along the
ray ``(u / f_px, v / f_px, 1)`` with ``f_px = focal_mm / pixel_pitch_mm``. A plane
``n . P = d`` is met at depth ``Z = d / (n . ray)``, so slanted planes (ground, walls) get exact
per-pixel depth and perspective-correct textures, which are functions of the plane's own
coordinates in metres.

Everything is deterministic per seed: parameters come from one ``numpy.random.Generator`` seeded
with ``seed`` (an int or a tuple of ints such as ``(seed, split, id)``), never the global RNG.
Colours are linear RGB; small lights have radiance 3-30 so they clip in the source photo and
become bokeh balls in the targets.

The canvas margin is fixed before the geometry: every depth is kept where |CoC| at the widest
f-number stays below ``MAX_COC_FRACTION`` of the frame diagonal, and the margin is half that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence, Union

import numpy as np
import torch

from ..ops.color import srgb_to_linear
from ..optics import FULL_FRAME_DIAGONAL_MM, Lens, pixel_pitch_mm
from ..render.accumulation import Plane

MAX_COC_FRACTION = 0.06  # of the frame diagonal, at the widest f-number a scene is made for
FOCAL_RANGE_MM = (24.0, 85.0)
FAR_M = 300.0  # slanted planes end here (the horizon is covered by a backdrop)
LIGHT_RADIANCE = (3.0, 30.0)

Seed = Union[int, Sequence[int]]
Texture = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class Scene:
    """Planes on a canvas centred on a ``width_px`` x ``height_px`` frame, and the camera."""

    planes: list[Plane]
    width_px: int
    height_px: int
    focal_mm: float
    focus_m: float
    sensor_diag_mm: float = FULL_FRAME_DIAGONAL_MM

    def lens(self, f_number: float) -> Lens:
        return Lens(self.focal_mm, f_number, self.focus_m, self.sensor_diag_mm)


# ----------------------------------------------------------------------------------------------
# camera


@dataclass
class _Camera:
    width_px: int
    height_px: int
    margin_px: int
    focal_mm: float
    focus_m: float
    f_px: float
    near_m: float  # depth range where |CoC| at the widest f-number is within the cap
    far_m: float

    @property
    def canvas(self) -> tuple[int, int]:
        return self.height_px + 2 * self.margin_px, self.width_px + 2 * self.margin_px

    def uv(self, rows: slice = slice(None), cols: slice = slice(None)) -> tuple[torch.Tensor, torch.Tensor]:
        """Image coordinates (px from the optical centre) of a window of the canvas, each (h, w)."""
        hc, wc = self.canvas
        i = torch.arange(hc, dtype=torch.float32)[rows] - (hc - 1) / 2
        j = torch.arange(wc, dtype=torch.float32)[cols] - (wc - 1) / 2
        v, u = torch.meshgrid(i, j, indexing="ij")
        return u, v

    def clamp_depth(self, depth_m: float) -> float:
        return float(min(max(depth_m, self.near_m), self.far_m))


def _camera(rng: np.random.Generator, width_px: int, height_px: int, widest_f_number: float) -> _Camera:
    """Random focal length and focus distance; depth limits and margin for ``widest_f_number``."""
    # Rounded as metadata stores them, so that a render can be reproduced from its metadata.
    focal_mm = round(float(np.exp(rng.uniform(*np.log(FOCAL_RANGE_MM)))), 1)
    # Framing a subject takes longer distances at longer focal lengths.
    focus_m = round(float(np.exp(rng.uniform(np.log(0.5), np.log(5.0))) * (focal_mm / 50.0) ** 0.7), 3)
    pitch = pixel_pitch_mm(FULL_FRAME_DIAGONAL_MM, width_px, height_px)
    max_coc = MAX_COC_FRACTION * math.hypot(width_px, height_px)
    # |c_px| = K (1/S1 - 1/D) with K = A f S1 / (S1 - f) / pitch (all mm): solve |c| <= cap for D.
    f, s1 = focal_mm, focus_m * 1000.0
    k = (f / widest_f_number) * f * s1 / (s1 - f) / pitch
    inv_near = 1.0 / s1 + max_coc / k
    inv_far = 1.0 / s1 - max_coc / k
    near_m = 1.0 / inv_near / 1000.0
    far_m = FAR_M if inv_far <= 1.0 / (FAR_M * 1000.0) else 1.0 / inv_far / 1000.0
    return _Camera(width_px, height_px, int(math.ceil(max_coc / 2)) + 2, focal_mm, focus_m,
                   focal_mm / pitch, near_m, far_m)


# ----------------------------------------------------------------------------------------------
# colours and textures


def _colour(rng: np.random.Generator, saturation: float = 0.7, value: tuple[float, float] = (0.15, 0.95)
            ) -> torch.Tensor:
    """A random colour, drawn in HSV on the sRGB scale, returned as linear RGB (3,)."""
    h = rng.uniform(0, 6)
    s = rng.uniform(0, saturation)
    v = rng.uniform(*value)
    c = v * s
    x = c * (1 - abs(h % 2 - 1))
    rgb = [(c, x, 0), (x, c, 0), (0, c, x), (0, x, c), (x, 0, c), (c, 0, x)][int(h) % 6]
    srgb = torch.tensor(rgb, dtype=torch.float32) + (v - c)
    return srgb_to_linear(srgb)


def _fade(periods_per_px: torch.Tensor) -> torch.Tensor:
    """1 for patterns well above the pixel scale, 0 near Nyquist (0.5 periods/px): anti-aliasing."""
    return ((0.375 - periods_per_px) / 0.25).clamp(0.0, 1.0)


_LATTICE = 64  # random values per noise period, per octave (the noise repeats after that)


def _lattice_noise(tables: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Smooth (bicubic) interpolation of periodic random lattices ``tables`` (O, n, n) at lattice
    coordinates ``x, y`` (O, h, w), one octave per leading index -> (O, h, w)."""
    n = tables.shape[-1]
    padded = torch.nn.functional.pad(tables[:, None], (2, 2, 2, 2), mode="circular")
    gx = (torch.remainder(x, n) + 2) * (2.0 / (n + 3)) - 1
    gy = (torch.remainder(y, n) + 2) * (2.0 / (n + 3)) - 1
    return torch.nn.functional.grid_sample(padded, torch.stack([gx, gy], dim=-1), mode="bicubic",
                                           padding_mode="border", align_corners=True)[:, 0]


def _fbm(rng: np.random.Generator, period_m: float, octaves: int) -> Callable[..., torch.Tensor]:
    """Multi-octave value noise in [0, 1] of the plane coordinates (metres), band-limited per pixel."""
    tables = torch.from_numpy(rng.random((octaves, _LATTICE, _LATTICE), dtype=np.float32))
    gain = rng.uniform(0.4, 0.65)
    angles = torch.from_numpy(rng.uniform(0, 2 * math.pi, octaves)).float()[:, None, None]
    offsets = torch.from_numpy(rng.uniform(0, _LATTICE, (octaves, 2))).float()[:, :, None, None]
    freqs = 2.0 ** torch.arange(octaves, dtype=torch.float32)[:, None, None] / period_m
    amps = gain ** torch.arange(octaves, dtype=torch.float32)[:, None, None]

    def noise(s: torch.Tensor, t: torch.Tensor, footprint_m: torch.Tensor) -> torch.Tensor:
        weights = amps * _fade(freqs * footprint_m)  # (O, h, w) or (O, 1, 1)
        live = weights.flatten(1).amax(dim=1) > 0  # octaves finer than the pixels are skipped
        ca, sa = torch.cos(angles[live]), torch.sin(angles[live])
        x = (ca * s - sa * t) * freqs[live] + offsets[live, 0]
        y = (sa * s + ca * t) * freqs[live] + offsets[live, 1]
        total = (weights[live] * (_lattice_noise(tables[live], x, y) - 0.5)).sum(dim=0)
        return (0.5 + 1.6 * total / amps.sum()).clamp(0.0, 1.0)

    return noise


def _pattern(rng: np.random.Generator, px_m: float) -> Callable[..., torch.Tensor]:
    """A scalar pattern in [0, 1] of plane coordinates; ``px_m`` is metres per pixel at its depth."""
    kind = rng.choice(["noise", "noise", "stripes", "checker", "dots", "gradient", "fine", "flat"])
    period_m = px_m * float(np.exp(rng.uniform(np.log(6), np.log(250))))
    angle = rng.uniform(0, math.pi)
    ca, sa = math.cos(angle), math.sin(angle)
    if kind == "noise":
        return _fbm(rng, period_m * 2, int(rng.integers(3, 7)))
    if kind == "fine":
        return _fbm(rng, px_m * rng.uniform(2.5, 8), 2)
    if kind == "flat":
        level = rng.uniform(0, 1)
        return lambda s, t, fp: torch.full_like(s, level)
    if kind == "gradient":
        length = period_m * 4

        def gradient(s, t, fp):
            return ((ca * s + sa * t) / length + 0.5).clamp(0.0, 1.0)
        return gradient
    if kind == "stripes":
        duty = rng.uniform(0.2, 0.8)

        def stripes(s, t, fp):
            q = (ca * s + sa * t) / period_m
            per_px = fp / period_m
            # soft square wave: cos crossing a level, ramp ~1 px wide
            sq = ((torch.cos(2 * math.pi * q) - math.cos(math.pi * duty)) / (2 * math.pi * per_px) + 0.5).clamp(0, 1)
            return torch.lerp(torch.full_like(sq, duty), sq, _fade(per_px))
        return stripes
    if kind == "checker":
        def checker(s, t, fp):
            per_px = fp / period_m
            slope = 2 * math.pi * per_px
            sx = (torch.cos(2 * math.pi * (ca * s + sa * t) / period_m) / slope).clamp(-1, 1)
            sy = (torch.cos(2 * math.pi * (-sa * s + ca * t) / period_m) / slope).clamp(-1, 1)
            return 0.5 + 0.5 * sx * sy * _fade(per_px)
        return checker
    radius = rng.uniform(0.15, 0.4)  # dots, in periods

    def dots(s, t, fp):
        x = (ca * s + sa * t) / period_m
        y = (-sa * s + ca * t) / period_m
        dist = torch.hypot(x - torch.floor(x) - 0.5, y - torch.floor(y) - 0.5)
        per_px = fp / period_m
        inside = (0.5 - (dist - radius) / per_px).clamp(0, 1)
        return torch.lerp(torch.full_like(inside, math.pi * radius ** 2), inside, _fade(per_px))
    return dots


def _coarse(pattern: Callable[..., torch.Tensor], s: torch.Tensor, t: torch.Tensor,
            footprint_m: torch.Tensor, step: int = 8) -> torch.Tensor:
    """A smooth pattern (varying over 100s of px) evaluated about every ``step`` px, interpolated."""
    h, w = s.shape
    rows = torch.linspace(0, h - 1, max(2, -(-h // step) + 1)).round().long()[:, None]
    cols = torch.linspace(0, w - 1, max(2, -(-w // step) + 1)).round().long()[None, :]
    fp = footprint_m[rows, cols] if footprint_m.dim() == 2 else footprint_m
    small = pattern(s[rows, cols], t[rows, cols], fp)
    return torch.nn.functional.interpolate(small[None, None], size=(h, w), mode="bilinear",
                                           align_corners=True)[0, 0]


def _texture(rng: np.random.Generator, px_m: float) -> Texture:
    """Coloured texture: a pattern mapped through a palette, modulated by detail and shading."""
    base = _pattern(rng, px_m)
    c0, c1 = _colour(rng), _colour(rng)
    detail = _pattern(rng, px_m) if rng.random() < 0.5 else None
    detail_strength = rng.uniform(0.2, 0.7)
    shading = _fbm(rng, px_m * rng.uniform(150, 600), 2)
    light_lo, light_hi = rng.uniform(0.35, 0.8), rng.uniform(0.9, 1.4)

    def texture(s: torch.Tensor, t: torch.Tensor, footprint_m: torch.Tensor) -> torch.Tensor:
        v = base(s, t, footprint_m)
        rgb = c0[:, None, None] + (c1 - c0)[:, None, None] * v
        if detail is not None:
            rgb = rgb * (1 - detail_strength * detail(s, t, footprint_m))
        light = light_lo + (light_hi - light_lo) * _coarse(shading, s, t, footprint_m)
        return rgb * light

    return texture


# ----------------------------------------------------------------------------------------------
# shapes: signed distance in px (negative inside) of local coordinates x, y (px, y down)


def _sd_ellipse(x, y, a, b):
    return (torch.hypot(x / a, y / b) - 1.0) * min(a, b)


def _sd_round_rect(x, y, half_w, half_h, radius):
    qx, qy = x.abs() - half_w + radius, y.abs() - half_h + radius
    outside = torch.hypot(qx.clamp(min=0), qy.clamp(min=0))
    return outside + torch.maximum(qx, qy).clamp(max=0) - radius


def _sd_capsule(x, y, ax, ay, bx, by, radius):
    dx, dy = bx - ax, by - ay
    h = (((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy + 1e-12)).clamp(0, 1)
    return torch.hypot(x - ax - h * dx, y - ay - h * dy) - radius


def _rotate(x, y, angle):
    c, s = math.cos(angle), math.sin(angle)
    return c * x + s * y, -s * x + c * y


def _shape(rng: np.random.Generator, kind: str, size_px: float
           ) -> tuple[Callable[[torch.Tensor, torch.Tensor], torch.Tensor], float]:
    """A shape of about ``size_px`` across: (signed distance function, bounding radius in px)."""
    r = size_px / 2
    angle = rng.uniform(-0.4, 0.4)
    if kind == "disk":
        a, b = r, r * rng.uniform(0.6, 1.0)
        return (lambda x, y: _sd_ellipse(*_rotate(x, y, angle), a, b)), r + 1
    if kind == "rect":
        hw, hh = r, r * rng.uniform(0.3, 1.0)
        corner = min(hw, hh) * rng.uniform(0.0, 0.6)
        if rng.random() < 0.5:
            hw, hh = hh, hw
        return (lambda x, y: _sd_round_rect(*_rotate(x, y, angle), hw, hh, corner)), r * 1.42 + 1
    if kind == "blob":
        ks = np.arange(2, 6)
        amps = rng.uniform(0, 0.25, len(ks)) / ks
        phases = rng.uniform(0, 2 * math.pi, len(ks))

        def blob(x, y):
            theta = torch.atan2(y, x)
            radius = r * (1 + sum(float(a) * torch.cos(int(k) * theta + float(p))
                                  for a, k, p in zip(amps, ks, phases))) / (1 + amps.sum())
            return torch.hypot(x, y) - radius
        return blob, r + 1
    return _person(rng, size_px), size_px * 0.55 + 1


def _person(rng: np.random.Generator, height_px: float) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """A standing person's silhouette about ``height_px`` tall, centred at its middle."""
    u = height_px / 8  # head heights
    shoulder = u * rng.uniform(0.85, 1.1)
    arm_out = rng.uniform(0.0, 1.2)
    stance = rng.uniform(0.15, 0.5)
    top = -4 * u

    def person(x, y):
        head = _sd_ellipse(x, y - (top + 0.5 * u), 0.4 * u, 0.5 * u)
        neck = _sd_capsule(x, y, 0, top + u, 0, top + 1.4 * u, 0.18 * u)
        torso = _sd_round_rect(x, y - (top + 2.6 * u), shoulder, 1.3 * u, 0.35 * u)
        arms = torch.minimum(
            _sd_capsule(x, y, -shoulder * 0.9, top + 1.6 * u, -shoulder - arm_out * u, top + 4.2 * u, 0.22 * u),
            _sd_capsule(x, y, shoulder * 0.9, top + 1.6 * u, shoulder + arm_out * u * 0.5, top + 4.2 * u, 0.22 * u))
        legs = torch.minimum(
            _sd_capsule(x, y, -0.4 * u, top + 3.8 * u, -stance * 2 * u, top + 7.8 * u, 0.3 * u),
            _sd_capsule(x, y, 0.4 * u, top + 3.8 * u, stance * 2 * u, top + 7.8 * u, 0.3 * u))
        return torch.minimum(torch.minimum(torch.minimum(head, neck), torch.minimum(torso, arms)), legs)

    return person


# ----------------------------------------------------------------------------------------------
# planes


def _card(cam: _Camera, rng: np.random.Generator, depth_m: float, centre_px: tuple[float, float],
          kind: str, size_px: float) -> Plane:
    """A fronto-parallel textured card of the given shape; centre in image coordinates (u, v)."""
    sdf, extent = _shape(rng, kind, size_px)
    hc, wc = cam.canvas
    ci, cj = centre_px[1] + (hc - 1) / 2, centre_px[0] + (wc - 1) / 2
    i0, i1 = max(0, int(ci - extent)), min(hc, int(math.ceil(ci + extent)) + 1)
    j0, j1 = max(0, int(cj - extent)), min(wc, int(math.ceil(cj + extent)) + 1)
    rgb = torch.zeros(3, hc, wc)
    alpha = torch.zeros(hc, wc)
    if i1 > i0 and j1 > j0:
        u, v = cam.uv(slice(i0, i1), slice(j0, j1))
        alpha[i0:i1, j0:j1] = (0.5 - sdf(u - centre_px[0], v - centre_px[1])).clamp(0, 1)
        px_m = depth_m / cam.f_px
        rgb[:, i0:i1, j0:j1] = _texture(rng, px_m)(u * px_m, v * px_m, torch.tensor(px_m))
    return Plane(rgb, alpha, depth_m)


def _backdrop(cam: _Camera, rng: np.random.Generator, depth_m: float) -> Plane:
    """An opaque fronto-parallel plane over the whole canvas."""
    u, v = cam.uv()
    px_m = depth_m / cam.f_px
    rgb = _texture(rng, px_m)(u * px_m, v * px_m, torch.tensor(px_m))
    return Plane(rgb, torch.ones_like(u), depth_m)


def _slanted(cam: _Camera, rng: np.random.Generator, normal: Sequence[float], dist_m: float) -> Plane:
    """The plane ``normal . P = dist_m`` (camera coordinates, y down) where it lies in front of the
    camera between the depth limits, textured in its own coordinates."""
    n = torch.tensor(normal, dtype=torch.float32)
    n = n / n.norm()
    u, v = cam.uv()
    ray = torch.stack([u / cam.f_px, v / cam.f_px, torch.ones_like(u)])
    cos_ray = torch.einsum("c,chw->hw", n, ray)
    visible = cos_ray > 1e-6
    depth = torch.where(visible, dist_m / cos_ray.clamp(min=1e-6), torch.full_like(u, 1e9))
    # In-plane orthonormal basis for texture coordinates.
    helper = torch.tensor([0.0, 0.0, 1.0]) if abs(float(n[2])) < 0.9 else torch.tensor([1.0, 0.0, 0.0])
    e1 = torch.linalg.cross(n, helper)
    e1 = e1 / e1.norm()
    e2 = torch.linalg.cross(n, e1)
    point = ray * depth
    s = torch.einsum("c,chw->hw", e1, point)
    t = torch.einsum("c,chw->hw", e2, point)
    ray_len = ray.norm(dim=0)
    footprint = depth * ray_len / cam.f_px / (cos_ray / ray_len).clamp(min=0.05)
    mean_depth = cam.clamp_depth(float(depth[visible].median())) if visible.any() else cam.far_m
    rgb = _texture(rng, mean_depth / cam.f_px)(s, t, footprint)
    # Keep the plane within the depth limits, with an anti-aliased cut (distance in px from the
    # depth's local gradient).
    gy, gx = torch.gradient(depth.clamp(max=10 * FAR_M))
    grad = torch.hypot(gx, gy).clamp(min=1e-6)
    alpha = torch.minimum((0.5 + (depth - cam.near_m) / grad).clamp(0, 1),
                          (0.5 + (min(cam.far_m, FAR_M) - depth) / grad).clamp(0, 1))
    alpha = torch.where(visible, alpha, torch.zeros_like(alpha))
    depth = depth.clamp(cam.near_m, min(cam.far_m, FAR_M))
    return Plane(rgb * alpha.gt(0), alpha, depth)


def _lights(cam: _Camera, rng: np.random.Generator, depth_m: float) -> Plane:
    """Small emitters (radiance 3-30, coloured) scattered or strung along a curve at one depth."""
    hc, wc = cam.canvas
    count = int(rng.integers(5, 40))
    if rng.random() < 0.5:
        us = rng.uniform(-wc / 2, wc / 2, count)
        vs = rng.uniform(-hc / 2, hc / 2, count)
    else:  # a string of lights
        us = np.linspace(-wc / 2, wc / 2, count) + rng.normal(0, 3, count)
        vs = rng.uniform(-0.3, 0.3) * hc + rng.uniform(0.05, 0.2) * hc * np.sin(
            np.linspace(0, rng.uniform(2, 8), count) + rng.uniform(0, 6))
    rgb = torch.zeros(3, hc, wc)
    alpha = torch.zeros(hc, wc)
    for u0, v0 in zip(us, vs):
        radius = rng.uniform(0.6, 2.5) * max(cam.width_px, cam.height_px) / 768
        radiance = float(np.exp(rng.uniform(*np.log(LIGHT_RADIANCE))))
        tint = 0.4 + 0.6 * _colour(rng, saturation=0.6, value=(0.9, 1.0))
        ci, cj = v0 + (hc - 1) / 2, u0 + (wc - 1) / 2
        i0, i1 = max(0, int(ci - radius - 2)), min(hc, int(ci + radius + 3))
        j0, j1 = max(0, int(cj - radius - 2)), min(wc, int(cj + radius + 3))
        if i1 <= i0 or j1 <= j0:
            continue
        u, v = cam.uv(slice(i0, i1), slice(j0, j1))
        cover = (0.5 + radius - torch.hypot(u - u0, v - v0)).clamp(0, 1)
        a = torch.maximum(alpha[i0:i1, j0:j1], cover)
        rgb[:, i0:i1, j0:j1] = torch.where(cover > 0, (radiance * tint)[:, None, None], rgb[:, i0:i1, j0:j1])
        alpha[i0:i1, j0:j1] = a
    return Plane(rgb, alpha, depth_m)


def _ground_row(cam: _Camera, pitch: float, height_m: float, depth_m: float) -> float:
    """Image row v (px) where the ground at depth ``depth_m`` is seen (camera pitched down by ``pitch``)."""
    # Ground: n . P = h with n = (0, cos, sin); at depth Z: v/f cos + sin = h / Z.
    return cam.f_px * (height_m / depth_m - math.sin(pitch)) / math.cos(pitch)


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(math.log(lo), math.log(max(hi, lo)))))


# ----------------------------------------------------------------------------------------------
# scenes


def random_scene(seed: Seed, width_px: int, height_px: int, widest_f_number: float = 1.8) -> Scene:
    """A varied scene: backdrop, optional ground and wall, objects, a subject, foreground
    occluders and small lights. Focus on the subject, sometimes behind it."""
    rng = np.random.default_rng(seed)
    cam = _camera(rng, width_px, height_px, widest_f_number)
    focus = cam.focus_m
    # The subject is in focus, or (sometimes) in front of the focused background.
    s1 = focus if rng.random() < 0.8 else cam.clamp_depth(focus / rng.uniform(1.2, 2.5))
    planes: list[Plane] = []
    hc, wc = cam.canvas
    diag = math.hypot(width_px, height_px)

    bg_depth = cam.clamp_depth(_log_uniform(rng, focus * 1.5, max(60.0, focus * 3)))
    planes.append(_backdrop(cam, rng, bg_depth))
    ground = None
    if rng.random() < 0.7:
        pitch = math.radians(rng.uniform(-4, 15))
        height_m = _log_uniform(rng, 0.3, 2.0)
        planes.append(_slanted(cam, rng, (0.0, math.cos(pitch), math.sin(pitch)), height_m))
        ground = (pitch, height_m)
    if rng.random() < 0.35:
        side = rng.choice([-1.0, 1.0])
        yaw = rng.uniform(-0.3, 0.3)
        planes.append(_slanted(cam, rng, (side * math.cos(yaw), 0.0, math.sin(yaw)),
                               _log_uniform(rng, 0.5, 6.0)))

    def place(depth_m: float, size_m: float, standing: bool) -> tuple[float, float, float]:
        size_px = size_m * cam.f_px / depth_m
        u = rng.uniform(-0.6, 0.6) * wc
        v = rng.uniform(-0.4, 0.4) * hc
        if standing and ground is not None:
            v = _ground_row(cam, ground[0], ground[1], depth_m) - size_px / 2
        return u, v, size_px

    # Objects between the subject and the backdrop.
    for _ in range(int(rng.integers(1, 7))):
        depth = cam.clamp_depth(_log_uniform(rng, s1 * 1.1, bg_depth * 0.95))
        u, v, size_px = place(depth, _log_uniform(rng, 0.2, 3.0), rng.random() < 0.5)
        planes.append(_card(cam, rng, depth, (u, v), rng.choice(["disk", "rect", "blob", "person"]), size_px))
    # The subject, mostly near the centre.
    kind = "person" if rng.random() < 0.6 else rng.choice(["disk", "rect", "blob"])
    size_m = rng.uniform(1.5, 1.9) if kind == "person" else _log_uniform(rng, 0.2, 1.5)
    u, v, size_px = place(s1, size_m, kind == "person")
    u *= 0.4
    if kind == "person" and size_px > 1.2 * height_px:
        v = size_px / 2 - 0.45 * height_px  # too close to fit: a portrait, the head near the top
    elif ground is None or kind != "person":
        v *= 0.4
    planes.append(_card(cam, rng, s1, (u, v), kind, size_px))
    # Foreground occluders nearer than the subject, toward the frame edges.
    for _ in range(int(rng.integers(0, 3))):
        depth = cam.clamp_depth(_log_uniform(rng, cam.near_m, s1 * 0.8))
        size_px = rng.uniform(0.2, 0.7) * diag
        edge = rng.choice([-1.0, 1.0])
        centre = (edge * rng.uniform(0.35, 0.6) * wc, rng.uniform(-0.4, 0.4) * hc)
        planes.append(_card(cam, rng, depth, centre, rng.choice(["blob", "rect", "disk"]), size_px))
    # Small bright lights, mostly behind the subject.
    for _ in range(int(rng.integers(0, 3))):
        depth = (cam.clamp_depth(_log_uniform(rng, s1 * 1.2, bg_depth)) if rng.random() < 0.8
                 else cam.clamp_depth(_log_uniform(rng, cam.near_m, s1)))
        planes.append(_lights(cam, rng, depth))

    exposure = rng.uniform(0.6, 1.3)
    planes = [Plane(p.rgb * exposure, p.alpha, p.depth_m) for p in planes]
    return Scene(planes, width_px, height_px, cam.focal_mm, focus)


def fronto_parallel_scene(seed: Seed, width_px: int, height_px: int, widest_f_number: float = 1.8) -> Scene:
    """2-5 fronto-parallel textured planes: an opaque backdrop and 1-4 shaped cards in front,
    radiance within [0, 1]. One plane is at the focus distance (a card, sometimes the backdrop)."""
    rng = np.random.default_rng(seed)
    cam = _camera(rng, width_px, height_px, widest_f_number)
    focus = cam.focus_m
    n_cards = int(rng.integers(1, 5))
    # One plane at the focus distance: a card, or the backdrop when it comes out farthest.
    depths = sorted({focus} | {cam.clamp_depth(_log_uniform(rng, focus * 0.4, focus * 8))
                               for _ in range(n_cards)})
    if len(depths) < 2:
        depths.append(cam.clamp_depth(focus * 3))
    bg_depth = depths[-1]
    planes = [_backdrop(cam, rng, bg_depth)]
    for depth in depths[:-1]:
        size_px = rng.uniform(0.25, 0.8) * min(width_px, height_px)
        centre = (rng.uniform(-0.35, 0.35) * width_px, rng.uniform(-0.35, 0.35) * height_px)
        planes.append(_card(cam, rng, depth, centre, rng.choice(["disk", "rect", "blob"]), size_px))
    planes = [Plane((p.rgb * rng.uniform(0.7, 1.0)).clamp(0, 1), p.alpha, p.depth_m) for p in planes]
    return Scene(planes, width_px, height_px, cam.focal_mm, focus)
