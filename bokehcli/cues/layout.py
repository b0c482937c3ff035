"""Scene layout prior: sky at infinity and a ground plane rising towards the horizon.

Relative inverse depth ``b = S1 / D`` (1 on the focus plane, 0 at infinity, > 1 in front):

- ground plane: for a level camera, inverse depth on the ground is proportional to the image
  row's distance below the horizon, ``b(y) = (y - y_h) / (y_c - y_h)``, with ``y_c`` the row
  where the subject meets the ground (its matte's lowest row; the frame's bottom when the subject
  runs out of it) and ``y_h`` the horizon, taken at the subject's top (the camera at about the
  subject's height) and kept between ``HORIZON_RANGE`` of the frame;
- background: nothing is read as farther away than ``BACKGROUND_B`` (4 focus distances) except
  the sky: the renderer's blur of a background already saturates there;
- sky: smooth, bright regions connected to the top border, outside the subject: ``b = 0``.

Output: ``(b, sky)``: (h, w) float32 and bool.
"""

from __future__ import annotations

import cv2
import numpy as np

BACKGROUND_B = 0.25
MAX_FRONT_B = 3.0
HORIZON_RANGE = (0.15, 0.6)     # of the frame's height, from the top
SKY_MAX_GRADIENT = 0.02         # mean |grad Y| per pixel in a small window
SKY_MIN_VALUE = 0.35            # HSV value


def sky_mask(rgb: np.ndarray, matte: np.ndarray) -> np.ndarray:
    height, width = matte.shape
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    grad = np.hypot(cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1)) / 8.0
    texture = cv2.blur(grad, (max(3, width // 80) | 1,) * 2)
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV).astype(np.float32)
    blue = (hsv[..., 0] >= 90) & (hsv[..., 0] <= 130)          # OpenCV hue is 0..180
    grey = hsv[..., 1] < 0.25 * 255
    candidate = (texture < SKY_MAX_GRADIENT) & (hsv[..., 2] >= SKY_MIN_VALUE * 255) & (blue | grey) & (matte < 0.5)
    count, labels = cv2.connectedComponents(candidate.astype(np.uint8), connectivity=4)
    top = np.zeros(count, bool)
    top[np.unique(labels[0])] = True
    top[0] = False
    return top[labels]


def layout_prior(matte: np.ndarray, sky: np.ndarray) -> np.ndarray:
    height, width = matte.shape
    rows = np.nonzero((matte > 0.5).any(axis=1))[0]
    top, contact = (int(rows[0]), int(rows[-1])) if rows.size else (height // 2, height - 1)
    contact = max(contact, int(HORIZON_RANGE[1] * height) + 1)
    horizon = float(np.clip(top, HORIZON_RANGE[0] * height, min(HORIZON_RANGE[1] * height, contact - 1)))
    y = np.arange(height, dtype=np.float32) + 0.5
    ground = np.clip((y - horizon) / max(contact + 0.5 - horizon, 1.0), BACKGROUND_B, MAX_FRONT_B)
    b = np.repeat(ground[:, None], width, axis=1).astype(np.float32)
    b[sky] = 0.0
    return b
