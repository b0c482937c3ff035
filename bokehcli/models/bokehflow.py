"""BokehFlow: photo + lens -> bounded inverse depth -> PG-CoC -> thin-lens render + refinement.

    srgb (B, 3, H, W) --ConvStem--> skip (stride 4), tokens (stride 8)
    depth stream: tokens -> [2 BiGDR] -> coarse inverse depth -> |CoC| ---+  (per stage, coarse
    bokeh stream: W tokens -> [2 BiGDR + ACFM(lens) + DAHG(|CoC|)] <------+   to fine)
                  cross-fusion of the streams after every stage
    depth head (tokens + skip) -> bounded inverse depth (B, 1, H, W) in 1/m
    with cue maps (config.cue_channels > 0): they join the photo at the stem, and the depth head
    (and each coarse stage) predicts a logit *added* to that of the cues' own inverse depth
    ``b / S1`` (relative inverse depth b, focus distance S1): the network learns a correction
    of the cue depth, and a correction of 0 is the cue depth itself
    PG-CoC: coc_px = thin-lens CoC (bokehcli.optics, linear in 1/D) / pixel pitch  (docs/optics.md)
    render: render_bokeh(srgb_to_linear(srgb), coc_px) + gate(coc_px) * refine  (render.with_depth)
    refine head (bokeh tokens + skip) -> linear RGB residual, 0 wherever |coc_px| <= 1 px

The pixel pitch is the sensor size of one pixel *of the image the network sees*: for a crop of a
photo scaled to width W_s, ``sensor_diag_mm / hypot(W_s, H_s)`` of the whole (scaled) frame, not
of the crop, so CoC in pixels means the same thing in training crops and full photos.

TSP: every block takes an optional carried state (4, B, H, Dk, Dv) and returns its final one;
``states`` maps block names ("depth.i", "bokeh.i") to them (see models.inference).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..layers.bigdr import BiGDRBlock
from ..layers.cross_fusion import CrossFusion
from ..layers.film import LensEmbedding, lens_features
from ..layers.heads import UpHead, bounded_inverse_depth, inverse_depth_logit
from ..layers.stem import TOKEN_STRIDE, ConvStem
from ..ops.color import srgb_to_linear
from ..optics import Lens, coc_mm_from_inverse_depth
from ..render.layered import render_bokeh
from ..render.with_depth import apply_refinement
from .config import BokehFlowConfig

# Which cue map holds the cues' relative inverse depth (bokehcli.cues.maps.CUE_CHANNELS; not
# imported from there, which needs OpenCV; a test keeps the two in step).
RELATIVE_INV_DEPTH_CHANNEL = 5

States = dict[str, torch.Tensor]


@dataclass(frozen=True)
class LensBatch:
    """Per-sample lens conditioning, each a (B,) tensor. ``focus_m`` may be ``inf``.

    ``pixel_pitch_mm``: sensor size of one pixel of the *whole frame* at the resolution the
    network sees (see the module docstring).
    """

    f_number: torch.Tensor
    focal_mm: torch.Tensor
    focus_m: torch.Tensor
    sensor_diag_mm: torch.Tensor
    pixel_pitch_mm: torch.Tensor

    @classmethod
    def from_lens(cls, lens: Lens, pixel_pitch_mm: float, batch: int = 1,
                  device: torch.device | str | None = None) -> "LensBatch":
        def column(value: float) -> torch.Tensor:
            return torch.full((batch,), float(value), dtype=torch.float32, device=device)

        return cls(column(lens.f_number), column(lens.focal_mm), column(lens.focus_m),
                   column(lens.sensor_diag_mm), column(pixel_pitch_mm))

    def features(self) -> torch.Tensor:
        return lens_features(self.f_number, self.focal_mm, self.focus_m, self.sensor_diag_mm)


def pg_coc(inv_depth_per_m: torch.Tensor, lens: LensBatch) -> torch.Tensor:
    """Physics-guided CoC: signed diameter in px from inverse depth (B, ...) via the thin lens."""
    shape = (-1,) + (1,) * (inv_depth_per_m.dim() - 1)
    coc_mm = coc_mm_from_inverse_depth(inv_depth_per_m, lens.focal_mm.view(shape),
                                       lens.f_number.view(shape), lens.focus_m.view(shape))
    return coc_mm / lens.pixel_pitch_mm.view(shape)


@dataclass
class NetworkOutput:
    """What the network alone predicts for one image or tile (before CoC and rendering).

    inv_depth: (B, 1, H, W) 1/m, bounded; refine_lin: (B, 3, H, W) ungated linear-RGB residual;
    aux_inv_depth: per stage, (B, 1, H/8, W/8) coarse inverse depth (deep supervision);
    states: final TSP state of every block.
    """

    inv_depth: torch.Tensor
    refine_lin: torch.Tensor
    aux_inv_depth: list[torch.Tensor]
    states: States


@dataclass
class BokehFlowOutput:
    inv_depth: torch.Tensor
    coc_px: torch.Tensor
    refine_lin: torch.Tensor
    rendered_lin: torch.Tensor | None
    aux_inv_depth: list[torch.Tensor]
    states: States

    @property
    def depth_m(self) -> torch.Tensor:
        return 1.0 / self.inv_depth


class BokehFlow(nn.Module):
    def __init__(self, config: BokehFlowConfig) -> None:
        super().__init__()
        self.config = c = config
        self.stem = ConvStem(c.skip_dim, c.dim, c.cue_channels)
        self.lens_embedding = LensEmbedding(c.lens_dim)
        block = dict(dim=c.dim, heads=c.heads, head_dim=c.head_dim, ffn_ratio=c.ffn_ratio,
                     conv_kernel=c.conv_kernel, chunk_size=c.chunk_size)
        self.depth_blocks = nn.ModuleList(BiGDRBlock(**block) for _ in range(c.blocks))
        self.bokeh_in = nn.Linear(c.dim, c.dim)
        self.bokeh_blocks = nn.ModuleList(
            BiGDRBlock(**block, lens_dim=c.lens_dim, coc_conditioned=True) for _ in range(c.blocks))
        self.aux_depth = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(c.dim), nn.Linear(c.dim, 1)) for _ in range(c.stages))
        self.cross_fusion = nn.ModuleList(CrossFusion(c.dim) for _ in range(c.stages))
        self.depth_head = UpHead(c.dim, c.skip_dim, c.decoder_dim, 1)
        self.refine_head = UpHead(c.dim, c.skip_dim, c.decoder_dim, 3, zero_init=True)

    def block_names(self) -> list[str]:
        return ([f"depth.{i}" for i in range(len(self.depth_blocks))]
                + [f"bokeh.{i}" for i in range(len(self.bokeh_blocks))])

    def network(self, srgb: torch.Tensor, lens: LensBatch, inv_depth: torch.Tensor | None = None,
                states: States | None = None, cues: torch.Tensor | None = None) -> NetworkOutput:
        """Inverse depth, refinement and final states; ``srgb`` (B, 3, H, W) in [0, 1]; ``cues``
        (B, K, H, W) the cue maps of :mod:`bokehcli.cues.maps` (models with ``cue_channels``).

        ``inv_depth`` (B, 1, H, W) 1/m, if given, replaces the predicted depth (a user depth map)
        and conditions DAHG. ``states`` carries TSP states in (missing blocks start from their
        learned ``state_init``). Any H, W: the input is padded (replicate) to a multiple of 8.
        """
        cfg, states = self.config, dict(states or {})
        b, _, height, width = srgb.shape
        pad = (0, -width % TOKEN_STRIDE, 0, -height % TOKEN_STRIDE)

        def padded(x: torch.Tensor | None) -> torch.Tensor | None:
            return F.pad(x, pad, mode="replicate") if x is not None and any(pad) else x

        skip, tokens = self.stem(padded(srgb), padded(cues))
        base_logit = self._cue_depth_logit(padded(cues), lens)
        grid = tokens.shape[-2:]
        depth = tokens.flatten(2).transpose(1, 2)  # (B, L, C)
        bokeh = self.bokeh_in(depth)
        lens_embedding = self.lens_embedding(lens.features())
        given_coc_feature = None
        if inv_depth is not None:
            coc = pg_coc(F.pad(inv_depth, pad, mode="replicate") if any(pad) else inv_depth, lens)
            given_coc_feature = _coc_feature(F.avg_pool2d(coc.abs(), TOKEN_STRIDE).flatten(2).transpose(1, 2))
        aux, new_states = [], {}
        for stage in range(cfg.stages):
            for i in range(stage * cfg.fusion_every, (stage + 1) * cfg.fusion_every):
                name = f"depth.{i}"
                depth, new_states[name] = self.depth_blocks[i](depth, grid, state=states.get(name))
            coarse_logit = self.aux_depth[stage](depth).transpose(1, 2).reshape(b, 1, *grid)
            if base_logit is not None:
                coarse_logit = coarse_logit + F.avg_pool2d(base_logit, TOKEN_STRIDE)
            coarse = bounded_inverse_depth(coarse_logit, cfg.min_depth_m, cfg.max_depth_m)
            aux.append(coarse)
            coc_feature = given_coc_feature if given_coc_feature is not None \
                else _coc_feature(pg_coc(coarse.flatten(2).transpose(1, 2), lens))
            for i in range(stage * cfg.fusion_every, (stage + 1) * cfg.fusion_every):
                name = f"bokeh.{i}"
                bokeh, new_states[name] = self.bokeh_blocks[i](bokeh, grid, lens_embedding, coc_feature,
                                                               states.get(name))
            depth, bokeh = self.cross_fusion[stage](depth, bokeh)
        depth_map = depth.transpose(1, 2).reshape(b, -1, *grid)
        bokeh_map = bokeh.transpose(1, 2).reshape(b, -1, *grid)
        full = (height + pad[3], width + pad[1])
        logit = _upsample(self.depth_head(depth_map, skip), full)
        if base_logit is not None:
            logit = logit + base_logit
        logit = logit[..., :height, :width]
        refine = _upsample(self.refine_head(bokeh_map, skip), full)[..., :height, :width]
        predicted = bounded_inverse_depth(logit, cfg.min_depth_m, cfg.max_depth_m)
        return NetworkOutput(predicted if inv_depth is None else inv_depth, refine, aux, new_states)

    def _cue_depth_logit(self, cues: torch.Tensor | None, lens: LensBatch) -> torch.Tensor | None:
        """(B, 1, H, W) logit of the cues' metric inverse depth ``b / S1``; None without cues.
        A camera focused at infinity puts the cue depth at the far bound."""
        if not self.config.cue_channels:
            return None
        relative = cues[:, RELATIVE_INV_DEPTH_CHANNEL:RELATIVE_INV_DEPTH_CHANNEL + 1]
        inv_depth = relative / lens.focus_m.view(-1, 1, 1, 1)
        return inverse_depth_logit(inv_depth, self.config.min_depth_m, self.config.max_depth_m)

    def forward(self, srgb: torch.Tensor, lens: LensBatch, inv_depth: torch.Tensor | None = None,
                states: States | None = None, render: bool = True, blades: int = 0,
                rotation_deg: float = 0.0, highlight_boost: float | None = None,
                cues: torch.Tensor | None = None) -> BokehFlowOutput:
        """Full model on one image/crop: see :meth:`network`; ``render=False`` skips the renderer."""
        net = self.network(srgb, lens, inv_depth, states, cues)
        return finish(net, srgb, lens, render, blades, rotation_deg, highlight_boost)


def finish(net: NetworkOutput, srgb: torch.Tensor, lens: LensBatch, render: bool = True, blades: int = 0,
           rotation_deg: float = 0.0, highlight_boost: float | None = None) -> BokehFlowOutput:
    """PG-CoC and (optionally) the render for a network output covering all of ``srgb``."""
    coc = pg_coc(net.inv_depth, lens)
    rendered = None
    if render:
        thin_lens = render_bokeh(srgb_to_linear(srgb), coc, blades=blades, rotation_deg=rotation_deg,
                                 highlight_boost=highlight_boost)
        rendered = apply_refinement(thin_lens, coc, net.refine_lin)
    return BokehFlowOutput(net.inv_depth, coc, net.refine_lin, rendered, net.aux_inv_depth, net.states)


def _coc_feature(coc_px: torch.Tensor) -> torch.Tensor:
    """DAHG conditioning: log1p(|CoC| in px), tokens (B, L, 1)."""
    return torch.log1p(coc_px.abs())


def _upsample(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
