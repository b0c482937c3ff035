"""The photo's cues combined into relative inverse depth ``b = S1 / D`` (1 on the focus plane).

    b = m * b_subject + (1 - m) * b_background,    b_background = w * b_defocus + (1 - w) * b_layout

- ``m``: the subject matte (:mod:`.subject`); ``b_subject`` is 1 (the focus plane) under the
  focus target and follows the subject's contact with the ground elsewhere (:mod:`.layout`);
- ``b_layout``: sky and ground plane (:mod:`.layout`);
- ``b_defocus``: the blur already in the photo read through the capture's own thin lens. A point at
  ``b`` is imaged with a CoC of ``c(b) = c_inf * (1 - b)`` behind the focus plane, where ``c_inf =
  A f / (S1 - f)`` (over the pixel pitch) is the CoC of a point at infinity; so
  ``b_defocus = 1 - c / c_inf`` with ``c = 4 sqrt(sigma^2 - sigma_target^2)`` (:mod:`.defocus`;
  blur the target itself shows, from the lens and processing, is not depth).
  Blur is read as lying behind the focus plane (the camera focused on the subject: what is
  blurred is mostly behind it), except on the ground the layout puts in front of the subject's
  contact (``b_layout > 1``): there the same CoC is read in front, ``b_defocus = 1 + c / c_inf``
  (the focus point resolves the thin lens's front/back ambiguity). This reading leaves out edges
  at clipped highlights, whose blur clipping hides (:mod:`.defocus`): a far light read as sharp
  would be pulled onto the focus plane. The subject matte's map keeps them: it only marks what is
  clearly *more* blurred than the subject, which a hidden blur can withhold but never fake;
- ``w``: the defocus confidence times how measurable blur could be in this photo at all:
  0 when ``c_inf`` is under ``MEASURABLE_COC_PX`` (phones, compacts, small apertures: everything
  is sharp whatever its depth, so sharpness says nothing), 1 from ``MEASURABLE_COC_PX + 4``.

Output: :class:`PhotoCues` with every intermediate map at cue size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..timing import NO_STAGES
from .defocus import DISC_DIAMETER_PER_SIGMA, DefocusMap, edge_blur, estimate_defocus, near_clipped, sigma_in_px
from .focus import FocusTarget
from .image import Box, CueImage
from .layout import MAX_GROUND_B, layout_prior, sky_mask
from .subject import subject_matte

MEASURABLE_COC_PX = 1.0
MIN_B = 1e-3     # 1000 focus distances: "infinity" for the renderer, finite for depth files


@dataclass
class PhotoCues:
    target: FocusTarget
    faces: list[Box]
    matte: np.ndarray            # (h, w) float32 [0, 1]
    defocus: DefocusMap
    sky: np.ndarray              # (h, w) bool
    layout_inv_depth: np.ndarray    # (h, w) float32, S1 / D of sky and ground (:mod:`.layout`)
    relative_inv_depth: np.ndarray  # (h, w) float32, S1 / D


def capture_coc_at_infinity_px(focal_mm: float, f_number: float, focus_m: float, pixel_pitch_mm: float) -> float:
    """CoC diameter (px) of a point at infinity for the lens that took the photo (thin lens)."""
    focus_mm = focus_m * 1000.0
    if not focus_mm > focal_mm:
        return 0.0
    return (focal_mm / f_number) * focal_mm / (focus_mm - focal_mm) / pixel_pitch_mm


def photo_cues(image: CueImage, target: FocusTarget, faces: list[Box],
               capture_coc_inf_px: float | None, stages=NO_STAGES, frame_height_m: float | None = None) -> PhotoCues:
    """``capture_coc_inf_px``: :func:`capture_coc_at_infinity_px` at cue size, or None when the
    photo does not say how it was taken; ``frame_height_m``: how tall a slice of the scene the frame
    shows at the focus distance, or None (:func:`.layout.layout_prior`). ``stages`` times the
    defocus, subject and layout cues."""
    with stages("cue: defocus"):
        edges = edge_blur(image.gray)
        defocus = estimate_defocus(image, edges=edges)
    with stages("cue: subject"):
        matte = subject_matte(image, target, faces, defocus)
    with stages("cue: layout"):
        layout = layout_prior(matte, sky_mask(image.rgb, matte), target.xy[0], frame_height_m)
        b_background = layout.background
    if capture_coc_inf_px is not None and capture_coc_inf_px > MEASURABLE_COC_PX:
        with stages("cue: defocus"):
            near = near_clipped(image.rgb)
            # the matte's map itself where nothing is clipped: leaving out no edge changes nothing
            read = estimate_defocus(image, leave_out=near, edges=edges) if near.any() else defocus
        target_sigma = sigma_in_px(read, target.face or target.box)
        # blur adds in quadrature: what the target itself shows (lens, processing) is not depth
        excess = np.sqrt(np.maximum(read.sigma_px ** 2 - target_sigma ** 2, 0.0))
        coc_px = DISC_DIAMETER_PER_SIGMA * excess
        in_front = layout.background > 1.0
        b_defocus = np.where(in_front, np.minimum(1.0 + coc_px / capture_coc_inf_px, MAX_GROUND_B),
                             np.clip(1.0 - coc_px / capture_coc_inf_px, 0.0, 1.0))
        measurable = min(1.0, (capture_coc_inf_px - MEASURABLE_COC_PX) / 4.0)
        w = read.confidence * measurable
        b_background = np.where(layout.sky, b_background, w * b_defocus + (1.0 - w) * b_background)
    b = matte * layout.subject + (1.0 - matte) * b_background
    return PhotoCues(target, faces, matte, defocus, layout.sky, layout.background,
                     np.clip(b, MIN_B, MAX_GROUND_B).astype(np.float32))
