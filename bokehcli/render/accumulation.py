"""Exact thin-lens reference renderer: the accumulation buffer over the aperture
(docs/optics.md).

A scene is a list of :class:`Plane` s on one *canvas* of ``(Hc, Wc)`` pixels: linear RGB
``(3, Hc, Wc)``, straight (not premultiplied) coverage ``alpha`` ``(Hc, Wc)`` in [0, 1], and a
depth in metres that is either a constant (a fronto-parallel card) or a map ``(Hc, Wc)`` (a
slanted plane such as a ground plane or a wall, any smooth depth).

Seen from the aperture point ``p`` (|p| <= 1, image coordinates) a surface point at depth ``D``
moves by ``-p * r(D)`` from its pinhole position, ``r = coc_px(D) / 2`` (signed). The view from
``p`` is every plane warped that way and composited per pixel front to back with the *over*
operator on premultiplied RGBA, sorted by the warped depth (planes may interpenetrate, e.g. an
object standing on a ground plane); uncovered pixels are black. The photograph is the average of
the views over ``n`` aperture points (:func:`bokehcli.ops.aperture.aperture_points`), which
converges to the thin-lens image, partial occlusion included, as ``n`` grows.

Warping is a bilinear backward warp: the output pixel ``x`` reads the plane at ``y`` with
``y - p r(y) = x``. For a constant depth ``r`` is constant; for a depth map we solve the fixed
point ``y = x + p r(y)`` from ``y0 = x + p r(x)`` (``r`` at the output pixel) with one more step,
so the error is ``O(|p r| |grad r|^2)`` for smooth depth. Outside the canvas everything is
transparent.

Frame and margin: ``width_px`` x ``height_px`` is the photo. It is the centred window of the
canvas, offset ``((Hc - H) // 2, (Wc - W) // 2)``, and sets the pixel pitch
``sensor_diag_mm / hypot(W, H)``. The canvas should exceed the frame by a margin of at least
``max |coc| / 2`` on every side, so that content entering the frame from outside is there;
within that distance of the canvas edge the result is darkened by the transparent outside.

Cost: the frame is cut into tiles. A tile warps only the planes that can show in it (coverage
within their reach, found with summed-area tables; planes entirely behind a plane that is opaque
over everything it can reach are hidden from every aperture point), skips the per-pixel depth
sort when their depth ranges there are disjoint, and takes the number of aperture points that
its own largest CoC needs. On a loaded machine run it with one torch thread per process.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Union

import torch
import torch.nn.functional as F

from ..ops.aperture import aperture_points, shape_area
from ..optics import Lens

# Shifts of neighbouring aperture samples at the largest CoC are at most this far apart (px):
# the bilinear warp's 2-px-wide tent then overlaps enough that a point light's bokeh ball is
# flat instead of a dot pattern.
SAMPLE_SPACING_PX = 1.0
MAX_POINTS = 4096
TILE_PX = 32
_SAMPLES_PER_BATCH = 1 << 21  # output samples (points x tile pixels) per warp call: bounds memory

DepthLike = Union[float, torch.Tensor]


@dataclass(frozen=True)
class Plane:
    """One layer: linear ``rgb`` (3, H, W), straight ``alpha`` (H, W), ``depth_m`` float or (H, W)."""

    rgb: torch.Tensor
    alpha: torch.Tensor
    depth_m: DepthLike

    def __post_init__(self) -> None:
        if self.rgb.dim() != 3 or self.rgb.shape[0] != 3:
            raise ValueError(f"plane rgb must be (3, H, W), got {tuple(self.rgb.shape)}")
        if self.alpha.shape != self.rgb.shape[1:]:
            raise ValueError(f"plane alpha {tuple(self.alpha.shape)} does not match rgb "
                             f"{tuple(self.rgb.shape)}")
        if isinstance(self.depth_m, torch.Tensor):
            if self.depth_m.shape != self.alpha.shape:
                raise ValueError(f"plane depth map {tuple(self.depth_m.shape)} does not match "
                                 f"alpha {tuple(self.alpha.shape)}")
        elif not self.depth_m > 0:
            raise ValueError(f"plane depth must be positive, got {self.depth_m}")

    @property
    def size(self) -> tuple[int, int]:
        return int(self.alpha.shape[0]), int(self.alpha.shape[1])


@dataclass
class _Layer:
    """A plane prepared for warping, on the canvas padded by one transparent pixel.

    ``rgba`` (4, Hc+2, Wc+2) premultiplied; ``depth``/``radius`` a float or (1, Hc+2, Wc+2) with
    replicated borders; ``reach`` the largest |shift| in px over covered pixels; ``covered`` and
    ``opaque`` summed-area tables (Hc+3, Wc+3) of alpha > 0 and alpha >= 1 on the padded canvas.
    """

    rgba: torch.Tensor
    depth: DepthLike
    radius: DepthLike
    reach: float
    covered: torch.Tensor
    opaque: torch.Tensor

    @property
    def is_map(self) -> bool:
        return isinstance(self.depth, torch.Tensor)

    def window(self, y0: int, y1: int, x0: int, x1: int) -> tuple[slice, slice]:
        """Padded-canvas window that output canvas pixels [y0,y1)x[x0,x1) can read from."""
        m = math.ceil(self.reach) + 2  # +2: the bilinear footprint and the fixed-point step
        hp, wp = self.rgba.shape[1:]
        return (slice(max(y0 + 1 - m, 0), min(y1 + 1 + m, hp)),
                slice(max(x0 + 1 - m, 0), min(x1 + 1 + m, wp)))

    def count(self, table: torch.Tensor, rows: slice, cols: slice) -> int:
        return int(table[rows.stop, cols.stop] - table[rows.start, cols.stop]
                   - table[rows.stop, cols.start] + table[rows.start, cols.start])


def _summed_area(mask: torch.Tensor) -> torch.Tensor:
    """(H, W) bool -> (H+1, W+1) int64 table, ``t[i, j]`` = count in mask[:i, :j]."""
    return F.pad(mask.long().cumsum(0).cumsum(1), (1, 0, 1, 0))


def _canvas_size(planes: list[Plane]) -> tuple[int, int]:
    if not planes:
        raise ValueError("a scene needs at least one plane")
    size = planes[0].size
    for plane in planes[1:]:
        if plane.size != size:
            raise ValueError(f"all planes must share one canvas size, got {size} and {plane.size}")
    return size


def _frame_offset(canvas: tuple[int, int], width_px: int, height_px: int) -> tuple[int, int]:
    hc, wc = canvas
    if height_px > hc or width_px > wc or height_px < 1 or width_px < 1:
        raise ValueError(f"frame {width_px}x{height_px} does not fit in the canvas {wc}x{hc}")
    return (hc - height_px) // 2, (wc - width_px) // 2


def _pad_map(t: torch.Tensor) -> torch.Tensor:
    """(H, W) -> (1, H+2, W+2), borders replicated."""
    return F.pad(t[None, None].float(), (1, 1, 1, 1), mode="replicate")[0]


def _prepare(plane: Plane, lens: Lens | None, width_px: int, height_px: int) -> _Layer:
    alpha = plane.alpha.float().clamp(0.0, 1.0)
    rgba = F.pad(torch.cat([plane.rgb.float() * alpha, alpha[None]]), (1, 1, 1, 1))
    covered, opaque = _summed_area(rgba[3] > 0), _summed_area(rgba[3] >= 1)
    if isinstance(plane.depth_m, torch.Tensor):
        depth_map = plane.depth_m.float()
        radius = (lens.coc_px(depth_map, width_px, height_px) / 2 if lens is not None
                  else torch.zeros_like(depth_map))
        reach = float(radius[alpha > 0].abs().max()) if bool((alpha > 0).any()) else 0.0
        return _Layer(rgba, _pad_map(depth_map), _pad_map(radius), reach, covered, opaque)
    depth = float(plane.depth_m)
    radius_c = 0.0
    if lens is not None:
        radius_c = float(lens.coc_px(torch.tensor(depth, dtype=torch.float64), width_px, height_px)) / 2
    return _Layer(rgba, depth, radius_c, abs(radius_c), covered, opaque)


def _depth_range(layer: _Layer, rows: slice, cols: slice) -> tuple[float, float]:
    """Depth range of the layer's covered pixels in a padded-canvas window."""
    if not layer.is_map:
        return layer.depth, layer.depth
    covered = layer.rgba[3][rows, cols] > 0
    vals = layer.depth[0][rows, cols][covered]
    return float(vals.min()), float(vals.max())


def _visible_layers(layers: list[_Layer], y0: int, y1: int, x0: int, x1: int
                    ) -> tuple[list[_Layer], list[tuple[float, float]]]:
    """Layers that can show in output canvas pixels [y0,y1)x[x0,x1) from some aperture point,
    with their depth ranges there.

    A layer is dropped when it covers nothing it could reach, or when it lies entirely behind a
    layer that is opaque over everything that one could reach (then it is hidden from every
    aperture point).
    """
    found = []
    for layer in layers:
        rows, cols = layer.window(y0, y1, x0, x1)
        if layer.count(layer.covered, rows, cols) == 0:
            continue
        area = (rows.stop - rows.start) * (cols.stop - cols.start)
        found.append((layer, _depth_range(layer, rows, cols), layer.count(layer.opaque, rows, cols) == area))
    nearest_wall = min((rng[1] for _, rng, opaque in found if opaque), default=math.inf)
    kept = [(layer, rng) for layer, rng, opaque in found if rng[0] <= nearest_wall]
    return [k[0] for k in kept], [k[1] for k in kept]


def _static_order(ranges: list[tuple[float, float]]) -> list[int] | None:
    """Front-to-back order if the depth ranges do not overlap (ties allowed), else None."""
    order = sorted(range(len(ranges)), key=lambda i: ranges[i])
    for a, b in zip(order, order[1:]):
        if ranges[a][1] > ranges[b][0]:
            return None
    return order


def _sample(t: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of ``t`` (C, hp, wp) at ``grid`` (B, h, w, 2) -> (B, C, h, w)."""
    return F.grid_sample(t[None].expand(grid.shape[0], *t.shape), grid, mode="bilinear",
                         padding_mode="border", align_corners=True)


def _warp(layer: _Layer, shifts: torch.Tensor, base: torch.Tensor, rows: slice, cols: slice,
          want_depth: bool) -> tuple[torch.Tensor, torch.Tensor | float]:
    """The layer seen from the aperture points at the output pixels of a tile.

    ``base`` (h, w, 2) is grid_sample's normalised position of the tile's pixels, ``rows, cols``
    the tile in padded-canvas indices, ``shifts`` (B, 1, 1, 2) the aperture points in normalised
    units per px of radius. Returns premultiplied RGBA (B, 4, h, w) and the depth (B, h, w) there
    (or the layer's constant depth).
    """
    if layer.is_map:
        r_out = layer.radius[0, rows, cols, None]  # r at the output pixel: (h, w, 1)
        r_y0 = _sample(layer.radius, base + shifts * r_out)[:, 0, :, :, None]
        grid = base + shifts * r_y0  # one fixed-point step: r at y0 = x + p r(x)
        rgba = _sample(layer.rgba, grid)
        depth = _sample(layer.depth, grid)[:, 0] if want_depth else layer.depth
        return rgba, depth
    return _sample(layer.rgba, base + shifts * layer.radius), layer.depth


def _over(rgba: list[torch.Tensor]) -> torch.Tensor:
    """Front-to-back *over* of premultiplied RGBA layers (B, 4, h, w) -> RGB (B, 3, h, w)."""
    out = rgba[0][:, :3].clone()
    trans = 1.0 - rgba[0][:, 3:]
    for layer in rgba[1:]:
        out += trans * layer[:, :3]
        trans = trans * (1.0 - layer[:, 3:])
    return out


def _sorted_over(rgba: list[torch.Tensor], depth: list[torch.Tensor | float]
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel depth-sorted *over*. Returns RGB (B, 3, h, w) and the front surface depth (B, h, w).

    The front surface of a pixel is the first layer (front to back) after which the accumulated
    coverage reaches 0.5; where it never does, the farthest layer.
    """
    stack = torch.stack(rgba, dim=1)  # (B, K, 4, h, w)
    b, k, _, h, w = stack.shape
    z = torch.stack([d if isinstance(d, torch.Tensor) else stack.new_full((b, h, w), d)
                     for d in depth], dim=1)
    z_sorted, order = torch.sort(z, dim=1, stable=True)
    stack = torch.gather(stack, 1, order[:, :, None].expand(b, k, 4, h, w))
    alpha = stack[:, :, 3]
    trans_after = torch.cumprod(1.0 - alpha, dim=1)
    trans_before = torch.cat([torch.ones_like(trans_after[:, :1]), trans_after[:, :-1]], dim=1)
    rgb = (stack[:, :, :3] * trans_before[:, :, None]).sum(dim=1)
    first = (trans_after <= 0.5).float().argmax(dim=1, keepdim=True)
    first = torch.where((trans_after <= 0.5).any(dim=1, keepdim=True), first, torch.full_like(first, k - 1))
    return rgb, torch.gather(z_sorted, 1, first)[:, 0]


def pinhole_view(planes: list[Plane], width_px: int | None = None, height_px: int | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """All-in-focus photo (3, h, w) and depth map (h, w) in metres of the front-most surface.

    The view from the aperture centre (p = 0, no displacement). Depth is that of the first surface
    whose accumulated coverage passes 0.5 (see :func:`_sorted_over`). With ``width_px`` and
    ``height_px`` the centred frame is returned (the same window as :func:`accumulation_render`),
    otherwise the whole canvas.
    """
    hc, wc = _canvas_size(planes)
    oy, ox = _frame_offset((hc, wc), width_px or wc, height_px or hc)
    h, w = height_px or hc, width_px or wc
    rgba, depth = [], []
    for plane in planes:
        alpha = plane.alpha.float().clamp(0.0, 1.0)[oy:oy + h, ox:ox + w]
        rgba.append(torch.cat([plane.rgb.float()[:, oy:oy + h, ox:ox + w] * alpha, alpha[None]])[None])
        d = plane.depth_m
        depth.append(d.float()[oy:oy + h, ox:ox + w][None] if isinstance(d, torch.Tensor) else float(d))
    rgb, front = _sorted_over(rgba, depth)
    return rgb[0], front[0]


def max_coc_px(planes: list[Plane], lens: Lens, width_px: int, height_px: int) -> float:
    """Largest |CoC| (px) of any covered pixel of the scene."""
    return 2.0 * max(_prepare(p, lens, width_px, height_px).reach for p in planes)


def default_point_count(max_coc: float, blades: int = 0) -> int:
    """Aperture samples so that neighbouring shifts at CoC ``max_coc`` are <= SAMPLE_SPACING_PX apart.

    ``n`` points spread over the unit aperture of area ``A`` are about ``sqrt(A / n)`` apart, and
    the shift of a point is ``p * max_coc / 2``: ``n = A (max_coc / 2 / spacing)^2``, capped.
    """
    n = shape_area(blades) * (max_coc / 2 / SAMPLE_SPACING_PX) ** 2
    return int(min(MAX_POINTS, max(1, math.ceil(n))))


@torch.no_grad()
def accumulation_render(planes: list[Plane], lens: Lens, width_px: int, height_px: int,
                        blades: int = 0, rotation_deg: float = 0.0, n_points: int | None = None
                        ) -> torch.Tensor:
    """Thin-lens photo (3, height_px, width_px) in linear light of the centred frame of the canvas.

    ``blades``/``rotation_deg`` give the aperture shape (see :mod:`bokehcli.ops.aperture`). With
    ``n_points`` every pixel averages that many aperture points; by default each tile takes
    :func:`default_point_count` of the largest CoC among the layers it sees, so tiles where only
    sharp content shows are cheap (each tile's estimate is converged to the same spacing
    criterion). One point is the pinhole view. Runs on the planes' device.
    """
    canvas = _canvas_size(planes)
    oy, ox = _frame_offset(canvas, width_px, height_px)
    layers = [_prepare(p, lens, width_px, height_px) for p in planes]
    device = planes[0].rgb.device
    point_sets: dict[int, torch.Tensor] = {}
    out = torch.zeros(3, height_px, width_px, device=device)
    for ty in range(0, height_px, TILE_PX):
        for tx in range(0, width_px, TILE_PX):
            th, tw = min(TILE_PX, height_px - ty), min(TILE_PX, width_px - tx)
            cy0, cx0 = oy + ty, ox + tx  # canvas window of the tile
            active, ranges = _visible_layers(layers, cy0, cy0 + th, cx0, cx0 + tw)
            if not active:
                continue
            n = n_points or default_point_count(2.0 * max(l.reach for l in active), blades)
            if n not in point_sets:
                pts = aperture_points(n, blades, rotation_deg) if n > 1 else torch.zeros(1, 2)
                point_sets[n] = pts.to(device=device, dtype=torch.float32)
            out[:, ty:ty + th, tx:tx + tw] = _render_tile(active, ranges, point_sets[n], cy0, cx0, th, tw)
    return out


def _render_tile(layers: list[_Layer], ranges: list[tuple[float, float]], points: torch.Tensor,
                 cy0: int, cx0: int, th: int, tw: int) -> torch.Tensor:
    """Mean over ``points`` (n, 2) of the composited views of one tile, (3, th, tw)."""
    device = points.device
    hp, wp = layers[0].rgba.shape[1:]
    rows, cols = slice(cy0 + 1, cy0 + 1 + th), slice(cx0 + 1, cx0 + 1 + tw)  # padded indices
    # grid_sample, align_corners=True: padded index i -> i * 2 / (size - 1) - 1.
    scale = torch.tensor([2.0 / (wp - 1), 2.0 / (hp - 1)], device=device)
    ys = torch.arange(rows.start, rows.stop, device=device, dtype=torch.float32) * scale[1] - 1
    xs = torch.arange(cols.start, cols.stop, device=device, dtype=torch.float32) * scale[0] - 1
    base = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)  # (th, tw, 2) as (x, y)
    order = _static_order(ranges)
    if order is not None:
        layers = [layers[i] for i in order]
    acc = torch.zeros(3, th, tw, device=device)
    batch = max(1, _SAMPLES_PER_BATCH // (th * tw * len(layers)))
    for start in range(0, len(points), batch):
        shifts = (points[start:start + batch] * scale)[:, None, None, :]
        views = [_warp(l, shifts, base, rows, cols, want_depth=order is None) for l in layers]
        rgba = [v[0] for v in views]
        rgb = _over(rgba) if order is not None else _sorted_over(rgba, [v[1] for v in views])[0]
        acc += rgb.sum(dim=0)
    return acc / len(points)
