"""Where the render focuses, in order: ``--focus-at`` > the camera's AF point / subject area >
faces (metadata, then detected) > the most salient region > the centre.

A detected face is a focus target only where a photographer would have put a subject: a small
face (under ``SUBJECT_FACE_FRACTION`` of the short side) whose centre lies in the outer
``EDGE_FRACTION`` of the frame's width is a bystander at its side (a couple posing behind a
street performer), not what the photo is of; the salient region is then looked for instead. Only
the sides: a standing person seen whole has a small face near the top. Faces the camera itself
reported are trusted wherever they are.

Output: a :class:`FocusTarget`, the area (cue pixels) whose depth becomes the focus plane, its
source, and the face it lies on if any (a face seeds the subject's body for segmentation).
"""

from __future__ import annotations

from dataclasses import dataclass

from .image import Box, CueImage, box_centre, clip_box

POINT_RADIUS_FRACTION = 0.015   # of the long side: the area around a bare point
CENTRE_FRACTION = 0.1           # the centre target's size, of the image size
MAX_TARGET_FRACTION = 0.35      # a larger salient region is cut to its central part
SUBJECT_FACE_FRACTION = 0.1     # of the short side: a face this large is a subject wherever it is
EDGE_FRACTION = 0.2             # of the width: the frame's outer band on either side


@dataclass(frozen=True)
class FocusTarget:
    box: Box
    source: str
    face: Box | None = None

    @property
    def xy(self) -> tuple[float, float]:
        return box_centre(self.box)


def choose_focus_target(image: CueImage, focus_at_px: tuple[float, float] | None = None,
                        af_box_px: Box | None = None, af_source: str | None = None,
                        metadata_faces_px: list[Box] = (), metadata_faces_source: str | None = None,
                        detected_faces: list[Box] = (), salient: Box | None = None) -> FocusTarget:
    """Photo-pixel inputs (``*_px``) are converted to cue pixels; ``detected_faces`` and
    ``salient`` are already in cue pixels (see :mod:`.faces`, :mod:`.saliency`)."""
    faces = [image.to_cue(b) for b in metadata_faces_px] + list(detected_faces)
    if focus_at_px is not None:
        return _at_point(image, image.to_cue((*focus_at_px, *focus_at_px))[:2], "focus-at", faces)
    height, width = image.hw
    if af_box_px is not None:
        box = image.to_cue(af_box_px)
        if (box[2] - box[0]) * (box[3] - box[1]) < (2 * POINT_RADIUS_FRACTION * max(image.hw)) ** 2:
            return _at_point(image, box_centre(box), af_source or "camera AF point", faces)
        # several AF points spread over the frame: their middle part, not the whole span
        box = _shrink(clip_box(box, image.hw), MAX_TARGET_FRACTION * width, MAX_TARGET_FRACTION * height)
        face = _face_at(box_centre(box), faces)
        # a wide AF area around a face focused on the face; the rest of the area may be background
        return FocusTarget(box if face is None else clip_box(face, image.hw), af_source or "camera AF area", face)
    if metadata_faces_px:
        face = max(faces[:len(metadata_faces_px)], key=_area)
        return FocusTarget(clip_box(face, image.hw), metadata_faces_source or "face (metadata)", face)
    candidates = subject_faces(detected_faces, image.hw)
    if candidates:
        face = max(candidates, key=_area)
        return FocusTarget(clip_box(face, image.hw), "face (detected)", face)
    if salient is not None:
        return FocusTarget(_shrink(clip_box(salient, image.hw), MAX_TARGET_FRACTION * width,
                                   MAX_TARGET_FRACTION * height), "salient region")
    half_w, half_h = CENTRE_FRACTION * width / 2, CENTRE_FRACTION * height / 2
    return FocusTarget((width / 2 - half_w, height / 2 - half_h, width / 2 + half_w, height / 2 + half_h), "centre")


def subject_faces(faces: list[Box], hw: tuple[int, int]) -> list[Box]:
    """The detected faces that can be the photo's subject: not small faces near the frame's sides."""
    height, width = hw

    def inside(face: Box) -> bool:
        return EDGE_FRACTION * width <= box_centre(face)[0] <= (1 - EDGE_FRACTION) * width

    return [f for f in faces if f[2] - f[0] >= SUBJECT_FACE_FRACTION * min(height, width) or inside(f)]


def _at_point(image: CueImage, xy: tuple[float, float], source: str, faces: list[Box]) -> FocusTarget:
    r = max(1.0, POINT_RADIUS_FRACTION * max(image.hw))
    return FocusTarget(clip_box((xy[0] - r, xy[1] - r, xy[0] + r, xy[1] + r), image.hw), source, _face_at(xy, faces))


def _face_at(xy: tuple[float, float], faces: list[Box]) -> Box | None:
    """The face whose box, enlarged by half its size, holds ``xy`` (AF points often sit on an eye
    or just beside the face)."""
    for face in sorted(faces, key=_area, reverse=True):
        w, h = face[2] - face[0], face[3] - face[1]
        if face[0] - w / 2 <= xy[0] <= face[2] + w / 2 and face[1] - h / 2 <= xy[1] <= face[3] + h / 2:
            return face
    return None


def _shrink(box: Box, max_w: float, max_h: float) -> Box:
    cx, cy = box_centre(box)
    half_w, half_h = min(box[2] - box[0], max_w) / 2, min(box[3] - box[1], max_h) / 2
    return cx - half_w, cy - half_h, cx + half_w, cy + half_h


def _area(box: Box) -> float:
    return (box[2] - box[0]) * (box[3] - box[1])


# Width of the box a frontal-face cascade draws around an adult face (about cheek to cheek; the
# bizygomatic breadth itself averages ~0.14 m).
FACE_BOX_WIDTH_M = 0.16


# A face measures its own distance to within adult/child face sizes; compacts record coarse,
# sometimes wild focus distances (0.5 m for people 3 m away, 11 m for a face 1 m away).
FACE_DISAGREEMENT = 2.0


def face_disagrees(camera_m: float, face_m: float | None) -> bool:
    """Whether the face the focus is on puts the subject more than ``FACE_DISAGREEMENT`` times
    nearer or farther than the camera's focus distance says (then the face is believed)."""
    return face_m is not None and not 1 / FACE_DISAGREEMENT <= camera_m / face_m <= FACE_DISAGREEMENT


def focus_from_face_m(face_width_px: float, focal_mm: float, pixel_pitch_mm: float) -> float:
    """Distance (m) of a face from its width in the photo, by the thin lens: magnification
    ``m = image size / object size``, object distance ``S1 = f (1 + 1/m)``."""
    magnification = face_width_px * pixel_pitch_mm / (FACE_BOX_WIDTH_M * 1000.0)
    return focal_mm * (1.0 + 1.0 / magnification) / 1000.0
