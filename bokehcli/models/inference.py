"""Tiled inference with tile state propagation (TSP), and the tiled-training hook.

Inference (:func:`predict`): the photo is resized to a working size (long side ``work_size_px``;
0 = full resolution) and cut into ``tile_px`` x ``tile_px`` tiles (0 = one tile) that overlap by
``overlap_px``. Tiles run one after another in serpentine order (left to right on even tile
rows, right to left on odd ones, so consecutive tiles are neighbours); with ``tsp`` the final
state of every block and scan direction for one tile is the initial state of the same block and
direction for the next, the first tile starting from the learned ``state_init``. Overlaps are
blended with weights that ramp linearly across the overlap (feathering). Network memory is that
of one tile; only the stitched outputs (1 + 3 channels at working size) span the photo.

Inverse depth is then upsampled to full resolution edge-aware, by the fast guided filter of
:mod:`bokehcli.ops.guided` on log inverse depth guided by the full-resolution luminance, so depth
edges follow photo edges. The refinement (low frequency by construction) is upsampled bilinearly. The renderer then
runs at full resolution with the full-resolution pixel pitch (:func:`render_prediction`).

Training (:func:`forward_tiled`): a crop is cut into ``nx x ny`` equal tiles that run in
serpentine order with carried states, differentiably, so the model learns to use carried state.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..layers.stem import TOKEN_STRIDE
from ..ops.guided import guided_upsample, luminance
from ..optics import Lens, pixel_pitch_mm
from ..render.with_depth import render_with_depth
from ..timing import NO_STAGES
from .bokehflow import BokehFlow, BokehFlowOutput, LensBatch, NetworkOutput, States, finish
from .operating_point import operating_point_of

# Tiles are for memory: below this many working pixels the whole image is one tile (fastest: no
# overlap is computed twice); above it, tiles of AUTO_TILE_PX with carried state.
WHOLE_IMAGE_MAX_PIXELS = 1_500_000
AUTO_TILE_PX = 768
DEFAULT_OVERLAP_PX = 64


@dataclass
class Prediction:
    """Full-resolution network outputs for one photo of size ``H x W``.

    inv_depth: (1, 1, H, W) 1/m; refine_lin: (1, 3, H, W) ungated refinement (linear RGB);
    work_hw: the working size the network ran at.
    """

    inv_depth: torch.Tensor
    refine_lin: torch.Tensor
    work_hw: tuple[int, int]

    @property
    def depth_m(self) -> torch.Tensor:
        return 1.0 / self.inv_depth


def working_size(height: int, width: int, work_size_px: int) -> tuple[int, int]:
    """(h, w) with long side ``work_size_px`` and the aspect ratio kept; full size if 0 or larger."""
    if work_size_px < 0:
        raise ValueError(f"work size must be >= 0, got {work_size_px}")
    long_side = max(height, width)
    if work_size_px == 0 or work_size_px >= long_side:
        return height, width
    scale = work_size_px / long_side
    return max(1, round(height * scale)), max(1, round(width * scale))


def overlap_for(tile_px: int) -> int:
    """Default overlap of tiles in px: DEFAULT_OVERLAP_PX, or a quarter of small tiles (multiple of 8)."""
    return DEFAULT_OVERLAP_PX if tile_px == 0 else min(DEFAULT_OVERLAP_PX, tile_px // 32 * 8)


def auto_tile(height: int, width: int) -> int:
    """The default tile (px) for a working size: the whole image when small enough, else AUTO_TILE_PX."""
    return 0 if height * width <= WHOLE_IMAGE_MAX_PIXELS else AUTO_TILE_PX


def tile_starts(length_px: int, tile_px: int, overlap_px: int) -> list[int]:
    """Start offsets of tiles of ``tile_px`` covering ``[0, length_px)`` with at least ``overlap_px``
    shared; the last tile is aligned to the end. ``tile_px <= 0`` or ``>= length_px``: one tile."""
    if tile_px <= 0 or tile_px >= length_px:
        return [0]
    step = tile_px - overlap_px
    return list(range(0, length_px - tile_px, step)) + [length_px - tile_px]


def serpentine(n_rows: int, n_cols: int) -> list[tuple[int, int]]:
    """Tile (row, col) visiting order: boustrophedon, so consecutive tiles touch."""
    return [(r, c if r % 2 == 0 else n_cols - 1 - c) for r in range(n_rows) for c in range(n_cols)]


def _ramp(start: int, size: int, total: int, overlap_px: int) -> torch.Tensor:
    """1-D feather weights (size,): rise over ``overlap_px`` where another tile precedes, fall
    where one follows, 1 at the image border and in the interior; always > 0."""
    w = torch.ones(size)
    if overlap_px > 0:
        ramp = (torch.arange(overlap_px, dtype=torch.float32) + 0.5) / overlap_px
        if start > 0:
            w[:overlap_px] = torch.minimum(w[:overlap_px], ramp)
        if start + size < total:
            w[size - overlap_px:] = torch.minimum(w[size - overlap_px:], ramp.flip(0))
    return w


def validate_tiling(tile_px: int, overlap_px: int) -> None:
    if tile_px < 0 or (tile_px and (tile_px % TOKEN_STRIDE or tile_px < 4 * TOKEN_STRIDE)):
        raise ValueError(f"tile must be 0 or a multiple of {TOKEN_STRIDE} >= {4 * TOKEN_STRIDE} px, got {tile_px}")
    if overlap_px < 0 or (tile_px and 2 * overlap_px > tile_px):
        raise ValueError(f"overlap must be in [0, tile/2], got {overlap_px}")


def run_tiles(model: BokehFlow, srgb: torch.Tensor, lens: LensBatch, tile_px: int, overlap_px: int,
              tsp: bool = True, cues: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Network over overlapping tiles of ``srgb`` (B, 3, h, w) (and its cue maps (B, K, h, w), cut
    the same way) -> stitched inverse depth (B, 1, h, w) and refinement (B, 3, h, w).
    ``tsp=False`` starts every tile from ``state_init``."""
    validate_tiling(tile_px, overlap_px)
    b, _, h, w = srgb.shape
    ys, xs = tile_starts(h, tile_px, overlap_px), tile_starts(w, tile_px, overlap_px)
    th, tw = min(tile_px or h, h), min(tile_px or w, w)
    acc = srgb.new_zeros(b, 4, h, w)
    weight = srgb.new_zeros(1, 1, h, w)
    states: States | None = None
    for r, c in serpentine(len(ys), len(xs)):
        y0, x0 = ys[r], xs[c]
        tile_cues = None if cues is None else cues[..., y0:y0 + th, x0:x0 + tw]
        net = model.network(srgb[..., y0:y0 + th, x0:x0 + tw], lens, states=states, cues=tile_cues)
        states = net.states if tsp else None
        feather = (_ramp(y0, th, h, overlap_px)[:, None] * _ramp(x0, tw, w, overlap_px)[None, :]).to(srgb)
        acc[..., y0:y0 + th, x0:x0 + tw] += feather * torch.cat([net.inv_depth, net.refine_lin], dim=1)
        weight[..., y0:y0 + th, x0:x0 + tw] += feather
    out = acc / weight
    return out[:, :1], out[:, 1:]


def predict(model: BokehFlow, srgb_full: torch.Tensor, lens: Lens, work_size_px: int | None = None,
            tile_px: int | None = None, overlap_px: int | None = None, tsp: bool | None = None,
            stages=NO_STAGES, cue_maps: torch.Tensor | None = None) -> Prediction:
    """Inverse depth and refinement at full resolution for ``srgb_full`` (3, H, W) in [0, 1]
    (with ``cue_maps`` (K, h, w), any size, for a model that takes them: resized to the working
    size, where the network sees them; made at cue size they stay small whatever the photo).

    ``work_size_px``, ``tile_px``, ``overlap_px`` and ``tsp`` not given come from the model's
    operating point (:mod:`bokehcli.models.operating_point`); a tile or overlap it leaves open is
    chosen from the working size (:func:`auto_tile`, :func:`overlap_for`). The lens's
    ``sensor_diag_mm`` refers to the whole photo; the network sees the pixel pitch of the working
    size. Runs without autograd.
    """
    if srgb_full.dim() != 3 or srgb_full.shape[0] != 3:
        raise ValueError(f"expected a (3, H, W) image, got {tuple(srgb_full.shape)}")
    point = operating_point_of(model)
    work_size_px = point.work_size_px if work_size_px is None else work_size_px
    tile_px = point.tile_px if tile_px is None else tile_px
    overlap_px = point.overlap_px if overlap_px is None else overlap_px
    tsp = point.tsp if tsp is None else tsp
    height, width = srgb_full.shape[-2:]
    h, w = working_size(height, width, work_size_px)
    if tile_px is None:
        tile_px = auto_tile(h, w)
    if overlap_px is None:
        overlap_px = overlap_for(tile_px)
    photo = srgb_full.unsqueeze(0)
    lens_work = LensBatch.from_lens(lens, pixel_pitch_mm(lens.sensor_diag_mm, w, h), device=photo.device)
    with torch.inference_mode():
        with stages("network"):
            def to_work(x: torch.Tensor | None) -> torch.Tensor | None:
                if x is None or tuple(x.shape[-2:]) == (h, w):
                    return x
                return F.interpolate(x, size=(h, w), mode="bilinear", antialias=True, align_corners=False).clamp(0.0, 1.0)

            cues = None if cue_maps is None else cue_maps.unsqueeze(0).to(photo)
            inv_depth, refine = run_tiles(model, to_work(photo), lens_work, tile_px, overlap_px, tsp, to_work(cues))
        with stages("depth upsampling"):
            if (h, w) == (height, width):
                return Prediction(inv_depth, refine, (h, w))
            cfg = model.config
            log_inv = guided_upsample(torch.log(inv_depth), luminance(photo))
            inv_depth = torch.exp(log_inv).clamp(1.0 / cfg.max_depth_m, 1.0 / cfg.min_depth_m)
            refine = F.interpolate(refine, size=(height, width), mode="bilinear", align_corners=False)
    return Prediction(inv_depth, refine, (h, w))


def render_prediction(srgb_full: torch.Tensor, prediction: Prediction, lens: Lens, blades: int = 0,
                      rotation_deg: float = 0.0, highlight_boost: float | None = None,
                      stages=NO_STAGES) -> torch.Tensor:
    """Full-resolution bokeh (1, 3, H, W) linear RGB from :func:`predict`'s output, refinement
    included (:func:`bokehcli.render.with_depth.render_with_depth`)."""
    return render_with_depth(srgb_full.unsqueeze(0), prediction.inv_depth, lens, blades=blades,
                             rotation_deg=rotation_deg, highlight_boost=highlight_boost,
                             refine_lin=prediction.refine_lin, stages=stages).linear


def forward_tiled(model: BokehFlow, srgb: torch.Tensor, lens: LensBatch, tiles_xy: tuple[int, int],
                  render: bool = True, tsp: bool = True, cues: torch.Tensor | None = None,
                  **render_options) -> BokehFlowOutput:
    """Training hook: the crop ``srgb`` (B, 3, H, W) as ``nx x ny`` equal tiles with carried states.

    ``H / ny`` and ``W / nx`` must be multiples of 8. Differentiable through the carried states;
    tiles do not overlap (the stitched outputs are exact concatenations), and the render runs once
    on the whole crop. ``(1, 1)`` equals ``model(srgb, lens)``.
    """
    nx, ny = tiles_xy
    _, _, height, width = srgb.shape
    if nx < 1 or ny < 1 or height % (ny * TOKEN_STRIDE) or width % (nx * TOKEN_STRIDE):
        raise ValueError(f"cannot cut a {width}x{height} crop into {nx}x{ny} tiles of multiples of "
                         f"{TOKEN_STRIDE} px")
    th, tw = height // ny, width // nx
    outputs: dict[tuple[int, int], NetworkOutput] = {}
    last: NetworkOutput | None = None
    for r, c in serpentine(ny, nx):
        carried = last.states if (tsp and last is not None) else None
        window = (..., slice(r * th, (r + 1) * th), slice(c * tw, (c + 1) * tw))
        last = outputs[r, c] = model.network(srgb[window], lens, states=carried,
                                             cues=None if cues is None else cues[window])

    def stitch(get) -> torch.Tensor:
        return torch.cat([torch.cat([get(outputs[r, c]) for c in range(nx)], dim=-1) for r in range(ny)], dim=-2)

    n_stages = len(outputs[0, 0].aux_inv_depth)
    net = NetworkOutput(
        inv_depth=stitch(lambda o: o.inv_depth),
        refine_lin=stitch(lambda o: o.refine_lin),
        aux_inv_depth=[stitch(lambda o, s=s: o.aux_inv_depth[s]) for s in range(n_stages)],
        states=last.states,
    )
    return finish(net, srgb, lens, render, **render_options)
