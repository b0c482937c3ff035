"""Where a render's depth comes from, each source returning inverse depth at full resolution and
its name:

- a map the user gives (``--depth``): metric, used as it is;
- a map the camera stored in the photo (:mod:`bokehcli.lens.embedded_depth`): metric or relative;
- the photo's own cues (:mod:`bokehcli.cues`): relative, 1 on the focus plane;
- the BokehFlow network (``--depth-source model``): its scale follows the focus it was told; a
  model with cue channels takes the photo's cue maps and corrects the cues' depth.

A relative estimate is anchored (:func:`anchor`): scaled so that its depth over the focus target
equals the focus distance the camera recorded (or, without one, an estimate of it). The camera's
distance thus sets the scale of the whole map, and the subject lies on the focus plane by
construction instead of wherever a predicted depth happens to put it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from .cues.depth import PhotoCues
from .cues.image import Box
from .depthio import fill_unknown_depth, load_depth
from .errors import BokehError
from .lens.embedded_depth import EmbeddedDepth
from .models.inference import predict
from .ops.guided import guided_upsample, luminance
from .optics import Lens
from .timing import NO_STAGES


@dataclass
class DepthEstimate:
    inv_depth: torch.Tensor                  # (1, 1, H, W) 1/m (relative units before anchoring)
    source: str                              # "photo cues", "model: bokehflow-nano", a file path
    relative: bool                           # True until anchored at the focus target
    refine_lin: torch.Tensor | None = None   # the network's refinement, (1, 3, H, W)

    @property
    def depth_m(self) -> np.ndarray:
        """(H, W) float32 metres."""
        return (1.0 / self.inv_depth[0, 0]).float().cpu().numpy()


def depth_from_file(photo: Path, depth_path: Path, size_wh: tuple[int, int],
                    max_pixels: int) -> tuple[DepthEstimate, list[str]]:
    """A metric map, decoded under the same pixel limit as photos; errors name the photo too (one
    map may serve a batch)."""
    try:
        depth_m, warnings = load_depth(depth_path, size_wh=size_wh, max_pixels=max_pixels)
        depth_m = fill_unknown_depth(depth_m, str(depth_path))
    except BokehError as exc:
        raise type(exc)(f"{photo}: {exc}") from None
    inv = torch.from_numpy(np.ascontiguousarray(1.0 / depth_m, dtype=np.float32))[None, None]
    return DepthEstimate(inv, str(depth_path), relative=False), warnings


def depth_from_embedded(embedded: EmbeddedDepth) -> DepthEstimate:
    """The camera's own map; unknown pixels take the nearest known depth."""
    depth_m = fill_unknown_depth(embedded.depth_m, embedded.source)
    inv = torch.from_numpy(np.ascontiguousarray(1.0 / depth_m, dtype=np.float32))[None, None]
    return DepthEstimate(inv, embedded.source, relative=not embedded.metric)


def depth_from_model(model, name: str, srgb: torch.Tensor, lens: Lens, work_size_px: int | None,
                     tile_px: int | None, tsp: bool, cue_maps: torch.Tensor | None = None,
                     stages=NO_STAGES) -> DepthEstimate:
    """BokehFlow on ``srgb`` (3, H, W), conditioned on ``lens`` (the camera's focus); ``cue_maps``
    (K, h, w) for a model that refines the photo's cues (:mod:`bokehcli.cues.maps`). A working
    size or tile of None is the weights' operating point; ``tsp=False`` turns state propagation
    off, True leaves it to the operating point."""
    prediction = predict(model, srgb, lens, work_size_px, tile_px, tsp=None if tsp else False, stages=stages,
                         cue_maps=cue_maps)
    return DepthEstimate(prediction.inv_depth, f"model: {name}", relative=True, refine_lin=prediction.refine_lin)


def depth_from_cues(cues: PhotoCues, srgb: torch.Tensor, stages=NO_STAGES) -> DepthEstimate:
    """The cues' relative inverse depth (cue size) upsampled to ``srgb`` (3, H, W) edge-aware."""
    with stages("depth upsampling"):
        low = torch.from_numpy(np.log(cues.relative_inv_depth))[None, None]
        # the local affine fit can overshoot at strong edges: keep within the cues' own range
        log_inv = guided_upsample(low, luminance(srgb[None].float())).clamp(float(low.min()), float(low.max()))
        inv = torch.exp(log_inv)
    return DepthEstimate(inv, "photo cues", relative=True)


def depth_at(inv_depth: torch.Tensor, box_px: Box) -> float:
    """Median depth (m) over the pixels of ``box_px`` (x0, y0, x1, y1), photo pixels."""
    height, width = inv_depth.shape[-2:]
    x0, y0 = int(np.clip(np.floor(box_px[0]), 0, width - 1)), int(np.clip(np.floor(box_px[1]), 0, height - 1))
    x1, y1 = int(np.clip(np.ceil(box_px[2]), x0 + 1, width)), int(np.clip(np.ceil(box_px[3]), y0 + 1, height))
    return float(1.0 / inv_depth[0, 0, y0:y1, x0:x1].median())


def anchor(estimate: DepthEstimate, box_px: Box, focus_m: float) -> DepthEstimate:
    """``estimate`` scaled so that its depth over ``box_px`` is ``focus_m`` (``inf``: everything at
    infinity, as a camera focused there sees it)."""
    scale = depth_at(estimate.inv_depth, box_px) / focus_m
    return replace(estimate, inv_depth=estimate.inv_depth * scale, relative=False)
