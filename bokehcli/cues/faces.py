"""Face boxes from the Viola-Jones cascades that ship inside OpenCV's wheel (offline, no weights
to fetch).

Output: face boxes ``(x0, y0, x1, y1)`` in cue pixels, largest first. Frontal and profile
cascades (the profile one also on the mirrored image) are run; a frontal box wins over an
overlapping profile one (its box is the tighter fit), else the larger box wins. A cascade also fires on face-like texture (leaves, patterns), so a box must hold a
plausible share of skin-coloured pixels (the YCrCb skin cluster of Chai & Ngan 1999) unless the
photo has no colour to judge by.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from .image import Box, CueImage

# (cascade, scale step between detection window sizes, whether it also runs on the mirror image).
# OpenCV's profile cascade finds faces turned one way only, so it runs twice (the photo and its
# mirror image) and is the slower one; it takes coarser steps: on the 151 corpus photos the face
# stage fell from 69.5 s to 48.4 s (one thread), no face was lost or gained, and 5 boxes moved by
# at most 10 px (2026-12-07). The frontal cascade at the coarser step lost three faces and moved
# ten more boxes.
CASCADES = (("haarcascade_frontalface_alt2.xml", 1.1, False), ("haarcascade_profileface.xml", 1.2, True))
MIN_FACE_FRACTION = 0.04    # of the short side: smaller faces are not subjects worth focusing on
MIN_NEIGHBOURS = 5
MIN_SKIN_SHARE = 0.2
GREYSCALE_CHROMA = 4.0      # mean |Cr - 128| + |Cb - 128| below this: no colour to judge skin by
_SKIN_CR, _SKIN_CB = (133, 173), (77, 127)


@functools.lru_cache(maxsize=None)
def _cascade(name: str) -> cv2.CascadeClassifier:
    return cv2.CascadeClassifier(cv2.data.haarcascades + name)


def detect_faces(image: CueImage) -> list[Box]:
    gray = cv2.equalizeHist(cv2.cvtColor(image.rgb, cv2.COLOR_RGB2GRAY))
    height, width = gray.shape
    min_px = max(12, int(MIN_FACE_FRACTION * min(height, width)))
    boxes: list[tuple[int, Box]] = []     # (cascade rank, box)
    for rank, (name, scale_step, also_mirrored) in enumerate(CASCADES):
        for mirrored in ((False, True) if also_mirrored else (False,)):
            found = _cascade(name).detectMultiScale(gray[:, ::-1] if mirrored else gray, scaleFactor=scale_step,
                                                    minNeighbors=MIN_NEIGHBOURS, minSize=(min_px, min_px))
            for x, y, w, h in (found if len(found) else []):
                x0 = width - x - w if mirrored else x
                boxes.append((rank, (float(x0), float(y), float(x0 + w), float(y + h))))
    ycrcb = cv2.cvtColor(image.rgb, cv2.COLOR_RGB2YCrCb).astype(np.float32)
    colourless = float(np.abs(ycrcb[..., 1:] - 128.0).sum(axis=-1).mean()) < GREYSCALE_CHROMA
    kept: list[Box] = []
    for _, box in sorted(boxes, key=lambda ranked: (ranked[0], -_area(ranked[1]))):
        if any(_overlap(box, other) > 0.3 for other in kept):
            continue
        if colourless or _skin_share(ycrcb, box) >= MIN_SKIN_SHARE:
            kept.append(box)
    return sorted(kept, key=_area, reverse=True)


def _area(box: Box) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def _overlap(a: Box, b: Box) -> float:
    """Intersection over the smaller box's area."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return 0.0 if w <= 0 or h <= 0 else w * h / max(min(_area(a), _area(b)), 1e-9)


def _skin_share(ycrcb: np.ndarray, box: Box) -> float:
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    patch = ycrcb[y0:y1, x0:x1]
    if patch.size == 0:
        return 0.0
    cr, cb = patch[..., 1], patch[..., 2]
    skin = (cr >= _SKIN_CR[0]) & (cr <= _SKIN_CR[1]) & (cb >= _SKIN_CB[0]) & (cb <= _SKIN_CB[1])
    return float(skin.mean())
