"""How the quality checks render a photo: the look of a fast full-frame lens.

Every render is ``render_file(photo, RenderSettings(f_number_text="1.8", crop_factor=1.0,
focal_mm=<the photo's 35 mm equivalent focal length>))``, i.e. ``bokeh render photo.jpg --f 1.8
--crop-factor 1 --focal-length <35 mm equivalent>``, the 35 mm equivalent of
:func:`bokehcli.lens.policy.focal_35mm` (the file's, else 50 mm: a crop factor the lens reader
only assumed does not make a compact's 6 mm lens a 6 mm full-frame lens).

Variants (what else the renderer is told):

- ``default``: nothing; whatever ``render_file`` does by default (depth from the photo's cues,
  focused where the camera focused, else on a face, the most salient region or the centre).
- ``model``: the same with ``depth_source="model"`` (the shipped BokehFlow network's depth).
- ``focus-at``: ``focus_at`` = the labelled subject's centroid (pixel ints, upright frame).
- ``trivial``: a depth map that knows nothing about the scene, in focus at the centre and
  farther towards the edges: ``depth = focus_m * (1 + 2 r)`` with ``r`` the distance from the
  image centre over the half-diagonal (0 at the centre, 1 in the corners), ``focus_m`` the
  camera's focus distance when the file gives a finite one, else 2 m; rendered with ``focus_at``
  the centre pixel so that the centre is in focus even where the camera reported infinity.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..lens import LensMetadata
from ..lens.policy import Sourced, focal_35mm
from ..pipeline import PROVISIONAL_FOCUS_M, RenderResult, RenderSettings, render_file

F_NUMBER_TEXT = "1.8"
VARIANTS = ("default", "model", "focus-at", "trivial")
# depth = focus * (1 + TRIVIAL_EDGE_GAIN * r): the corners three times as far as the centre.
TRIVIAL_EDGE_GAIN = 2.0


def trivial_focus_m(info: LensMetadata) -> float:
    """The camera's focus distance when finite and known, else the pipeline's provisional one."""
    if info.focus_m is not None and math.isfinite(info.focus_m) and not info.focus_infinite:
        return info.focus_m
    return PROVISIONAL_FOCUS_M


def trivial_depth_m(width: int, height: int, focus_m: float) -> np.ndarray:
    """``focus_m * (1 + 2 r)``, r = |pixel centre - image centre| / half-diagonal: float32 (H, W) metres."""
    xs = (np.arange(width, dtype=np.float64) + 0.5) / width - 0.5
    ys = (np.arange(height, dtype=np.float64) + 0.5) / height - 0.5
    # normalised by the frame's own half-diagonal in pixels, so r is round in pixels, not in fractions
    r = np.hypot(xs[None, :] * width, ys[:, None] * height) / math.hypot(width / 2, height / 2)
    return (focus_m * (1.0 + TRIVIAL_EDGE_GAIN * r)).astype(np.float32)


def centre_px(width: int, height: int) -> tuple[int, int]:
    return width // 2, height // 2


def render(photo: Path, out_dir: Path, focal: Sourced, *, depth_m: np.ndarray | None = None,
           focus_at: tuple[int, int] | None = None, save_depth: bool = False,
           depth_source: str = "auto", model: str | None = None) -> RenderResult:
    """One render of ``photo`` into ``out_dir`` (created; outputs there are replaced).

    ``depth_m`` (float32 (H, W) metres, NaN unknown) is handed over as a ``.npy`` file written in
    ``out_dir/given``, as ``--depth`` would; ``save_depth`` writes the depth the render used as
    ``out_dir/<stem>_depth.npy``."""
    depth_path = None
    if depth_m is not None:
        (out_dir / "given").mkdir(parents=True, exist_ok=True)
        depth_path = out_dir / "given" / f"{photo.stem}.npy"
        np.save(depth_path, np.asarray(depth_m, dtype=np.float32), allow_pickle=False)
    settings = RenderSettings(f_number_text=F_NUMBER_TEXT, crop_factor=1.0, focal_mm=focal.value,
                              depth=None if depth_path is None else str(depth_path), focus_at=focus_at,
                              out_dir=out_dir, overwrite=True, save_depth=save_depth, depth_source=depth_source,
                              model=model)
    settings.validate()
    return render_file(photo, settings)


def render_variant(variant: str, photo: Path, out_dir: Path, info: LensMetadata, size_wh: tuple[int, int],
                   subject_xy: tuple[int, int] | None = None, save_depth: bool = False,
                   model: str | None = None) -> RenderResult:
    """``render`` as the variant asks; ``subject_xy`` is needed by ``focus-at``; ``model`` names the
    weights of the ``model`` variant (default: ``bokeh render``'s)."""
    focal = focal_35mm(info)
    if variant == "default":
        return render(photo, out_dir, focal, save_depth=save_depth)
    if variant == "model":
        return render(photo, out_dir, focal, save_depth=save_depth, depth_source="model", model=model)
    if variant == "focus-at":
        if subject_xy is None:
            raise ValueError("the focus-at variant needs the subject's position")
        return render(photo, out_dir, focal, focus_at=subject_xy, save_depth=save_depth)
    if variant == "trivial":
        depth_m = trivial_depth_m(*size_wh, trivial_focus_m(info))
        return render(photo, out_dir, focal, depth_m=depth_m, focus_at=centre_px(*size_wh), save_depth=save_depth)
    raise ValueError(f"unknown variant {variant!r}; expected one of {', '.join(VARIANTS)}")
