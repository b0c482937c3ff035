"""Scene layout: sky at infinity, a ground plane, and a subject standing on it.

Relative inverse depth ``b = S1 / D`` (1 on the focus plane, 0 at infinity, > 1 in front). A
plane's inverse depth is linear in image coordinates, so the ground's (a camera without roll)
grows in proportion to the image row's distance below the horizon ``y_h``:

    b_ground(y) = (y - y_h) / (y_t - y_h)

where ``y_t`` is the row where the subject meets the ground below the focus target (so the ground
there is in focus). The subject's contact with the ground is the longest edge of the lower convex
hull of its matte (both wheels of a bike): a line ``y_c(x)``; each column of the subject
stands on the ground at its own contact row, ``b_subject(x) = b_ground(y_c(x))`` (the "pop-up"
model: a slanted subject gets the depth gradient its ground line implies, down to
``MIN_SUBJECT_B``: the subject is what the camera focused on, and a bike 2.3 m away and 0.5 m deep
spans only b = 0.82 to 1). An edge shorter than ``CONTACT_MIN_SPAN`` of the subject's width is
not a contact at both ends but where an outline comes to a point (feet together, knees, a torso
cut off by a hedge): the subject then stands level at its lowest row.

The horizon is taken at the frame's middle row (a level camera), at least ``MIN_HORIZON_GAP`` of
the frame above the contact, unless that would put the camera lower than ``MIN_CAMERA_HEIGHT_M``.
A camera at height ``h`` sees the ground at distance ``D`` ``f_px h / D`` rows below the horizon
(level; pitched by ``t``, ``f_px h / (D cos t)``: 4 % more at 16 degrees); at the contact
(distance ``S1``) that is ``H h / F`` rows, with ``F`` the frame's height at the focus distance
(m) and ``H`` its height in rows. So

    y_h <= y_t - H * MIN_CAMERA_HEIGHT_M / F

and a subject close to a camera held at eye height puts the horizon above the middle row, often
above the frame: the camera looks down on it (a bike on a garage floor), the ground behind it
recedes slowly, and what stands on that ground (a wall, shelves) is nearer than ``BACKGROUND_B``.
That horizon is a bound (a higher camera puts it higher still), so no sky is read below it.

A subject that runs out of the bottom of the frame shows no ground, nor does a close-up (the frame
shows less than ``CLOSE_UP_FRAME_M`` of the scene at the focus distance: a face, a flower, a
page); then the subject is one plane and the background a constant ``BACKGROUND_B``.

Nothing but the sky is read as farther than ``BACKGROUND_B`` (4 focus distances, where the
renderer's blur of a background is already strong). The ground below the contact is nearer than
the focus plane, as a ground plane is: its ramp runs on past 1, up to ``MAX_GROUND_B`` (half the
focus distance), so a fast lens blurs the ground in front of the subject as well as behind it.
The subject itself is never put in front (``MAX_FRONT_B``): what the camera focused on is at the
focus plane or behind it, and a part of the subject below its outline (wheels a segmentation
missed) is read as the ground at its own row, only a little nearer.
Sky: smooth, blue or near-white regions connected to the top border, outside the subject.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

BACKGROUND_B = 0.25
MAX_FRONT_B = 1.0
MAX_GROUND_B = 2.0             # the nearest ground read: half the focus distance
MIN_SUBJECT_B = 0.8            # the pop-up slope fades the subject at most this far from the focus plane
# A frame less tall than this at the focus distance is a close-up (a face, a flower, a book):
# what fills its bottom is the subject or lies beside it, not ground running up to it.
CLOSE_UP_FRAME_M = 0.5
HORIZON_ROW = 0.5               # of the frame's height, from the top
MIN_HORIZON_GAP = 0.1           # of the frame's height
# A photographer standing holds the camera at about 1.5 m, on a tripod or crouching at about 1 m;
# lower viewpoints (a pet's eye level) are the exception.
MIN_CAMERA_HEIGHT_M = 1.0
BOTTOM_TOUCH_SHARE = 0.3        # of the subject's width touching the bottom row: no ground visible
CONTACT_MIN_SPAN = 0.5          # of the subject's width: the shortest contact edge that sets a slope
SKY_MAX_GRADIENT = 0.02         # mean |grad Y| per pixel in a small window
SKY_MIN_VALUE = 0.35            # HSV value of a blue sky
SKY_MIN_WHITE_VALUE = 0.85      # HSV value of an overcast one


@dataclass(frozen=True)
class Layout:
    background: np.ndarray      # (h, w) b of everything but the subject (ground, background, sky), <= MAX_GROUND_B
    subject: np.ndarray         # (h, w) b the subject has where it stands (1 under the focus target)
    sky: np.ndarray             # (h, w) bool, the sky the layout kept (none below a bounding horizon)


def ground_in_view(frame_height_m: float | None) -> bool:
    """Whether the ground the subject stands on can be in the frame: not in a close-up, where the
    frame shows less than ``CLOSE_UP_FRAME_M`` of the scene at the focus distance (unknown: yes)."""
    return frame_height_m is None or frame_height_m >= CLOSE_UP_FRAME_M


def sky_mask(rgb: np.ndarray, matte: np.ndarray) -> np.ndarray:
    height, width = matte.shape
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    grad = np.hypot(cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1)) / 8.0
    texture = cv2.blur(grad, (max(3, width // 80) | 1,) * 2)
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV).astype(np.float32)
    blue = (hsv[..., 0] >= 90) & (hsv[..., 0] <= 130) & (hsv[..., 2] >= SKY_MIN_VALUE * 255)  # hue is 0..180
    # overcast sky is near white; a grey wall indoors is rarely as bright
    white = (hsv[..., 1] < 0.2 * 255) & (hsv[..., 2] >= SKY_MIN_WHITE_VALUE * 255)
    candidate = (texture < SKY_MAX_GRADIENT) & (blue | white) & (matte < 0.5)
    count, labels = cv2.connectedComponents(candidate.astype(np.uint8), connectivity=4)
    top = np.zeros(count, bool)
    top[np.unique(labels[0])] = True
    top[0] = False
    return top[labels]


def contact_line(matte: np.ndarray) -> tuple[float, float] | None:
    """``(slope, intercept)`` of the subject's ground contact ``y = slope * x + intercept``, or None
    when the subject shows no ground (no subject, or it runs out of the frame's bottom)."""
    height, _ = matte.shape
    inside = matte > 0.5
    columns = np.nonzero(inside.any(axis=0))[0]
    if columns.size < 2:
        return None
    bottoms = height - 1 - np.argmax(inside[::-1, columns], axis=0)
    if np.mean(bottoms >= height - 2) > BOTTOM_TOUCH_SHARE:
        return None
    hull = _lower_hull(columns.astype(np.float64), bottoms.astype(np.float64))
    (x0, y0), (x1, y1) = max(zip(hull, hull[1:]), key=lambda seg: seg[1][0] - seg[0][0])
    if x1 - x0 < CONTACT_MIN_SPAN * (columns[-1] - columns[0] + 1):     # not both ends: level, at the lowest point
        return 0.0, float(bottoms.max())
    slope = (y1 - y0) / (x1 - x0)
    return slope, y0 - slope * x0


def _lower_hull(xs: np.ndarray, ys: np.ndarray) -> list[tuple[float, float]]:
    """The hull chain along the largest image rows (the bottom of the shape), left to right
    (Andrew's monotone chain; ``xs`` ascending)."""
    chain: list[tuple[float, float]] = []
    for point in zip(xs, ys):
        while len(chain) >= 2:
            (ax, ay), (bx, by) = chain[-2], chain[-1]
            # keep only turns that bulge downwards in the image (towards larger y)
            if (bx - ax) * (point[1] - ay) - (by - ay) * (point[0] - ax) >= 0:
                chain.pop()
            else:
                break
        chain.append((float(point[0]), float(point[1])))
    return chain


def horizon_row(target_row: float, height: int, frame_height_m: float | None) -> tuple[float, bool]:
    """The horizon's row (negative: above the frame) for a subject meeting the ground at
    ``target_row``, and whether the camera-height bound set it (then the true horizon lies at or
    above it); ``frame_height_m`` as :func:`layout_prior` takes it."""
    level = min(HORIZON_ROW * height, target_row - MIN_HORIZON_GAP * height)
    if frame_height_m is None:
        return level, False
    lowest_camera = target_row - height * MIN_CAMERA_HEIGHT_M / frame_height_m
    return min(level, lowest_camera), lowest_camera < level


def layout_prior(matte: np.ndarray, sky: np.ndarray, target_x: float, frame_height_m: float | None = None) -> Layout:
    """``frame_height_m``: how tall a slice of the scene the frame shows at the focus distance, or
    None when unknown (a level camera, ground in view). A close-up (:func:`ground_in_view` False)
    has no ground plane: the subject is one plane and the background a constant."""
    height, width = matte.shape
    line = contact_line(matte) if ground_in_view(frame_height_m) else None
    if line is None:
        background = np.full((height, width), BACKGROUND_B, np.float32)
        subject = np.ones((height, width), np.float32)
    else:
        slope, intercept = line
        target_row = slope * target_x + intercept
        horizon, bound = horizon_row(target_row, height, frame_height_m)
        if bound:
            sky = sky & (np.arange(height)[:, None] < horizon)
        rows = np.arange(height, dtype=np.float32) + 0.5
        ground = (rows - horizon) / (target_row + 0.5 - horizon)
        background = np.repeat(np.clip(ground, BACKGROUND_B, MAX_GROUND_B)[:, None], width, axis=1)
        contact_rows = slope * np.arange(width, dtype=np.float32) + intercept + 0.5
        subject_row = np.clip((contact_rows - horizon) / (target_row + 0.5 - horizon), MIN_SUBJECT_B, MAX_FRONT_B)
        subject = np.repeat(subject_row[None, :], height, axis=0)
    background = background.astype(np.float32)
    background[sky] = 0.0
    return Layout(background, subject.astype(np.float32), sky)
