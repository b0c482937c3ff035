"""Cues from the photo itself: each against a case whose answer is known independently."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from bokehcli.cues.defocus import (DISC_DIAMETER_PER_SIGMA, DefocusMap, edge_blur, estimate_defocus, near_clipped,
                                   sigma_in_px)
from bokehcli.cues.depth import capture_coc_at_infinity_px, photo_cues
from bokehcli.cues.faces import detect_faces
from bokehcli.cues.focus import FocusTarget, choose_focus_target, focus_from_face_m, subject_faces
from bokehcli.cues.image import cue_image
from bokehcli.cues import photo, subject
from bokehcli.cues.layout import (BACKGROUND_B, CLOSE_UP_FRAME_M, CONTACT_MIN_SPAN, MAX_GROUND_B, MIN_CAMERA_HEIGHT_M,
                                  MIN_SUBJECT_B, contact_line, ground_in_view, horizon_row, layout_prior, sky_mask)
from bokehcli.cues.photo import frame_height_at_focus_m, subject_focus_m
from bokehcli.cues.subject import subject_matte
from bokehcli.lens import LensMetadata
from bokehcli.depth_sources import DepthEstimate, anchor, depth_at
from bokehcli.optics import Lens, pixel_pitch_mm
from photos import disc_scene


def step_edges(sigma_px: float, seed: int = 0) -> np.ndarray:
    """Vertical step edges of contrast 0.6 blurred by a Gaussian of ``sigma_px``, faint noise."""
    img = np.full((64, 256), 0.2, np.float32)
    img[:, 64:128] = img[:, 192:] = 0.8
    noise = np.random.default_rng(seed).normal(0, 0.003, img.shape).astype(np.float32)
    return cv2.GaussianBlur(img, (0, 0), sigma_px) + noise if sigma_px > 0 else img + noise


@pytest.mark.parametrize("sigma_px", [0.5, 1.0, 1.5, 2.0, 3.0])
def test_edge_blur_recovers_the_gaussian_blur_of_an_edge(sigma_px):
    sigma, weight = edge_blur(step_edges(sigma_px))
    estimate = float(np.median(sigma[weight > 0.1]))
    assert estimate == pytest.approx(sigma_px, abs=0.15 + 0.1 * sigma_px)


def test_defocus_map_spreads_edge_blur_and_orders_regions():
    """Left half sharp, right half blurred by 2.5 px: the spread map keeps them apart."""
    rng = np.random.default_rng(1)
    blocks = np.kron(rng.random((16, 32)), np.ones((8, 8))).astype(np.float32)
    sharp, blurred = blocks[:, :128], cv2.GaussianBlur(blocks, (0, 0), 2.5)[:, 128:]
    gray = np.concatenate([sharp, blurred], axis=1)
    defocus = estimate_defocus(cue_image(np.repeat((gray * 255).astype(np.uint8)[..., None], 3, axis=-1)))
    left, right = np.median(defocus.sigma_px[:, 8:120]), np.median(defocus.sigma_px[:, 136:248])
    assert left < 0.6 and right > 1.5
    assert defocus.confidence.min() >= 0 and defocus.confidence.max() <= 1


def test_face_detector_finds_the_astronauts_face_and_no_face_in_texture():
    skimage_data = pytest.importorskip("skimage.data")
    faces = detect_faces(cue_image(skimage_data.astronaut()))
    assert len(faces) == 1
    x0, y0, x1, y1 = faces[0]
    assert 150 < (x0 + x1) / 2 < 260 and 80 < (y0 + y1) / 2 < 160 and 60 < x1 - x0 < 140
    grass = skimage_data.grass()
    assert detect_faces(cue_image(np.repeat(grass[..., None], 3, axis=-1))) == []


def test_a_face_in_profile_is_found_facing_either_way():
    """skimage's cameraman is seen in profile (no frontal detection): the profile cascade finds his
    head in the photo and, run on the mirror image, in the mirrored photo."""
    skimage_data = pytest.importorskip("skimage.data")
    grey = skimage_data.camera()
    for rgb, centre_x in ((np.repeat(grey[..., None], 3, axis=-1), 228),
                          (np.repeat(grey[:, ::-1, None], 3, axis=-1), 284)):
        faces = detect_faces(cue_image(rgb))
        assert len(faces) == 1
        x0, y0, x1, y1 = faces[0]
        assert abs((x0 + x1) / 2 - centre_x) < 20 and 120 < (y0 + y1) / 2 < 190 and 40 < x1 - x0 < 110


def test_focus_target_order():
    image = cue_image(np.zeros((400, 600, 3), np.uint8))
    face, other = (100.0, 100.0, 160.0, 160.0), (400.0, 50.0, 430.0, 80.0)
    assert choose_focus_target(image, focus_at_px=(10, 20), af_box_px=(1, 1, 5, 5)).source == "focus-at"
    af = choose_focus_target(image, af_box_px=(120, 110, 130, 120), af_source="Canon:AFInfo2",
                             detected_faces=[face, other])
    assert af.source == "Canon:AFInfo2" and af.face == face          # an AF point on a face seeds a body
    meta = choose_focus_target(image, metadata_faces_px=[other], metadata_faces_source="XMP:mwg-rs",
                               detected_faces=[face])
    assert meta.source == "XMP:mwg-rs" and meta.face == other
    assert choose_focus_target(image, detected_faces=[other, face]).face == face     # the largest
    assert choose_focus_target(image, salient=(10, 10, 50, 40)).source == "salient region"
    centre = choose_focus_target(image)
    assert centre.source == "centre" and centre.xy == pytest.approx((300, 200))


def test_a_small_face_at_the_frames_edge_is_a_bystander_not_the_subject():
    image = cue_image(np.zeros((400, 600, 3), np.uint8))      # 10 % of the short side: 40 px
    edge_small, edge_large, central_small = (540.0, 180.0, 570.0, 210.0), (500.0, 150.0, 590.0, 240.0), \
        (290.0, 150.0, 320.0, 180.0)
    assert subject_faces([edge_small, edge_large, central_small], image.hw) == [edge_large, central_small]
    top = (290.0, 20.0, 320.0, 50.0)                # a standing person seen whole: a small face near the top
    assert subject_faces([top], image.hw) == [top]
    bystander = choose_focus_target(image, detected_faces=[edge_small], salient=(10, 10, 50, 40))
    assert bystander.source == "salient region" and bystander.face is None
    assert choose_focus_target(image, detected_faces=[edge_small]).source == "centre"
    assert choose_focus_target(image, detected_faces=[edge_large, edge_small]).face == edge_large
    # the camera's own face detection is trusted wherever the face is
    assert choose_focus_target(image, metadata_faces_px=[edge_small]).face == edge_small


def test_a_photo_with_only_bystander_faces_is_focused_on_its_salient_region(monkeypatch):
    # a bright square left of the centre is the salient region; the detector "finds" one small
    # face at the right edge
    srgb = np.full((400, 600, 3), 40, np.uint8)
    srgb[150:250, 150:250] = 230
    monkeypatch.setattr(photo, "detect_faces", lambda image: [(560.0, 180.0, 590.0, 210.0)])
    found = photo.find_focus_target(srgb, LensMetadata(path="street.jpg"))
    assert found.target.source == "salient region" and found.target.face is None
    x, y = found.target.xy
    assert 130 <= x <= 270 and 130 <= y <= 270


def test_distance_from_face_size_inverts_the_thin_lens():
    focal_mm, pitch_mm, distance_m = 85.0, 0.006, 2.5
    magnification = focal_mm / (distance_m * 1000 - focal_mm)          # thin lens: v/u = f / (u - f)
    face_px = 0.16 * 1000 * magnification / pitch_mm
    assert focus_from_face_m(face_px, focal_mm, pitch_mm) == pytest.approx(distance_m, rel=1e-9)


def test_subject_matte_segments_the_focused_object():
    rgb, disc = disc_scene()
    image = cue_image(rgb)
    target = choose_focus_target(image, focus_at_px=(160, 120))
    matte = subject_matte(image, target, [], None) > 0.5
    iou = (matte & disc).sum() / (matte | disc).sum()
    assert iou > 0.9


@pytest.mark.parametrize("max_growths, finds_it_whole", [(0, False), (subject.MAX_GROWTHS, True)])
def test_a_subject_larger_than_the_first_ellipse_is_found_whole(monkeypatch, max_growths, finds_it_whole):
    """A disc 0.9 of the frame's height across. GrabCut is replaced by a colour model that cannot
    reach past the probable-subject ellipse (what happens on real photos when the subject's colours
    outside it also fill the background): the first ellipse (0.4 of the frame) holds part of the
    disc, and growing it while the disc fills its rim finds all of it."""
    rgb, disc = disc_scene(radius_fraction=0.45)

    def within_the_ellipse(_, mask):
        return disc & ((mask == cv2.GC_PR_FGD) | (mask == cv2.GC_FGD))

    monkeypatch.setattr(subject, "_grabcut", within_the_ellipse)
    monkeypatch.setattr(subject, "MAX_GROWTHS", max_growths)
    image = cue_image(rgb)
    matte = subject_matte(image, choose_focus_target(image, focus_at_px=(160, 120)), [], None) > 0.5
    iou = (matte & disc).sum() / (matte | disc).sum()
    assert (iou > 0.9) == finds_it_whole, iou


@pytest.mark.parametrize("gap_px, grown_px, attached", [(8, 0, True), (20, 1, True), (40, 0, False)])
def test_an_af_point_just_beside_the_subject_focuses_on_it(monkeypatch, gap_px, grown_px, attached):
    """The AF point lies on the background ``gap_px`` beyond the disc's edge, and GrabCut finds the
    disc but nothing around the point (the boy beside the AF point of the G2 photo), or only a
    rim ``grown_px`` wide, less than the seed itself (the snow beside the D3100's leaf): within the
    reach of an AF frame (8 % of the long side: 26 px here) the disc is the subject, and the
    point's own seed stays in the matte (the focus plane is read there); farther, it is not."""
    rgb, disc = disc_scene()

    def disc_and_a_rim_round_the_seed(_, mask):
        seed = (mask == cv2.GC_FGD).astype(np.uint8)
        rim = cv2.dilate(seed, np.ones((2 * grown_px + 1,) * 2, np.uint8)) > 0 if grown_px else seed > 0
        assert (rim & ~(seed > 0)).sum() < seed.sum()
        return disc | rim

    monkeypatch.setattr(subject, "_grabcut", disc_and_a_rim_round_the_seed)
    image = cue_image(rgb)
    point = (160 + 60 + gap_px, 120)
    target = choose_focus_target(image, focus_at_px=point)
    matte = subject_matte(image, target, [], None) > 0.5
    assert matte[point[1], point[0]]
    assert (matte & disc).sum() / disc.sum() > (0.95 if attached else -1)
    assert attached or not matte[120, 160]


def test_a_wider_search_never_takes_back_what_a_narrower_one_found(monkeypatch):
    """The colour models of a wider search (trained on more background) lose a part of the subject
    (its upper left, out to its outline) that the first search found: the matte keeps it."""
    rgb, disc = disc_scene(radius_fraction=0.45)
    yy, xx = np.mgrid[:disc.shape[0], :disc.shape[1]]
    upper_left = disc & (yy < 100) & (xx < 130)
    calls = []

    def losing_the_part_when_wider(_, mask):
        calls.append(disc & ((mask == cv2.GC_PR_FGD) | (mask == cv2.GC_FGD)))
        return calls[-1] if len(calls) == 1 else calls[-1] & ~upper_left

    monkeypatch.setattr(subject, "_grabcut", losing_the_part_when_wider)
    image = cue_image(rgb)
    matte = subject_matte(image, choose_focus_target(image, focus_at_px=(160, 120)), [], None) > 0.5
    found_first = calls[0] & upper_left
    assert len(calls) > 1 and found_first.sum() > 100
    assert matte[found_first].all()


def test_a_wide_af_area_around_a_face_focuses_on_the_face():
    image = cue_image(np.zeros((300, 400, 3), np.uint8))
    face = (200.0, 60.0, 240.0, 100.0)
    target = choose_focus_target(image, af_box_px=(120.0, 40.0, 330.0, 120.0), af_source="AF area",
                                 detected_faces=[face])
    assert target.box == face and target.face == face and target.source == "AF area"
    elsewhere = choose_focus_target(image, af_box_px=(20.0, 200.0, 120.0, 280.0), detected_faces=[face])
    assert elsewhere.face is None and elsewhere.box == (20.0, 200.0, 120.0, 280.0)


def test_layout_ground_plane_and_sky():
    height, width = 200, 300
    matte = np.zeros((height, width), np.float32)
    matte[80:150, 130:170] = 1.0                     # subject standing on the ground at row 149
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[:40] = (120, 170, 235)                       # flat blue sky on top
    rgb[40:] = np.random.default_rng(0).integers(0, 255, (height - 40, width, 3))
    sky = sky_mask(rgb, matte)
    assert sky[:35].mean() > 0.95 and not sky[45:].any()
    layout = layout_prior(matte, sky, target_x=150)
    b = layout.background
    assert (b[sky] == 0).all()
    column = b[40:, 10]
    assert np.all(np.diff(column) >= 0)               # nearer towards the bottom
    assert b[149, 10] == pytest.approx(1.0, abs=0.02)  # the ground where the subject stands: in focus
    assert b[60, 10] == pytest.approx(BACKGROUND_B)
    # the ground in front of the subject is nearer than the focus plane, the same plane on down:
    # horizon at row 100 (the middle), so b = (row + 0.5 - 100) / 49.5, up to half the focus distance
    assert b[174, 10] == pytest.approx(74.5 / 49.5, rel=1e-4)
    assert b[199, 10] == MAX_GROUND_B == 2.0
    assert np.allclose(layout.subject[:, 130:170], 1.0, atol=0.01)


def bike_matte(left_wheel_bottom_row: int) -> np.ndarray:
    """A bike-like shape: two 'wheels' touching the ground at ``left_wheel_bottom_row`` (x = 80)
    and at row 199 (x = 240), joined by a frame."""
    height, width = 240, 320
    matte = np.zeros((height, width), np.float32)
    yy, xx = np.mgrid[:height, :width]
    left_centre = left_wheel_bottom_row - 29
    matte[((xx - 80) ** 2 + (yy - left_centre) ** 2 < 30 ** 2) | ((xx - 240) ** 2 + (yy - 170) ** 2 < 30 ** 2)] = 1
    matte[left_centre - 20:left_centre + 10, 80:240] = 1
    return matte


def test_a_slanted_subject_stands_on_the_ground_line_of_its_lower_hull():
    matte = bike_matte(left_wheel_bottom_row=189)
    slope, intercept = contact_line(matte)
    assert slope == pytest.approx(10 / 160, abs=0.02) and slope * 80 + intercept == pytest.approx(189, abs=1.5)
    layout = layout_prior(matte, np.zeros_like(matte, bool), target_x=240)     # focused on the near wheel
    horizon = 0.5 * matte.shape[0]
    expected_left = (189.5 - horizon) / (199.5 - horizon)      # inverse depth grows with the row below the horizon
    assert expected_left > MIN_SUBJECT_B
    assert layout.subject[0, 240] == pytest.approx(1.0, abs=0.02)
    assert layout.subject[0, 80] == pytest.approx(expected_left, rel=0.05)
    assert layout.subject.max() <= 1.0        # the subject is never put in front of the focus plane
    assert layout.background[200:, 0].min() > 1.0      # the ground below the near wheel's contact
    steep = layout_prior(bike_matte(left_wheel_bottom_row=169), np.zeros_like(matte, bool), target_x=240)
    assert steep.subject[0, 80] == pytest.approx(MIN_SUBJECT_B)     # (169.5 - 120) / (199.5 - 120) = 0.62


def test_a_short_contact_edge_leaves_the_subject_level():
    """A slope needs contacts at both ends of the subject (both wheels), at least
    CONTACT_MIN_SPAN of its width apart. A lower outline that comes to a point (knees, a torso cut
    by a hedge) has only short hull edges: the subject stands level at its lowest row."""
    matte = np.zeros((240, 320), np.float32)
    yy, xx = np.mgrid[:240, :320]
    bottom = 190 - 40 * np.abs(xx - 150) / 50          # a V: (100, 150) -> (150, 190) -> (200, 150)
    matte[(xx >= 100) & (xx <= 200) & (yy >= 50) & (yy <= bottom)] = 1
    assert 50 < CONTACT_MIN_SPAN * 101 < 60                # each hull edge is 50 px of a 101-px subject
    assert contact_line(matte) == (0.0, 190.0)
    layout = layout_prior(matte, np.zeros_like(matte, bool), target_x=150)
    assert np.all(layout.subject == 1.0)


def test_a_close_up_shows_no_ground():
    """A frame under CLOSE_UP_FRAME_M tall at the focus distance: the subject is one plane."""
    matte = bike_matte(left_wheel_bottom_row=169)
    assert ground_in_view(CLOSE_UP_FRAME_M) and ground_in_view(None) and not ground_in_view(0.9 * CLOSE_UP_FRAME_M)
    layout = layout_prior(matte, np.zeros_like(matte, bool), target_x=240, frame_height_m=0.9 * CLOSE_UP_FRAME_M)
    assert np.all(layout.background == BACKGROUND_B) and np.all(layout.subject == 1.0)


def test_a_camera_looking_down_on_a_near_subject_puts_the_horizon_above_the_frame():
    """The ground at distance D lies f_px h / D rows below the horizon, H h / F at the subject's
    contact (F: the frame's height at the focus distance). A bike 2.3 m from an 85 mm lens (a frame
    0.65 m tall there) seen from at least MIN_CAMERA_HEIGHT_M up: the horizon lies 1.5 frames above
    the contact, the wall behind stays near the focus plane, and the white paper on it is no sky."""
    height, width = 200, 300
    matte = np.zeros((height, width), np.float32)
    matte[80:150, 100:200] = 1.0                      # standing on the ground at row 149
    sky = np.zeros((height, width), bool)
    sky[:20, :60] = True                               # a bright smooth patch at the top border
    frame_m = 0.65
    horizon, bound = horizon_row(149.0, height, frame_m)
    assert bound and horizon == pytest.approx(149.0 - height * MIN_CAMERA_HEIGHT_M / frame_m)
    layout = layout_prior(matte, sky, target_x=150, frame_height_m=frame_m)
    ground = lambda row: (row + 0.5 - horizon) / (149.5 - horizon)      # noqa: E731
    assert layout.background[10, 10] == pytest.approx(ground(10), rel=1e-4)       # about 0.55: not at 4x the focus
    assert layout.background[100, 250] == pytest.approx(ground(100), rel=1e-4)
    assert ground(10) > 2 * BACKGROUND_B
    assert not layout.sky.any()
    # the same subject 20 m away (a frame 5.6 m tall): a level camera, the horizon at the middle row
    far = layout_prior(matte, sky, target_x=150, frame_height_m=5.6)
    assert horizon_row(149.0, height, 5.6) == (100.0, False)
    assert np.array_equal(far.sky, sky) and np.all(far.background[sky] == 0.0)
    assert far.background[60, 250] == pytest.approx(BACKGROUND_B)


def _cheek_scene() -> tuple[DefocusMap, FocusTarget]:
    """A sharp face (0.4 px on its clear edges) whose AF box sits on a smooth cheek that reads 2.5
    px with weak evidence, and a clearly blurred patch (1.5 px) beside it, inside the body's ellipse."""
    sigma = np.full((100, 100), 0.4, np.float32)
    confidence = np.full((100, 100), 0.9, np.float32)
    sigma[40:70, 30:70], confidence[40:70, 30:70] = 2.5, 0.1          # the cheek
    sigma[45:55, 85:95] = 1.5                                          # something behind the subject
    return DefocusMap(sigma, confidence), FocusTarget((40.0, 45.0, 60.0, 65.0), "AF", face=(20.0, 20.0, 80.0, 80.0))


def test_the_subjects_own_blur_is_read_where_its_edges_are_clear():
    """The blur the focused face itself shows is the median over its well-evidenced edges (eyes,
    glasses, hairline): the smooth cheek the AF box sits on reads large and unsure, and counting
    it would put a sharper far background on the focus plane."""
    defocus, target = _cheek_scene()
    assert sigma_in_px(defocus, target.face) == pytest.approx(0.4)
    assert sigma_in_px(defocus, target.box) == pytest.approx(2.5)      # nothing clear in the box: its median
    assert sigma_in_px(defocus, (200.0, 200.0, 210.0, 210.0)) == 0.0  # outside the map: no blur to read


def test_the_subject_is_looked_for_below_the_point_the_camera_focused_on():
    """An AF point on a subject's upper part (a red tank) over a lower part of another colour (the
    engine and wheels): the probable subject reaches BELOW_TARGET of its height further down, so
    the lower part is found too; the symmetric region (the old one) missed it."""
    rng = np.random.default_rng(0)
    rgb = rng.normal(128, 20, (200, 300, 3)).clip(0, 255).astype(np.uint8)     # grey textured background
    rgb[30:80, 120:180] = (200, 40, 40)
    rgb[80:190, 110:190] = (30, 90, 40)
    image, target = cue_image(rgb), FocusTarget((140.0, 45.0, 160.0, 65.0), "AF")
    x0, y0, x1, y1 = subject._grown(target.box, image.hw)
    assert (y1 - 55.0) == pytest.approx((1 + 2 * subject.BELOW_TARGET) * (55.0 - y0))
    matte = subject_matte(image, target, [], None)
    assert matte[40:70, 130:170].min() > 0.9 and matte[100:180, 120:180].min() > 0.9
    assert matte[:, :60].max() < 0.1


def test_the_matte_and_the_depth_read_the_subjects_blur_alike():
    """The subject matte seeds "clearly more blurred than the subject" as probable background by
    the same clear-edge reading of the subject's blur as the depth's defocus cue: 1.5 px beside a
    0.4 px face is behind it, though less blurred than the cheek's unsure 2.5 px."""
    defocus, target = _cheek_scene()
    image = cue_image(np.full((100, 100, 3), 128, np.uint8))
    mask = subject._seed_mask(image, target, [target.face], subject.clearly_blurred(defocus, target), target.box)
    assert np.all(mask[45:55, 85:95] == cv2.GC_PR_BGD)
    assert mask[50, 80] == cv2.GC_PR_FGD          # beside it, as sharp as the face: probable subject


def test_frame_height_at_the_focus_distance():
    """The frame's diagonal at distance S1 is S1 * 43.27 / f35: a 43.27 mm lens shows a 2 m diagonal at 2 m."""
    image = cue_image(np.zeros((300, 400, 3), np.uint8))
    assert frame_height_at_focus_m(LensMetadata("x.jpg", focal_35mm=43.27), image, 2.0) == pytest.approx(2.0 * 300 / 500)
    assert frame_height_at_focus_m(LensMetadata("x.jpg"), image, 2.0) == pytest.approx(2.0 * 43.27 / 50 * 0.6)
    assert frame_height_at_focus_m(LensMetadata("x.jpg", focal_35mm=50.0), image, None) is None
    assert frame_height_at_focus_m(LensMetadata("x.jpg", focal_35mm=50.0), image, math.inf) is None


def test_the_subjects_distance_is_the_cameras_unless_the_face_at_the_focus_disagrees():
    """The render's rule for the cues: a face 40 px wide in a 400x300 frame with a 50 mm
    equivalent lens is 2.36 m away (thin lens over a 43.27 mm diagonal); a camera distance within
    a factor 2 of that stands, one beyond is replaced by the face's, infinity too."""
    image = cue_image(np.zeros((300, 400, 3), np.uint8))
    face = (100.0, 100.0, 140.0, 140.0)
    face_m = focus_from_face_m(40.0, 50.0, 43.27 / 500)
    assert face_m == pytest.approx(2.36, abs=0.01)
    lens = lambda **kw: LensMetadata("x.jpg", focal_35mm=50.0, **kw)  # noqa: E731
    assert subject_focus_m(lens(focus_m=2.0), image, None) == 2.0
    assert subject_focus_m(lens(focus_m=2.0), image, face) == 2.0
    assert subject_focus_m(lens(focus_m=11.4), image, face) == pytest.approx(face_m)
    assert subject_focus_m(lens(focus_m=0.5), image, face) == pytest.approx(face_m)
    assert subject_focus_m(lens(focus_infinite=True), image, face) == pytest.approx(face_m)
    assert subject_focus_m(lens(), image, face) == pytest.approx(face_m)
    assert subject_focus_m(lens(focus_infinite=True), image, None) is None
    assert subject_focus_m(lens(), image, None) is None


def test_a_subject_running_out_of_the_frame_shows_no_ground():
    matte = np.zeros((200, 300), np.float32)
    matte[60:, 100:200] = 1.0
    assert contact_line(matte) is None
    layout = layout_prior(matte, np.zeros_like(matte, bool), target_x=150)
    assert np.all(layout.background == BACKGROUND_B) and np.all(layout.subject == 1.0)


@pytest.mark.parametrize("true_b", [0.3, 0.6, 0.8])
def test_cue_depth_puts_the_subject_on_the_focus_plane_and_reads_blur_through_the_capture_lens(true_b):
    """Background blurred by the CoC a known capture lens gives it at b: read back as b = 1 - c / c_inf
    (where the evidence is confident; the layout prior fills the rest)."""
    rgb, disc = disc_scene(seed=3, block_px=16)
    capture_coc_inf_px = 16.0
    sigma = capture_coc_inf_px * (1 - true_b) / DISC_DIAMETER_PER_SIGMA
    rgb = np.where(disc[..., None], rgb, cv2.GaussianBlur(rgb, (0, 0), sigma))
    image = cue_image(rgb)
    cues = photo_cues(image, choose_focus_target(image, focus_at_px=(160, 120)), [], capture_coc_inf_px)
    b = cues.relative_inv_depth
    inner = cv2.erode(disc.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    assert np.median(b[inner]) == pytest.approx(1.0, abs=0.02)
    above_contact = np.arange(disc.shape[0])[:, None] < 150           # the ground in front keeps the layout
    confident = ~disc & (cues.defocus.confidence > 0.8) & above_contact
    assert np.median(b[confident]) == pytest.approx(true_b, abs=0.12)


def test_blur_on_the_ground_in_front_of_the_subject_is_read_in_front():
    """The thin lens blurs a point at ``b`` by ``c_inf * |1 - b|`` on either side of the focus plane.
    The same blur everywhere around a subject standing on the ground: above its contact it reads
    ``b = 1 - c / c_inf`` (behind), on the ground below it ``b = 1 + c / c_inf`` (in front)."""
    rgb, disc = disc_scene(seed=3, block_px=16)
    capture_coc_inf_px, offset_b = 16.0, 0.6
    sigma = capture_coc_inf_px * offset_b / DISC_DIAMETER_PER_SIGMA
    rgb = np.where(disc[..., None], rgb, cv2.GaussianBlur(rgb, (0, 0), sigma))
    image = cue_image(rgb)
    cues = photo_cues(image, choose_focus_target(image, focus_at_px=(160, 120)), [], capture_coc_inf_px)
    b = cues.relative_inv_depth
    rows = np.arange(disc.shape[0])[:, None]
    confident = ~disc & ~cues.sky & (cues.defocus.confidence > 0.8)     # (smooth blurred blue blocks read as sky)
    behind, in_front = confident & (rows < 150), confident & (rows > 190) & (rows < 215)
    assert cues.layout_inv_depth[in_front].min() > 1.0      # the layout: ground below the disc's contact (row 180)
    assert np.median(b[behind]) == pytest.approx(1.0 - offset_b, abs=0.12)
    assert np.median(b[in_front]) == pytest.approx(1.0 + offset_b, abs=0.15)


def _far_lights_scene(true_b: float, capture_coc_inf_px: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The red disc in focus before blocks at ``true_b``, with four small lights 20 times brighter
    than the clip among the blocks, all blurred as the capture lens blurs ``true_b``, then clipped
    as a sensor does. Returns uint8 RGB, the disc, and the lights' rims: the edge pixels within 2 px
    of a clipped pixel, where a small light shows as a ring of steep edges."""
    rgb, disc = disc_scene(seed=3, block_px=16)
    scene = rgb.astype(np.float32) / 255.0
    yy, xx = np.mgrid[:disc.shape[0], :disc.shape[1]]
    for cx, cy in ((40, 40), (280, 50), (50, 110), (280, 120)):      # behind, away from the disc
        scene[(xx - cx) ** 2 + (yy - cy) ** 2 < 4] = 20.0
    sigma = capture_coc_inf_px * (1 - true_b) / DISC_DIAMETER_PER_SIGMA
    photo = np.where(disc[..., None], scene, cv2.GaussianBlur(scene, (0, 0), sigma)) if sigma > 0 else scene
    rgb = np.rint(np.clip(photo, 0.0, 1.0) * 255).astype(np.uint8)
    clipped = (~disc & (rgb.min(axis=2) == 255)).astype(np.uint8)
    rims = (cv2.dilate(clipped, np.ones((5, 5), np.uint8)) > 0) & (edge_blur(cue_image(rgb).gray)[1] > 0.1)
    return rgb, disc, rims


def test_a_clipped_light_reads_sharper_than_its_blur():
    """Why the depth leaves clipped edges out: a light R times brighter than the clip rises from
    dark to clipped within 1/R of its blurred ramp, so its edge reads far sharper than the 2.8 px the
    lens gave it, while the unclipped blocks around it read their blur."""
    rgb, disc, rims = _far_lights_scene(true_b=0.3, capture_coc_inf_px=16.0)
    sigma, weight = edge_blur(cue_image(rgb).gray)
    away = cv2.dilate(rims.astype(np.uint8), np.ones((21, 21), np.uint8)) == 0
    assert rims.sum() > 40
    assert np.median(sigma[rims]) < 1.2
    assert np.median(sigma[~disc & away & (weight > 0.1)]) == pytest.approx(2.8, abs=0.6)
    assert near_clipped(rgb)[rims].all()


def test_a_far_light_clipped_in_the_photo_lies_with_its_surroundings_not_on_the_focus_plane():
    """Read as sharp, the clipped lights' rims would be pulled towards the focus plane (b = 0.75-0.8
    before this rule) and stay points in the render where a fast lens draws discs; the depth's blur
    reading leaves those edges out, so they lie at the depth around them. The matte's map, one-sided,
    keeps them (:attr:`PhotoCues.defocus`)."""
    capture_coc_inf_px, true_b = 16.0, 0.3
    rgb, disc, rims = _far_lights_scene(true_b, capture_coc_inf_px)
    image = cue_image(rgb)
    cues = photo_cues(image, choose_focus_target(image, focus_at_px=(160, 120)), [], capture_coc_inf_px)
    assert np.median(cues.relative_inv_depth[rims]) == pytest.approx(true_b, abs=0.15)
    assert np.median(cues.defocus.sigma_px[rims]) < 1.5


def test_glints_on_a_sharp_surface_read_the_surfaces_sharpness():
    """Without their own edges, clipped pixels take the blur read around them, not the layout's
    far background: glints on a surface in the focus plane (a flat scene: every block as sharp as
    the disc) stay near it with the blocks. Left unread, they would fall to the layout's far
    background (``BACKGROUND_B``)."""
    capture_coc_inf_px = 16.0
    rgb, disc, rims = _far_lights_scene(1.0, capture_coc_inf_px)
    image = cue_image(rgb)
    cues = photo_cues(image, choose_focus_target(image, focus_at_px=(160, 120)), [], capture_coc_inf_px)
    b = cues.relative_inv_depth
    assert np.median(b[~disc]) > 0.8                                  # the blocks read as sharp as the disc
    assert np.median(b[rims]) > 2 * BACKGROUND_B


def test_capture_coc_at_infinity_is_the_thin_lens_limit():
    lens = Lens(50.0, 2.0, 3.0, 43.27)
    pitch = pixel_pitch_mm(43.27, 600, 400)
    far = lens.coc_px_from_inverse_depth(torch.tensor([0.0]), 600, 400)
    assert capture_coc_at_infinity_px(50.0, 2.0, 3.0, pitch) == pytest.approx(float(far), rel=1e-5)


def test_anchor_puts_the_focus_box_at_the_focus_distance():
    inv = torch.full((1, 1, 40, 60), 0.5)
    inv[..., 10:20, 10:30] = 2.0
    anchored = anchor(DepthEstimate(inv, "test", relative=True), (12, 12, 28, 18), 3.0)
    assert depth_at(anchored.inv_depth, (12, 12, 28, 18)) == pytest.approx(3.0)
    assert not anchored.relative
    assert torch.allclose(anchored.inv_depth / inv, torch.full_like(inv, (1 / 3.0) / 2.0))   # uniform scale
