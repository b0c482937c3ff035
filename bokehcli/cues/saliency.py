"""The most salient region: spectral-residual saliency (Hou & Zhang 2007, OpenCV contrib),
weighted by a centre prior (photographers frame subjects towards the middle).

Output: the bounding box (cue pixels) of the connected region that carries the most weighted
saliency, or ``None`` when the map is flat.
"""

from __future__ import annotations

import cv2
import numpy as np

from .image import Box, CueImage

CENTRE_PRIOR_SIGMA = 0.3     # of the image size
REGION_THRESHOLD = 0.5       # of the weighted map's maximum
MIN_REGION_FRACTION = 0.002  # of the image area


def salient_box(image: CueImage) -> Box | None:
    ok, saliency = cv2.saliency.StaticSaliencySpectralResidual_create().computeSaliency(image.rgb)
    if not ok:
        return None
    height, width = image.hw
    saliency = cv2.GaussianBlur(saliency.astype(np.float32), (0, 0), 0.02 * max(height, width))
    ys = (np.arange(height, dtype=np.float32) + 0.5) / height - 0.5
    xs = (np.arange(width, dtype=np.float32) + 0.5) / width - 0.5
    prior = np.exp(-(ys[:, None] ** 2 + xs[None, :] ** 2) / (2 * CENTRE_PRIOR_SIGMA ** 2))
    weighted = saliency * prior
    peak = float(weighted.max())
    if not peak > 0:
        return None
    count, labels, stats, _ = cv2.connectedComponentsWithStats((weighted >= REGION_THRESHOLD * peak).astype(np.uint8))
    mass = np.bincount(labels.ravel(), weights=weighted.ravel(), minlength=count)
    mass[0] = 0.0
    best = int(mass.argmax())
    x, y, w, h, area = stats[best]
    if area < MIN_REGION_FRACTION * height * width:
        return None
    return float(x), float(y), float(x + w), float(y + h)
