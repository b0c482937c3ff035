"""Subject matte: GrabCut (Rother et al. 2004: colour GMMs + graph cut, cut on superpixels:
:mod:`.graphcut`) seeded by the focus target, the faces and the blur already in the photo, with a
soft border that follows the photo's edges.

Seeds (cue pixels):
- sure subject: the focus target's core; for a face, the face and a strip below it (neck, chest);
  faces about as large as the focused one (people at a similar distance) the same way;
- probable subject: an ellipse around the target: for a face, one inscribed in a body box (3.4
  face widths wide, down to the bottom of the frame; an ellipse leaves the box's corners, mostly
  background, to the colour models); otherwise the target grown to ``GROW_FRACTION`` of the frame,
  reaching ``BELOW_TARGET`` of that height further down (the camera focuses on a subject's upper
  part, a fuel tank, a chest, an eye, and the rest of it reaches down to where it stands, as the
  face's body box does), and grown again while the subject found fills a quarter of that
  ellipse's rim (a subject larger than the ellipse: a flower filling the frame); what a wider
  search finds is added to what the narrower one found;
- probable background: everything else, and, where the defocus map is confident, pixels clearly
  more blurred than the target (the camera focused on the subject, not on them; the target's own
  blur read as the depth's defocus cue reads it, :func:`.defocus.sigma_in_px`);
- sure background: a thin band along the top, left and right borders the seeds do not reach.

Output: (h, w) float32 matte in [0, 1]: the GrabCut foreground connected to the sure-subject seeds
(or, where the seeds of a target that is not a face grew by less than their own area, the part
found nearest to them within ``AF_FRAME_REACH_FRACTION``: an AF point just beside the subject),
holes filled, edges softened by a guided filter on the photo (He et al. 2013). Beyond the outline
the matte fades out over ``MARGIN_FRACTION`` of the frame instead of dropping to 0: a segmentation
is least sure at its border, and the two mistakes cost differently there (a strand of hair or a
hand blurred as background ruins the photo; a thin band of background beside the subject kept a
little sharper hardly shows).
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

from .defocus import CLEAR_EDGE_CONFIDENCE, DefocusMap, sigma_in_px
from .focus import FocusTarget
from .graphcut import RegionGraph, grabcut, superpixel_graph
from .image import Box, CueImage, box_centre, clip_box, cue_image

GRABCUT_ITERATIONS = 3
# The graph is cut on a copy with this long side, on its superpixels (:mod:`.graphcut`), and the
# result refined at cue size by the guided filter. Cut on pixels (OpenCV's GrabCut) the search
# took 0.4-2.8 s per photo on the 20 corpus photos of the quality check and 3.4 s on the 24 MP
# bench photo's uniform texture, over the cues' 1.5 s budget; on superpixels 0.3-1.0 s and 0.47 s
# (2026-12-07). Quality check, pixels -> superpixels: subjects kept 23/24 -> 23/24, both 18/24 ->
# 18/24, backgrounds melted 40/45 -> 38/45 (the A40's and A560's mattes take in a sofa and a
# person behind), Motorcycle 43 % -> 46 % of the error removed. Smaller pixel cuts lose subjects
# instead (320 px with 2 iterations: 22/24 kept, 17/24 both; 256 px: 19/24).
SEGMENT_LONG_SIDE_PX = 400
GROW_FRACTION = 0.4          # of the frame's width and height: the probable subject around a target
# ... and half its height more below it. Measured (2026-12-06) against the symmetric region: the 24
# quality photos 18/24 both against 16/24 (the sofa beside a girl no longer in her matte, the
# bike of skimage's Motorcycle found below its seat), held-out layered cards 22.4 % of the gap
# against 17.0 %, varied scenes 16.0 % against 15.7 %. The taller ellipse's rim is also filled
# less often, so the widening search below starts less often (IXUS 750: the father's legs
# now fall outside the matte, subject 0.98 -> 0.82, still kept).
BELOW_TARGET = 0.5
BORDER_FRACTION = 0.02       # sure-background band along the borders
SIMILAR_FACE_RATIO = 0.8     # other faces this large (relative) are about as far away: subjects too
BLURRED_SIGMA_PX = 0.8       # more blur than the target by this much (cue px): probable background
MATTE_RADIUS_FRACTION = 0.008
MARGIN_FRACTION = 0.02       # of the long side
MATTE_EPS = 1e-3
# A subject larger than the ellipse it was looked for in fills the ellipse's rim: when this share
# of the rim is foreground, the ellipse grows by GROWTH and GrabCut runs again (at most
# MAX_GROWTHS times; a flower filling the frame, a bike seen whole).
RIM_SHARE = 0.25
GROWTH = 1.5
MAX_GROWTHS = 2
# A camera reports an AF point, but focuses with a frame around it several times larger than the
# seed drawn there (compact cameras' AF frames are about a tenth of the frame wide), locking on
# the strongest edge inside it. A seed that grows into nothing (it lies on grass between a boy's
# arm and his bike's seat), or by less than its own area (a few pixels of the snow beside a leaf),
# stands for the subject found this near it. 0.05 (half a compact's AF frame) missed the Nikon
# D3100's leaf, 48 cue px (0.075) from its AF point on the snow: the leaf was blurred as snow.
AF_FRAME_REACH_FRACTION = 0.08   # of the long side


def subject_matte(image: CueImage, target: FocusTarget, faces: list[Box], defocus: DefocusMap | None) -> np.ndarray:
    height, width = image.hw
    people = [target.face] if target.face is not None else []
    if people:
        people += [f for f in faces if f is not target.face and _width(f) >= SIMILAR_FACE_RATIO * _width(target.face)]
    region = _grown(target.box, image.hw)
    behind = None if defocus is None else clearly_blurred(defocus, target)   # the same for every search
    graph = _segmentation_graph(image.rgb)                                   # likewise
    foreground = np.zeros(image.hw, bool)
    for attempt in range(MAX_GROWTHS + 1):
        mask = _seed_mask(image, target, people, behind, region)
        seeds = mask == cv2.GC_FGD
        found = _grabcut(graph, mask) if (mask == cv2.GC_PR_BGD).any() or (mask == cv2.GC_BGD).any() else seeds
        # a wider search adds to the subject and never takes back what a narrower one found: its
        # colour models, trained on more background, can lose a part of the subject (a head
        # against a dark background) that the narrower search kept
        subject = _connected_to(found | seeds, seeds)
        if not people and (subject & ~seeds).sum() < seeds.sum():
            subject |= _beside(found & ~seeds, seeds, AF_FRAME_REACH_FRACTION * max(height, width))
        foreground |= _fill_holes(subject)
        # an object larger than the region it was looked for in fills that region's rim: look wider
        if people or attempt == MAX_GROWTHS or _rim_share(foreground, region) < RIM_SHARE:
            break
        region = _scaled(region, GROWTH)
    radius = max(2, int(MATTE_RADIUS_FRACTION * max(height, width)))
    soft = cv2.ximgproc.guidedFilter(image.rgb.astype(np.float32) / 255.0, foreground.astype(np.float32),
                                     radius, MATTE_EPS)
    outside_px = cv2.distanceTransform((~foreground).astype(np.uint8), cv2.DIST_L2, 5)
    margin = np.clip(1.0 - outside_px / (MARGIN_FRACTION * max(height, width)), 0.0, 1.0)
    return np.clip(np.maximum(soft, margin), 0.0, 1.0).astype(np.float32)


def clearly_blurred(defocus: DefocusMap, target: FocusTarget) -> np.ndarray:
    """(h, w) bool: pixels whose blur, read on clear edges, exceeds the target's own (read as the
    depth's defocus cue reads it) by ``BLURRED_SIGMA_PX``: the camera focused on the subject, not on them."""
    target_sigma = sigma_in_px(defocus, target.face or target.box)
    return (defocus.confidence >= CLEAR_EDGE_CONFIDENCE) & (defocus.sigma_px > target_sigma + BLURRED_SIGMA_PX)


def _seed_mask(image: CueImage, target: FocusTarget, people: list[Box], behind: np.ndarray | None,
               region: Box) -> np.ndarray:
    """GrabCut's seed labels; ``behind``: :func:`clearly_blurred`, or None without a defocus map."""
    mask = np.full(image.hw, cv2.GC_PR_BGD, np.uint8)
    for face in people:
        _fill_ellipse(mask, _body_box(face, image.hw), cv2.GC_PR_FGD)
    if not people:
        _fill_ellipse(mask, region, cv2.GC_PR_FGD)
    if behind is not None:
        mask[behind] = cv2.GC_PR_BGD
    _sure_background_border(mask)
    for face in people:
        _fill(mask, _core(face), cv2.GC_FGD)
        fx0, fy0, fx1, fy1 = face
        _fill(mask, (fx0 + 0.3 * _width(face), fy1, fx1 - 0.3 * _width(face), fy1 + 1.2 * (fy1 - fy0)), cv2.GC_FGD)
    _fill(mask, _core(target.box), cv2.GC_FGD)
    return mask


def _beside(found: np.ndarray, seeds: np.ndarray, reach_px: float) -> np.ndarray:
    """The part of ``found`` the focus target was meant to be on, when the target's own seeds grew
    by less than their own area: the nearest connected part within ``reach_px`` of the seeds (as
    large as the seeds at least: not a speck), or nothing."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(found.astype(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros_like(found)
    distance = cv2.distanceTransform((~seeds).astype(np.uint8), cv2.DIST_L2, 5)
    parts = np.arange(1, count)
    nearest_px = np.asarray(ndimage.minimum(distance, labels, parts))     # every part in one pass
    near = parts[(stats[1:, cv2.CC_STAT_AREA] >= seeds.sum()) & (nearest_px <= reach_px)]
    if near.size == 0:
        return np.zeros_like(found)
    distances = nearest_px[near - 1]
    return labels == near[distances == distances.min()][-1]


def _rim_share(foreground: np.ndarray, region: Box) -> float:
    """Share of the region's ellipse outline (inside the frame) that lies on the foreground."""
    rim = np.zeros(foreground.shape, np.uint8)
    _fill_ellipse(rim, region, 1, thickness=2, inset_px=2)     # just inside the ellipse's edge
    on_rim = rim.astype(bool)
    return float(foreground[on_rim].mean()) if on_rim.any() else 0.0


def _scaled(box: Box, factor: float) -> Box:
    """``box`` scaled about its centre (it may reach past the frame: the ellipse is cut there)."""
    cx, cy = box_centre(box)
    half_w, half_h = factor * (box[2] - box[0]) / 2, factor * (box[3] - box[1]) / 2
    return cx - half_w, cy - half_h, cx + half_w, cy + half_h


def _segmentation_graph(rgb: np.ndarray) -> RegionGraph:
    """GrabCut's region graph of a copy of ``rgb`` with long side ``SEGMENT_LONG_SIDE_PX``."""
    return superpixel_graph(cue_image(rgb, SEGMENT_LONG_SIDE_PX).rgb)


def _grabcut(graph: RegionGraph, mask: np.ndarray) -> np.ndarray:
    """GrabCut's foreground (bool, at ``mask``'s size) from a seed ``mask`` of GC_* labels, cut on
    ``graph`` (:func:`_segmentation_graph`)."""
    height, width = mask.shape
    small_height, small_width = graph.regions.shape
    small_mask = cv2.resize(mask, (small_width, small_height), interpolation=cv2.INTER_NEAREST)
    labels = grabcut(graph, small_mask, GRABCUT_ITERATIONS)
    small_fg = ((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)).astype(np.float32)
    return cv2.resize(small_fg, (width, height), interpolation=cv2.INTER_LINEAR) > 0.5


def _width(box: Box) -> float:
    return box[2] - box[0]


def _body_box(face: Box, hw: tuple[int, int]) -> Box:
    """Where a person's head and body can be, from the face: 1.2 face widths either side, half a
    face height above, down to the bottom of the frame."""
    w, h = face[2] - face[0], face[3] - face[1]
    return clip_box((face[0] - 1.2 * w, face[1] - 0.5 * h, face[2] + 1.2 * w, float(hw[0])), hw)


def _grown(box: Box, hw: tuple[int, int]) -> Box:
    """The probable subject's box around a target: ``GROW_FRACTION`` of the frame (or the target,
    if larger), cut at the frame, then ``BELOW_TARGET`` of its height longer at the bottom."""
    height, width = hw
    cx, cy = box_centre(box)
    half_w = max(box[2] - box[0], GROW_FRACTION * width) / 2
    half_h = max(box[3] - box[1], GROW_FRACTION * height) / 2
    x0, y0, x1, y1 = clip_box((cx - half_w, cy - half_h, cx + half_w, cy + half_h), hw)
    return x0, y0, x1, min(float(height), y1 + BELOW_TARGET * (y1 - y0))


def _core(box: Box) -> Box:
    """The inner 60 % of a box."""
    w, h = box[2] - box[0], box[3] - box[1]
    return box[0] + 0.2 * w, box[1] + 0.2 * h, box[2] - 0.2 * w, box[3] - 0.2 * h


def _fill(mask: np.ndarray, box: Box, value: int) -> None:
    height, width = mask.shape
    x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
    x1, y1 = min(width, int(np.ceil(box[2]))), min(height, int(np.ceil(box[3])))
    mask[y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)] = value


def _fill_ellipse(mask: np.ndarray, box: Box, value: int, thickness: int = -1, inset_px: int = 0) -> None:
    """The ellipse inscribed in ``box`` (its semi-axes ``inset_px`` shorter) set to ``value``:
    filled, or (``thickness`` > 0) its outline that many pixels wide."""
    cx, cy = box_centre(box)
    axes = (max(1, int(round((box[2] - box[0]) / 2)) - inset_px), max(1, int(round((box[3] - box[1]) / 2)) - inset_px))
    cv2.ellipse(mask, (int(round(cx)), int(round(cy))), axes, 0.0, 0.0, 360.0, int(value), thickness=thickness)


def _sure_background_border(mask: np.ndarray) -> None:
    """Top, left and right bands become sure background where no subject seed reaches them
    (subjects often stand on the bottom edge)."""
    height, width = mask.shape
    band = max(1, int(BORDER_FRACTION * max(height, width)))
    border = np.zeros_like(mask, dtype=bool)
    border[:band], border[:, :band], border[:, -band:] = True, True, True
    mask[border & (mask == cv2.GC_PR_BGD)] = cv2.GC_BGD


def _connected_to(foreground: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    count, labels = cv2.connectedComponents(foreground.astype(np.uint8), connectivity=8)
    keep = np.zeros(count, bool)
    keep[np.unique(labels[seeds & foreground])] = True
    keep[0] = False
    return keep[labels]


def _fill_holes(region: np.ndarray) -> np.ndarray:
    """``region`` plus every background pocket that does not reach the frame's border."""
    outside = ~region
    count, labels = cv2.connectedComponents(outside.astype(np.uint8), connectivity=4)
    border_labels = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    reaches_border = np.zeros(count, bool)
    reaches_border[border_labels] = True
    return region | (outside & ~reaches_border[labels])
