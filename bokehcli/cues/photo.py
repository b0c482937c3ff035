"""The cues of one photo from its pixels and its metadata, the same way for ``bokeh render``
and for data sets (``bokeh train`` / ``eval`` of a model that takes cue maps).

Output: :class:`PhotoCueSet`: the photo at cue size, the faces found, the focus target and, when
asked, the combined :class:`~bokehcli.cues.depth.PhotoCues`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..lens.policy import camera_focus_m, focal_35mm
from ..optics import FULL_FRAME_DIAGONAL_MM, pixel_pitch_mm
from ..timing import NO_STAGES
from .depth import PhotoCues, capture_coc_at_infinity_px, photo_cues
from .faces import detect_faces
from .focus import FocusTarget, choose_focus_target, face_disagrees, focus_from_face_m, subject_faces
from .image import Box, CueImage, cue_image
from .saliency import salient_box


@dataclass
class PhotoCueSet:
    image: CueImage
    faces: list[Box]
    target: FocusTarget


def find_focus_target(srgb: np.ndarray, info, focus_at_px: tuple[float, float] | None = None,
                      stages=NO_STAGES) -> PhotoCueSet:
    """``srgb`` (H, W, 3) in [0, 1] or uint8; ``info`` the photo's :class:`~bokehcli.lens.LensMetadata`.
    Order: ``focus_at_px`` > the camera's AF point / subject area > faces > the most salient
    region > the centre (:mod:`.focus`; small faces at the frame's sides are bystanders). Saliency
    runs only when nothing before it answers."""
    with stages("cue: faces"):
        image = cue_image(srgb)
        faces = detect_faces(image)
    salient = None
    if focus_at_px is None and info.focus_area is None and not info.faces and not subject_faces(faces, image.hw):
        with stages("cue: saliency"):
            salient = salient_box(image)
    target = choose_focus_target(image, focus_at_px, af_box_px=info.focus_area, af_source=info.focus_point_source,
                                 metadata_faces_px=info.faces, metadata_faces_source=info.faces_source,
                                 detected_faces=faces, salient=salient)
    return PhotoCueSet(image, faces, target)


def subject_focus_m(info, image: CueImage, face: Box | None) -> float | None:
    """How far the focused subject is, for the cues: the camera's finite focus distance, unless
    the face at the focus target disagrees with it (:func:`.focus.face_disagrees`: the rule
    ``bokeh render`` sets its focus by); then, or when the camera gives none, the face's distance
    (``face`` in cue px, measured with the full-frame equivalent lens of
    :func:`bokehcli.lens.policy.focal_35mm`). None without either."""
    camera_m = camera_focus_m(info)
    face_m = None
    if face is not None:
        height, width = image.hw
        face_m = focus_from_face_m(face[2] - face[0], focal_35mm(info).value,
                                   FULL_FRAME_DIAGONAL_MM / math.hypot(width, height))
    if camera_m and math.isfinite(camera_m) and not face_disagrees(camera_m, face_m):
        return camera_m
    return face_m


def capture_coc_inf_px(info, image: CueImage, focus_m: float | None) -> float | None:
    """Blur (cue px) that a point at infinity had in the photo as taken, focused at ``focus_m``,
    when its EXIF says enough."""
    if not (info.focal_mm and info.f_number and info.sensor_diag_mm and focus_m):
        return None
    height, width = image.hw
    return capture_coc_at_infinity_px(info.focal_mm, info.f_number, focus_m,
                                      pixel_pitch_mm(info.sensor_diag_mm, width, height))


def frame_height_at_focus_m(info, image: CueImage, focus_m: float | None) -> float | None:
    """How tall a slice of the scene the photo shows at ``focus_m``: the frame's diagonal there
    is ``S1 * 43.27 / f35`` (thin lens far from macro magnifications; ``f35`` from
    :func:`bokehcli.lens.policy.focal_35mm`). None without a finite focus distance."""
    if not focus_m or not math.isfinite(focus_m):
        return None
    height, width = image.hw
    return focus_m * FULL_FRAME_DIAGONAL_MM / focal_35mm(info).value * height / math.hypot(width, height)


def cues_of(found: PhotoCueSet, info, stages=NO_STAGES) -> PhotoCues:
    """The combined cues (defocus, subject, layout) around ``found``'s focus target, at the
    subject's distance (:func:`subject_focus_m`)."""
    focus_m = subject_focus_m(info, found.image, found.target.face)
    return photo_cues(found.image, found.target, found.faces, capture_coc_inf_px(info, found.image, focus_m), stages,
                      frame_height_at_focus_m(info, found.image, focus_m))
