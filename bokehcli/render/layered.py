"""Occlusion-aware layered bokeh renderer (differentiable, linear light).

Given a linear RGB image ``I`` (B, 3, H, W) and the signed CoC diameter ``c`` (B, 1, H, W) in px
(> 0 behind the focus plane, < 0 in front), the image is split into K *soft* layers with
CoC centres ``c_1 > c_2 > ... > c_K`` (back to front). Each pixel's weight ``w_k`` is a linear hat
over the two centres around its ``c``, so the weights sum to 1 and vary continuously (and
differentiably) with ``c``; its occluder mask ``o_k`` is 1 at the back centre of that pair only
(see :func:`layer_weights`). For every layer the premultiplied colour ``w_k I``, the coverage ``w_k``
and the occluder ``o_k`` are blurred with the aperture PSF of diameter ``c_k`` (turned by 180
degrees in front of the focus plane) and composited back to front:

    acc <- blur_k(w_k [I, 1]) + (1 - blur_k(o_k)) * acc          (k = 1 .. K)
    out  = acc_rgb / acc_alpha

so a sharp foreground occludes a blurred background, a blurred foreground spreads over a sharp
background whose content shows through its semi-transparent rim (partial occlusion), and the two
fragments of a pixel between two centres blend linearly instead of occluding each other. The rim
reaches inside the foreground's edge too, where the lens sees round it onto background the photo
never recorded: before each layer is composited, what lies behind it is extended under its
occluding pixels at true depth edges (:func:`_fill_behind`).
Colour and coverage go through exactly the same operations and are divided once at the end:
normalisation is right by construction (the seed's double multiplication by visibility cannot be
written in this form), a plane at the focus distance is returned unchanged, and missing
content outside the frame or behind occluders is renormalised instead of darkening edges.

Highlights: clipped pixels hide radiance above 1. Before blurring, the max channel ``m`` is mapped
by a smooth, strictly increasing ``f`` (identity below a threshold ``t``, ``f(1) = gain``) and after
compositing mapped back by ``f^-1``; unblurred pixels come back exactly while blurred clipped
points keep their energy and become bright bokeh balls.

Sharp pixels: a point whose CoC diameter is at most one pixel images inside its own pixel, so a
pixel with ``|c| <= 1`` must come back exactly as it went in. Interpolating its weight between the
unblurred layer at 0 and a blurred one at 1.5 px would spread up to a third of it onto its
neighbours (the seed grid did; near-sharp renders then scored far below the input itself), so
the grid has layers at exactly ``c = -1, 0, +1``, none of which is blurred.

Cost: layer centres are spaced by ~1.5 px beyond those and ~20 % of the CoC further out, so K
grows with log(c_max); each layer is blurred only inside the box it touches, with cost independent of
the radius (:mod:`bokehcli.ops.blur`), plus one more for the fill behind it at depth edges;
:func:`render_bokeh_tiled` bounds memory by the tile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..defaults import DEFAULT_HIGHLIGHT_GAIN
from ..ops.aperture import kernel_size
from ..ops.blur import aperture_blur, reduction_factor

# Far above any real highlight's hidden range; larger gains only add float32 FFT leakage.
MAX_HIGHLIGHT_GAIN = 100.0
HIGHLIGHT_THRESHOLD = 0.92  # linear; sRGB ~0.965
# The largest CoC diameter whose anti-aliased aperture kernel is a single pixel (a disc of
# diameter 1 centred on a pixel stays inside it; ops.blur leaves radii <= 0.5 px unblurred).
SHARP_COC_PX = 1.0
FIRST_STEP_PX = 1.5  # CoC-diameter spacing of the first blurred layers beyond SHARP_COC_PX
STEP_RATIO = 0.2  # relative spacing far from the focus plane
_EPS_ALPHA = 1e-4
FILL_MIN_ALPHA = 1e-3  # coverage below which a blurred background colour is not trusted
MAX_COC_DIAGONALS = 2.0
# The tile choice of fitted_tile_px: a larger tile is taken only when it saves this share of the
# pixels rendered (measured: 2048 px tiles saving 27 % of a 24 MP f/0.95 render's pixels saved 2 %
# of its time, for 15 % more memory; the default tiles keep the caches warm), and its padded box may hold
# this many pixels (about 1.5 GB of the renderer's buffers, some 30 float32 values per pixel), or
# half as many again as the default tile's already does.
MIN_TILE_SAVING = 0.5
MAX_TILE_PIXELS = 12_000_000
MAX_TILE_GROWTH = 1.5


@dataclass(frozen=True)
class HighlightBoost:
    """Invertible tone curve on the max channel: ``f(m) = m`` for ``m <= t``,

    ``f(m) = t + (1 - t) (exp(k u) - 1) / k`` with ``u = (m - t) / (1 - t)`` for ``t < m <= 1``,

    C1-continuous at ``t`` and with ``k`` chosen so that ``f(1) = gain``; ``gain = 1`` is identity.
    Above 1 (linear HDR input, whose radiance is not clipped) ``f(m) = gain * m``: continuous,
    increasing and free of the exponential's float32 overflow (``exp(k u)`` passes 3.4e38 near
    ``m = 2.4`` at the default gain).
    """

    gain: float = DEFAULT_HIGHLIGHT_GAIN
    threshold: float = HIGHLIGHT_THRESHOLD
    k: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not 1.0 <= self.gain <= MAX_HIGHLIGHT_GAIN:
            raise ValueError(f"highlight boost must be between 1 and {MAX_HIGHLIGHT_GAIN:g}, got {self.gain}")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"highlight threshold must be in (0, 1), got {self.threshold}")
        object.__setattr__(self, "k", _solve_k((self.gain - self.threshold) / (1 - self.threshold)))

    def _scale(self, x: torch.Tensor, curve, knee: float, beyond) -> torch.Tensor:
        if self.gain == 1.0:
            return x
        m = x.amax(dim=1, keepdim=True)
        mapped = torch.where(m > knee, beyond(m.clamp_min(knee)), curve(m.clamp(self.threshold, knee)))
        mapped = torch.where(m > self.threshold, mapped, m)
        return x * (mapped / m.clamp_min(1e-12))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, k = self.threshold, self.k
        return self._scale(x, lambda m: t + (1 - t) * torch.expm1(k * (m - t) / (1 - t)) / k,
                           1.0, lambda m: m * self.gain)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        t, k = self.threshold, self.k
        return self._scale(y, lambda m: t + (1 - t) * torch.log1p(k * (m - t) / (1 - t)) / k,
                           self.gain, lambda m: m / self.gain)


def _solve_k(target: float) -> float:
    """k > 0 with (exp(k) - 1) / k = target (>= 1), by Newton's method on a convex function."""
    if target <= 1.0 + 1e-12:
        return 1e-9
    k = math.log(target) + 1.0
    for _ in range(60):
        value = math.expm1(k) / k - target
        slope = (math.exp(k) * k - math.expm1(k)) / (k * k)
        k -= value / slope
    return k


def layer_centres(coc_min_px: float, coc_max_px: float) -> list[float]:
    """Ascending CoC centres covering [coc_min, coc_max] at the integers of the warped coordinate

    ``u(c) = c / s``                                               for ``|c| <= s``,
    ``u(c) = sign(c) (1 + log(1 + (|c| - s) / c0) / log(1 + rho))``  beyond,

    with ``s = SHARP_COC_PX``, ``c0 = FIRST_STEP_PX / rho``: centres at 0 and +-s (sharp layers, so
    every pixel with ``|c| <= s`` is shared between unblurred layers and returned exactly), then
    1.5 px steps growing to 20 % of ``|c|`` far from the focus plane. The grid depends only on the
    range, so tiles of one photo share it.
    """
    s, c0 = SHARP_COC_PX, FIRST_STEP_PX / STEP_RATIO
    log_ratio = math.log1p(STEP_RATIO)

    def to_u(c: float) -> float:
        if abs(c) <= s:
            return c / s
        return math.copysign(1.0 + math.log1p((abs(c) - s) / c0) / log_ratio, c)

    def to_c(u: int) -> float:
        if abs(u) <= 1:
            return u * s
        return math.copysign(s + c0 * math.expm1((abs(u) - 1) * log_ratio), u)

    lo, hi = math.floor(to_u(coc_min_px) + 1e-9), math.ceil(to_u(coc_max_px) - 1e-9)
    return [to_c(u) for u in range(lo, max(hi, lo) + 1)]


def clamp_coc(coc_px: torch.Tensor) -> torch.Tensor:
    """Limit |CoC| to MAX_COC_DIAGONALS image diagonals: a blur that wide already spreads every
    point over the whole frame, and absurd lens values must not ask for unbounded memory."""
    limit = MAX_COC_DIAGONALS * math.hypot(*coc_px.shape[-2:])
    return coc_px.clamp(-limit, limit)


def layer_weights(coc_px: torch.Tensor, centres: list[float], k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Colour weight and occluder mask of layer ``k`` (centres ascending).

    The colour weight is a linear hat: 1 at ``c_k``, 0 at the neighbouring centres (extended flat
    beyond the outermost ones), so the weights of all layers sum to 1 and a pixel between two
    centres is split between them. Those two fragments belong to one surface: they must add, not
    occlude each other (with a plain over they would, biasing the blend towards the front layer
    and letting ``w (1 - w)`` of what lies behind leak through). So occlusion uses a separate mask:
    a pixel with ``c`` in ``(c_{k-1}, c_k]`` is an opaque occluder at layer ``k``, the back one of
    its pair — it hides layers behind ``k`` but not its own front fragment in ``k - 1``.
    """
    ones = torch.ones_like(coc_px)
    above_prev = ones if k == 0 else (coc_px > centres[k - 1]).to(coc_px.dtype)
    at_most_this = ones if k == len(centres) - 1 else (coc_px <= centres[k]).to(coc_px.dtype)
    rise = ones if k == 0 else (coc_px - centres[k - 1]) / (centres[k] - centres[k - 1])
    fall = ones if k == len(centres) - 1 else (centres[k + 1] - coc_px) / (centres[k + 1] - centres[k])
    return torch.minimum(rise, fall).clamp(0.0, 1.0), above_prev * at_most_this


def render_bokeh(
    image_lin: torch.Tensor,
    coc_px: torch.Tensor,
    blades: int = 0,
    rotation_deg: float = 0.0,
    highlight_boost: float | None = None,
    centres: list[float] | None = None,
) -> torch.Tensor:
    """Render depth of field. ``image_lin`` (B, 3, H, W) linear RGB, ``coc_px`` (B, 1, H, W) signed
    CoC diameter in px -> (B, 3, H, W) linear RGB in [0, 1]. Differentiable in both inputs.

    ``highlight_boost``: gain of clipped highlights (None = default, 1 = off). ``centres``: layer
    CoC centres, ascending (default: from the range of ``coc_px``; tiles of one photo pass the
    photo's grid).
    """
    if image_lin.ndim != 4 or image_lin.shape[1] != 3 or coc_px.shape != image_lin[:, :1].shape:
        raise ValueError(f"expected image (B,3,H,W) and coc (B,1,H,W), got {tuple(image_lin.shape)} "
                         f"and {tuple(coc_px.shape)}")
    boost = HighlightBoost(DEFAULT_HIGHLIGHT_GAIN if highlight_boost is None else highlight_boost)
    if centres is None:
        coc_px = clamp_coc(coc_px)
        c = coc_px.detach()
        centres = layer_centres(float(c.min()), float(c.max()))
    colour = boost.forward(image_lin)
    acc = image_lin.new_zeros(image_lin.shape[0], 4, *image_lin.shape[2:])
    # Sharp coverage of the layers at least two centres behind the current one (see _fill_behind);
    # the two just behind wait in `nearest` until they qualify.
    far_behind = image_lin.new_zeros(image_lin.shape[0], 1, *image_lin.shape[2:])
    nearest: list[tuple[torch.Tensor, tuple[int, int, int, int]] | None] = []
    boxes = _active_boxes(coc_px, centres)
    for k in reversed(range(len(centres))):  # back (largest c) to front
        if len(nearest) == 2 and (waiting := nearest.pop(0)) is not None:
            behind, (y0, y1, x0, x1) = waiting
            far_behind[..., y0:y1, x0:x1] += behind
        box = boxes[k]
        if box is None:
            nearest.append(None)
            continue
        y0, y1, x0, x1 = box
        # The layer's weights are zero outside its box: compute them there only.
        w, occluder = layer_weights(coc_px[..., y0:y1, x0:x1], centres, k)
        nearest.append((w.detach(), box))
        if abs(centres[k]) > SHARP_COC_PX and k + 2 < len(centres):
            acc = _fill_behind(acc, occluder, far_behind, centres[k], box)
        layer = torch.cat([colour[..., y0:y1, x0:x1] * w, w, occluder], dim=1)
        acc = _over(acc, aperture_blur(layer, centres[k], blades, rotation_deg), box)
    out = acc[:, :3] / acc[:, 3:].clamp_min(_EPS_ALPHA)
    return boost.inverse(out).clamp(0.0, 1.0)


def _active_boxes(coc_px: torch.Tensor, centres: list[float]) -> list[tuple[int, int, int, int] | None]:
    """For each layer, the rows/cols [y0, y1) x [x0, x1) that its blurred content can reach (None
    if it has no pixel).

    Layer ``k``'s weight is non-zero exactly for ``c`` in ``(c_{k-1}, c_{k+1})``. Each pixel gets a
    code: ``2j`` inside the open interval ``(c_{j-1}, c_j)``, ``2j + 1`` exactly at ``c_j`` (an
    in-focus subject sits exactly at 0, where the layers at -1 and +1 have no weight). Layer ``k``
    holds codes ``2k`` to ``2k + 2``. Which codes each row and column holds is found in one pass
    over the tile instead of one pass per layer; each box is the rows and columns holding one of
    its codes, widened by its blur's reach.
    """
    c = coc_px.detach().contiguous()
    edges = c.new_tensor(centres)
    bins = torch.bucketize(c, edges)                       # c_{j-1} < c <= c_j
    at_centre = c == torch.cat([edges, edges.new_tensor([math.inf])])[bins]
    codes = (2 * bins + at_centre).flatten(0, 1)           # (B, H, W)
    n_codes = 2 * len(centres) + 1
    height, width = codes.shape[1:]
    in_row = codes.new_zeros(height, n_codes).scatter_(1, codes.transpose(0, 1).reshape(height, -1), 1).bool()
    in_col = codes.new_zeros(width, n_codes).scatter_(1, codes.permute(2, 0, 1).reshape(width, -1), 1).bool()
    whole = (0, height, 0, width)
    return [_reach_box(in_row[:, 2 * k:2 * k + 3].any(1).nonzero(), in_col[:, 2 * k:2 * k + 3].any(1).nonzero(),
                       coc, 1, whole) for k, coc in enumerate(centres)]


def _reach_box(rows: torch.Tensor, cols: torch.Tensor, coc_px: float, reaches: int,
               within: tuple[int, int, int, int]) -> tuple[int, int, int, int] | None:
    """The box [y0, y1) x [x0, x1) inside ``within`` holding the given ``rows`` and ``cols`` (index
    tensors, ascending, tile coordinates) widened by ``reaches`` times the reach of a blur with CoC
    ``coc_px``; None if there are none. Boxes start on multiples of the blur's downsampling factor
    (``within`` must too), so its reduced-resolution grid is the same whatever the crop (tiles of
    one photo agree; see render_bokeh_tiled)."""
    if rows.numel() == 0:
        return None
    step = reduction_factor(abs(coc_px) / 2)
    margin = reaches * (kernel_size(coc_px) // 2 + 2 * step)
    top, bottom, left, right = within
    y0, x0 = max(int(rows[0]) - margin, top), max(int(cols[0]) - margin, left)
    return (y0 - y0 % step, min(int(rows[-1]) + 1 + margin, bottom),
            x0 - x0 % step, min(int(cols[-1]) + 1 + margin, right))


def _fill_behind(acc: torch.Tensor, occluder: torch.Tensor, far_behind: torch.Tensor, coc_px: float,
                 box: tuple[int, int, int, int]) -> torch.Tensor:
    """Extend what lies behind layer ``k`` under its occluding pixels before it is composited.

    The photo never saw the background behind an object, so ``acc`` has no coverage there. A
    blurred object is semi-transparent up to half its CoC *inside* its edge too (the lens sees
    round it): with nothing behind, renormalisation would keep that inner rim opaque. Under the
    occluder mask ``o`` the coverage deficit is filled with the colour ``acc`` has within the
    layer's CoC (normalised convolution with the same disc):

        acc <- acc + o (1 - a)_+ g [blur(acc_rgb) / blur(a), 1]

    The gate ``g`` is 1 only within the layer's CoC of a true depth edge: an occluding pixel next
    to one of a layer at least two centres behind (``far_behind``, their sharp coverage). Where
    the object's edge is where a nearer surface hides it, or where a slanted surface passes into
    the next layer, nothing lies behind the rim, and nothing is filled (nor computed). Deep inside
    the object the blurred occluder hides the fill completely.

    ``occluder`` is the layer's mask inside ``box``; ``acc`` and ``far_behind`` are the tile's.
    """
    y0, y1, x0, x1 = box
    edge = occluder * (F.max_pool2d(far_behind[..., y0:y1, x0:x1], 3, stride=1, padding=1) > 0).to(occluder.dtype)
    edge_at = edge.detach().flatten(0, 1).any(0)
    # The fill lands within one blur reach of an edge and reads acc within one more: only that
    # part of the box is blurred (depth edges are thin; the box is the whole layer's).
    sub = _reach_box(edge_at.any(1).nonzero() + y0, edge_at.any(0).nonzero() + x0, coc_px, 2, box)
    if sub is None:       # no depth edge (a smooth surface passes through the layers)
        return acc
    sy0, sy1, sx0, sx1 = sub
    inner = (..., slice(sy0 - y0, sy1 - y0), slice(sx0 - x0, sx1 - x0))
    mask, edge = occluder[inner], edge[inner]
    region = acc[..., sy0:sy1, sx0:sx1]
    spread = aperture_blur(torch.cat([region, edge], dim=1), coc_px)
    gate = ((spread[:, 4:] > FILL_MIN_ALPHA) & (spread[:, 3:4] > FILL_MIN_ALPHA)).to(acc.dtype)
    deficit = (1.0 - region[:, 3:]).clamp_min(0.0) * mask * gate
    fill = deficit * torch.cat([spread[:, :3] / spread[:, 3:4].clamp_min(FILL_MIN_ALPHA),
                                torch.ones_like(deficit)], 1)
    if torch.is_grad_enabled() and acc.requires_grad:
        acc = acc.clone()  # autograd needs the old acc intact
        acc[..., sy0:sy1, sx0:sx1] = region + fill
        return acc
    region.add_(fill)
    return acc


def _over(acc: torch.Tensor, layer: torch.Tensor, box: tuple[int, int, int, int]) -> torch.Tensor:
    """``acc <- layer_rgba + (1 - layer_occluder) * acc`` inside ``box`` (premultiplied RGBA;
    ``layer`` holds RGBA and the blurred occluder mask as channel 4)."""
    y0, y1, x0, x1 = box
    transmit = 1.0 - layer[:, 4:].clamp(0.0, 1.0)
    if torch.is_grad_enabled() and (acc.requires_grad or layer.requires_grad):
        region = acc[..., y0:y1, x0:x1] * transmit + layer[:, :4]
        acc = acc.clone()  # autograd needs the old acc intact
        acc[..., y0:y1, x0:x1] = region
        return acc
    acc[..., y0:y1, x0:x1].mul_(transmit).add_(layer[:, :4])
    return acc


def render_bokeh_tiled(
    image_lin: torch.Tensor,
    coc_px: torch.Tensor,
    tile_px: int = 1024,
    blades: int = 0,
    rotation_deg: float = 0.0,
    highlight_boost: float | None = None,
    progress=None,
    fit_to_blur: bool = False,
) -> torch.Tensor:
    """:func:`render_bokeh` in tiles of ``tile_px`` with a halo of twice the largest CoC radius, so
    memory is bounded by the tile. Tiles share one layer grid; tile origins and halos are
    multiples of the coarsest blur's downsampling factor (and of 64) so the reduced-resolution
    blur grids line up across tiles. Inference only (no autograd). ``progress(n)`` is called with
    the number of finished tiles' pixels. ``fit_to_blur``: ``tile_px`` is the smallest tile, and a
    larger one is taken where the halos would make the tiles overlap much (:func:`fitted_tile_px`).
    """
    coc_px = clamp_coc(coc_px)
    centres = layer_centres(float(coc_px.min()), float(coc_px.max()))
    align, halo = _tile_grid(centres)
    height, width = image_lin.shape[-2:]
    tile_px = _round_up(max(tile_px, align), align)
    if fit_to_blur:
        tile_px = fitted_tile_px(height, width, centres, tile_px)
    out = torch.empty_like(image_lin)
    with torch.inference_mode():
        for y in range(0, height, tile_px):
            for x in range(0, width, tile_px):
                ya, xa = max(y - halo, 0), max(x - halo, 0)
                yb, xb = min(y + tile_px + halo, height), min(x + tile_px + halo, width)
                part = render_bokeh(image_lin[..., ya:yb, xa:xb], coc_px[..., ya:yb, xa:xb],
                                    blades, rotation_deg, highlight_boost, centres)
                th, tw = min(tile_px, height - y), min(tile_px, width - x)
                out[..., y:y + th, x:x + tw] = part[..., y - ya:y - ya + th, x - xa:x - xa + tw]
                if progress is not None:
                    progress(th * tw)
    return out


def _tile_grid(centres: list[float]) -> tuple[int, int]:
    """``(align, halo)`` of :func:`render_bokeh_tiled` for a layer grid: what tile origins and
    sizes are multiples of, and the margin each tile is rendered with."""
    r_max = max(abs(centres[0]), abs(centres[-1])) / 2
    align = max(64, reduction_factor(r_max))            # both powers of two: the larger is a multiple
    # Twice the blur radius: a layer's fill reads what lies behind it within its radius, and that
    # was blurred with a radius of its own (_fill_behind).
    halo = _round_up(2 * (kernel_size(2 * r_max) // 2) + 2 * reduction_factor(r_max) + 2, align)
    return align, halo


def padded_pixels(height: int, width: int, tile_px: int, halo_px: int) -> tuple[int, int]:
    """Pixels :func:`render_bokeh_tiled` renders with tiles of ``tile_px`` and halos of ``halo_px``:
    ``(all tiles together, the largest tile)``. A tile's padded box is its row span times its
    column span, so the total is the product of the summed spans."""
    def spans(size: int) -> list[int]:
        return [min(start + tile_px + halo_px, size) - max(start - halo_px, 0) for start in range(0, size, tile_px)]

    rows, cols = spans(height), spans(width)
    return sum(rows) * sum(cols), max(rows) * max(cols)


def fitted_tile_px(height: int, width: int, centres: list[float], tile_px: int) -> int:
    """The tile side for :func:`render_bokeh_tiled` on a ``height x width`` frame with this layer
    grid: ``tile_px``, or a multiple ``2^k tile_px`` (up to the whole frame) that renders at least
    ``MIN_TILE_SAVING`` fewer padded pixels, its largest padded tile within ``MAX_TILE_PIXELS`` (or
    ``MAX_TILE_GROWTH`` times one of ``tile_px``'s). Each tile is rendered with a halo of twice the
    largest blur's radius: with a 900 px blur on a 6 MP frame, every 1024 px tile's padded box was
    nearly the whole frame, six times over."""
    align, halo = _tile_grid(centres)
    base = _round_up(max(tile_px, align), align)
    base_total, base_largest = padded_pixels(height, width, base, halo)
    best, best_total = base, base_total
    side = base
    while side < max(height, width):
        side *= 2
        total, largest = padded_pixels(height, width, side, halo)
        if largest <= max(MAX_TILE_PIXELS, MAX_TILE_GROWTH * base_largest) \
                and total <= (1 - MIN_TILE_SAVING) * base_total \
                and total < best_total:
            best, best_total = side, total
    return best


def _round_up(n: int, m: int) -> int:
    return -(-n // m) * m
