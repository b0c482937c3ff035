"""Blur already in the photo, from edges (Zhuo & Sim, "Defocus map estimation from a single
image", Pattern Recognition 2011).

Model: an edge blurred by a Gaussian of std ``sigma`` and re-blurred by one of ``sigma0`` has the
gradient-magnitude ratio

    R = |grad I| / |grad (I * g_sigma0)| = sqrt(sigma^2 + sigma0^2) / sigma,
    so   sigma = sigma0 / sqrt(R^2 - 1)

at the edge. The sparse estimates (Canny edges, weighted by edge contrast) are spread over the
image by a domain-transform filter guided by the photo (Gastal & Oliveira 2011, normalised
convolution: ``filter(sigma * w) / filter(w)``), so blur follows object boundaries.

Clipped highlights hide their blur: a light ``R`` times brighter than the sensor's clip rises from
dark to clipped within ``1 / R`` of its blurred edge's ramp, so its edge reads ``R`` times sharper
than the lens drew it, and a far street light looks as if it lay on the focus plane. The depth's
reading of the blur (:mod:`.depth`) therefore leaves out edges within ``CLIPPED_MARGIN_PX`` of a
pixel clipped white (``leave_out=near_clipped(rgb)``); what lies there takes the blur read around it.

Output: :class:`DefocusMap`, per cue pixel the Gaussian-equivalent blur ``sigma_px`` (cue pixels)
and a confidence in [0, 1] (how much edge evidence is near). A disc of diameter ``c`` has the
per-axis std ``c / 4``, so the CoC diameter is ``DISC_DIAMETER_PER_SIGMA * sigma``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .image import Box, CueImage

REBLUR_SIGMA_PX = 2.0
# The 3x3 Sobel derivative of a sampled edge reads as if the edge carried this much more blur
# variance (measured on Gaussian-blurred step edges, sigma 0.5-3 px: 0.51-0.59); it is subtracted.
SAMPLING_VARIANCE_PX2 = 0.55
CANNY_THRESHOLDS = (15.0, 40.0)
MAX_SIGMA_PX = 8.0
DISC_DIAMETER_PER_SIGMA = 4.0
SPREAD_SPATIAL_FRACTION = 0.05   # of the long side
SPREAD_COLOUR_SIGMA = 30.0       # in 8-bit levels: colour edges stop the spreading
CONFIDENCE_HALF_WEIGHT = 0.02    # spread edge weight at which confidence is 1/2
CLEAR_EDGE_CONFIDENCE = 0.5      # confidence from which an estimate counts as read on clear edges
# 8-bit sRGB, every channel: the pixel is clipped white, so its luma (which the edges are read on)
# cannot rise further. One channel clipped (a glossy green leaf's G) bends the luma ramp, but the
# other channels keep rising through it: a mild distortion, and within the margin below such
# pixels can cover a fifth of a sunlit fir's frame (measured on a corpus photo).
CLIPPED_LEVEL = 250
# The re-blurred gradient at an edge pixel integrates about two re-blur sigmas around it, so a
# clipped pixel that close distorts the ratio.
CLIPPED_MARGIN_PX = 2 * REBLUR_SIGMA_PX
FILL_SIGMA_PX = 2 * CLIPPED_MARGIN_PX  # what lies around a clipped light: beyond the reach of its own edges


@dataclass
class DefocusMap:
    sigma_px: np.ndarray     # (h, w) float32
    confidence: np.ndarray   # (h, w) float32 in [0, 1]


def edge_blur(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sparse blur estimates: ``(sigma_px, weight)`` (h, w), weight 0 off the edges."""
    def gradient(x: np.ndarray) -> np.ndarray:
        return np.hypot(cv2.Sobel(x, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(x, cv2.CV_32F, 0, 1, ksize=3))

    grad = gradient(gray)
    grad_reblurred = gradient(cv2.GaussianBlur(gray, (0, 0), REBLUR_SIGMA_PX))
    # Fixed gradient thresholds, not ones scaled by the image's brightness: a soft, strongly
    # blurred edge is weak in gradient however bright the two sides are.
    edges = cv2.Canny(np.clip(gray * 255.0, 0, 255).astype(np.uint8), *CANNY_THRESHOLDS, L2gradient=True) > 0
    ratio = grad / np.maximum(grad_reblurred, 1e-6)
    valid = edges & (grad_reblurred > 1e-3) & (ratio > 1.0 + 1e-3)
    sigma = np.zeros_like(gray)
    sigma_sq = REBLUR_SIGMA_PX ** 2 / (ratio[valid] ** 2 - 1.0) - SAMPLING_VARIANCE_PX2
    sigma[valid] = np.sqrt(np.clip(sigma_sq, 0.0, MAX_SIGMA_PX ** 2))
    weight = np.where(valid, np.minimum(grad / max(float(grad.max()), 1e-6) * 4.0, 1.0), 0.0).astype(np.float32)
    return sigma.astype(np.float32), weight


def clipped_white(rgb: np.ndarray) -> np.ndarray:
    """(h, w) bool: clipped in every channel (``rgb`` uint8)."""
    return rgb.min(axis=2) >= CLIPPED_LEVEL


def near_clipped(rgb: np.ndarray) -> np.ndarray:
    """(h, w) bool: within ``CLIPPED_MARGIN_PX`` of a pixel clipped white."""
    radius = int(round(CLIPPED_MARGIN_PX))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2)
    return cv2.dilate(clipped_white(rgb).astype(np.uint8), disc) > 0


def estimate_defocus(image: CueImage, leave_out: np.ndarray | None = None,
                     edges: tuple[np.ndarray, np.ndarray] | None = None) -> DefocusMap:
    """``leave_out``: (h, w) bool, pixels whose edges are not read (:func:`near_clipped`: next to
    clipped highlights); they take the blur read around them (:func:`_fill_from_around`).
    ``edges``: the image's :func:`edge_blur`, when the caller has it already (one photo, two
    readings of it)."""
    sigma, weight = edge_blur(image.gray) if edges is None else edges
    if leave_out is not None:
        weight = np.where(leave_out, 0.0, weight).astype(np.float32)
    spatial = SPREAD_SPATIAL_FRACTION * max(image.hw)
    spread = [cv2.ximgproc.dtFilter(image.rgb, x, spatial, SPREAD_COLOUR_SIGMA, cv2.ximgproc.DTF_RF)
              for x in (sigma * weight, weight)]
    density = np.maximum(spread[1], 0.0)
    defocus = DefocusMap(np.clip(spread[0] / np.maximum(density, 1e-6), 0.0, MAX_SIGMA_PX).astype(np.float32),
                         (density / (density + CONFIDENCE_HALF_WEIGHT)).astype(np.float32))
    return defocus if leave_out is None or not leave_out.any() else _fill_from_around(defocus, leave_out)


def _fill_from_around(defocus: DefocusMap, holes: np.ndarray) -> DefocusMap:
    """``defocus`` with ``holes`` filled from the pixels around them, by a plain (not edge-aware)
    normalised convolution over ``FILL_SIGMA_PX``: the colour-guided spread cannot reach a light,
    whose colour differs from everything around it. A glint on a sharp leaf then reads the leaf's
    blur, a far street light the blur of the wall behind it; the confidence is the share of
    confident pixels around, so the inside of a large blown-out area stays unknown."""
    known = np.where(holes, 0.0, defocus.confidence).astype(np.float32)
    around = cv2.GaussianBlur(known, (0, 0), FILL_SIGMA_PX)
    sigma_around = cv2.GaussianBlur(known * defocus.sigma_px, (0, 0), FILL_SIGMA_PX) / np.maximum(around, 1e-6)
    return DefocusMap(np.where(holes, np.clip(sigma_around, 0.0, MAX_SIGMA_PX), defocus.sigma_px).astype(np.float32),
                      np.where(holes, around, defocus.confidence).astype(np.float32))


def sigma_in_px(defocus: DefocusMap, window: Box) -> float:
    """The blur a region itself shows: the median ``sigma_px`` over ``window`` (cue px) where the
    edge evidence is good (confidence >= ``CLEAR_EDGE_CONFIDENCE``), else over all of it. Smooth
    skin and flat patches give large, unreliable estimates; counting them would make the focused
    subject look blurred, and whatever is sharper than that, a far background included, look in focus."""
    x0, y0, x1, y1 = (int(round(v)) for v in window)
    patch = (slice(max(y0, 0), max(y1, y0 + 1)), slice(max(x0, 0), max(x1, x0 + 1)))
    sigma, clear = defocus.sigma_px[patch], defocus.confidence[patch] >= CLEAR_EDGE_CONFIDENCE
    if not sigma.size:
        return 0.0
    return float(np.median(sigma[clear] if clear.any() else sigma))
