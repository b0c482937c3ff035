"""Where the camera focused, on constructed files: every maker's AF record, EXIF SubjectArea,
XMP GFocus and MWG regions, the EXIF orientation, precedence, and hostile values.

Expected pixels are worked out here from each record's published layout (AF frame centred
offsets, fractions, pixel coordinates), and the orientation against Pillow's own
``exif_transpose``, not from the decoders.
"""

from __future__ import annotations

import json
import struct
import time

import numpy as np
import pytest
from PIL import Image, ImageOps
from typer.testing import CliRunner

from bokehcli.cli.app import app
from bokehcli.lens import read_lens
from bokehcli.lens.focus_points import AfArea, AfRecord, place_focus, upright_box, upright_point
from bokehcli.lens.xmp_regions import read_xmp_regions
from lens_builder import ifd, jpeg, tiff, value


def shot(tmp_path, make, model, note=None, exif=None, orientation=None, size=(640, 480), xmp=None,
         order="<", name="p.jpg"):
    ifd0 = {0x0112: value(3, [orientation], order)} if orientation else None
    path = tmp_path / name
    path.write_bytes(jpeg(tiff(make, model, exif, note=note, order=order, ifd0=ifd0), xmp=xmp, size=size))
    return read_lens(path)


def near(points, expected, rel=1e-6) -> bool:
    """Point lists equal to float precision (pytest.approx takes no nested sequences)."""
    flat = [c for point in points for c in point]
    return len(points) == len(expected) and flat == pytest.approx([c for point in expected for c in point],
                                                                  rel=rel, abs=1e-6)


# --- orientation: against Pillow ---------------------------------------------------------------

@pytest.mark.parametrize("orientation", range(1, 9))
def test_upright_point_and_box_agree_with_pillow_exif_transpose(orientation):
    width, height = 5, 3
    stored = np.arange(width * height, dtype=np.uint8).reshape(height, width) + 1
    image = Image.fromarray(stored)
    image.getexif()[0x0112] = orientation
    upright = np.asarray(ImageOps.exif_transpose(image))
    for row in range(height):
        for col in range(width):
            u, v = upright_point(col + 0.5, row + 0.5, width, height, orientation)
            assert upright[int(v), int(u)] == stored[row, col]
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[1:3, 0:2] = 255                                   # stored box (0, 1)-(2, 3)
    marked = Image.fromarray(mask)
    marked.getexif()[0x0112] = orientation
    rows, cols = np.nonzero(np.asarray(ImageOps.exif_transpose(marked)))
    assert upright_box((0, 1, 2, 3), width, height, orientation) == (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)


# --- Canon ---------------------------------------------------------------------------------------

def canon_af2(xs, ys, widths, heights, frame, in_focus, mode=2, valid=None, selected=()):
    """An AFInfo2/AFInfo3 array (u16) as the camera writes it."""
    n = len(xs)
    words = (n + 15) // 16
    mask = lambda idx: [sum(1 << (i % 16) for i in idx if i // 16 == k) for k in range(words)]  # noqa: E731
    body = [mode, n, n if valid is None else valid, *frame, *frame]
    body += [v & 0xFFFF for v in list(widths) + list(heights) + list(xs) + list(ys)] + mask(in_focus) + mask(selected)
    body += [0]
    return [2 * (len(body) + 1)] + body


def canon_af1(xs, ys, frame, area, in_focus, valid=None):
    n = len(xs)
    mask = [sum(1 << (i % 16) for i in in_focus if i // 16 == k) for k in range((n + 15) // 16)]
    return [n, n if valid is None else valid, 2272, 1704, *frame, *area] + [v & 0xFFFF for v in list(xs) + list(ys)] + mask


def canon(tags: dict):
    return lambda pos: ifd({tag: value(3, values) for tag, values in tags.items()}, "<", pos)


EOS_9 = dict(xs=[-1477, -886, -886, 0, 0, 0, 886, 886, 1477], ys=[0, 418, -418, 787, 0, -787, 418, -418, 0],
             widths=[139] * 9, heights=[186] * 9, frame=(5184, 3456))


def test_canon_eos_afinfo2_y_grows_upwards_and_scales_to_the_image(tmp_path):
    note = canon({0x0026: canon_af2(**EOS_9, in_focus=[2, 6])})
    info = shot(tmp_path, "Canon", "Canon EOS 600D", note, size=(1296, 864))     # a quarter of the AF frame
    # point 2: (-886, -418) from the centre, y up -> (2592 - 886, 1728 + 418) / 4
    assert info.focus_point_source == "Canon:AFInfo2"
    assert near(info.focus_points, [(1706 / 4, 2146 / 4), (3478 / 4, 1310 / 4)])
    assert info.focus_area == pytest.approx(((1706 - 69.5) / 4, (1310 - 93) / 4, (3478 + 69.5) / 4, (2146 + 93) / 4))


def test_canon_powershot_afinfo_y_grows_downwards_and_turns_upright(tmp_path):
    xs, ys = [-409, 0, 409] * 3, [-52] * 3 + [0] * 3 + [52] * 3
    note = canon({0x0012: canon_af1(xs, ys, (2272, 284), (409, 51), in_focus=[0])})
    info = shot(tmp_path, "Canon", "Canon PowerShot A520", note, orientation=6, size=(2272, 1704))
    # stored: x = 1136 - 409 = 727, y = (142 - 52) / 284 * 1704 = 540; orientation 6: (1704 - y, x)
    assert info.focus_point_source == "Canon:AFInfo"
    assert near(info.focus_points, [(1164, 727)])
    half_h = 51 / 284 * 1704 / 2
    assert info.focus_area == pytest.approx((1704 - 540 - half_h, 727 - 204.5, 1704 - 540 + half_h, 727 + 204.5))


def test_canon_afinfo3_is_preferred_and_selected_points_only_stand_in_for_eos(tmp_path):
    note = canon({0x0026: canon_af2(**EOS_9, in_focus=[4]), 0x003C: canon_af2(**EOS_9, in_focus=[0])})
    info = shot(tmp_path, "Canon", "Canon EOS 7D", note, size=(5184, 3456))
    assert info.focus_point_source == "Canon:AFInfo3" and near(info.focus_points, [(1115, 1728)])
    selected = canon({0x0026: canon_af2(**EOS_9, in_focus=[], selected=[8])})
    info = shot(tmp_path, "Canon", "Canon EOS 7D", selected, size=(5184, 3456))
    assert info.focus_point_source == "Canon:AFPointsSelected" and near(info.focus_points, [(4069, 1728)])
    everything = canon({0x0026: canon_af2(**EOS_9, in_focus=[], selected=range(9))})
    assert shot(tmp_path, "Canon", "Canon EOS 7D", everything, size=(5184, 3456)).focus_points == []


def test_canon_manual_focus_gives_no_point_and_says_why(tmp_path):
    af_off = canon({0x0026: canon_af2(**EOS_9, in_focus=[4], mode=0)})
    info = shot(tmp_path, "Canon", "Canon EOS 6D", af_off)
    assert info.focus_points == [] and any("manual focus" in w for w in info.warnings)
    settings = [0] * 30
    settings[7] = 3                                         # CameraSettings FocusMode: Manual Focus (3)
    mf = canon({0x0001: settings, 0x0026: canon_af2(**EOS_9, in_focus=[4])})
    info = shot(tmp_path, "Canon", "Canon EOS 6D", mf)
    assert info.focus_points == [] and any("manual focus" in w for w in info.warnings)


@pytest.mark.parametrize("value_14,names_x", [(0x3004, [0.32]), (0x3006, [0.5, 0.32]), (0x3007, [0.68, 0.5, 0.32]),
                                              (0x3001, [0.68])])
def test_canon_shotinfo_names_land_on_the_named_third(tmp_path, value_14, names_x):
    shot_info = [68] + [0] * 33
    shot_info[14] = value_14
    info = shot(tmp_path, "Canon", "Canon PowerShot S40", canon({0x0004: shot_info}), size=(1000, 750))
    assert info.focus_point_source == "Canon:ShotInfo"
    assert near(info.focus_points, [(1000 * x, 375) for x in names_x])


def test_canon_shotinfo_manual_focus_and_unknown_values_give_nothing(tmp_path):
    for value_14 in (0x3000, 0x1234):
        shot_info = [68] + [0] * 33
        shot_info[14] = value_14
        assert shot(tmp_path, "Canon", "Canon PowerShot S40", canon({0x0004: shot_info})).focus_points == []


@pytest.mark.parametrize("array,reason", [
    (canon_af2(**EOS_9, in_focus=[4])[:12], "garbled"),                                   # truncated
    ([188, 2, 60000, 9, 5184, 3456, 5184, 3456] + [0] * 80, "garbled"),                   # absurd count
    (canon_af2(**EOS_9, in_focus=[8], valid=3), "valid"),                                 # bit beyond valid
    (canon_af2(**EOS_9, in_focus=[12], valid=20), "valid"),                              # bit beyond the arrays
    (canon_af2(**{**EOS_9, "frame": (0, 0)}, in_focus=[4]), "frame size"),                # empty AF frame
    (canon_af2(**{**EOS_9, "xs": [30000] * 9}, in_focus=[4]), "outside the frame"),
    (canon_af2(**{**EOS_9, "widths": [-5] * 9}, in_focus=[4]), "impossible size"),
])
def test_canon_garbage_is_refused_with_a_warning(tmp_path, array, reason):
    info = shot(tmp_path, "Canon", "Canon EOS 7D", canon({0x0026: array}))
    assert info.focus_points == [] and info.focus_area is None
    assert any(reason in w for w in info.warnings), info.warnings


# --- EXIF SubjectArea / SubjectLocation -------------------------------------------------------------

@pytest.mark.parametrize("values,box", [
    ([1000, 750], (1000, 750, 1000, 750)),                       # a point
    ([1000, 750, 200], (900, 650, 1100, 850)),                   # a circle: centre and diameter
    ([1000, 750, 400, 100], (800, 700, 1200, 800)),              # a rectangle: centre and size
])
def test_subject_area_forms_in_pixels_of_the_exif_image(tmp_path, values, box):
    exif = {0x9214: value(3, values), 0xA002: value(4, [4000]), 0xA003: value(4, [3000])}
    info = shot(tmp_path, "Apple", "iPhone", exif=exif, size=(400, 300))      # a 1/10 resize of the EXIF image
    assert info.focus_point_source == "EXIF:SubjectArea"
    assert near(info.focus_points, [(100, 75)])
    assert info.focus_area == pytest.approx(tuple(v / 10 for v in box))


def test_subject_area_garbage_and_subject_location_fallback(tmp_path):
    exif = {0x9214: value(3, [0]), 0xA214: value(3, [320, 120])}
    info = shot(tmp_path, "Apple", "iPhone 4", exif=exif)
    assert any("EXIF:SubjectArea with 1 values" in w for w in info.warnings)
    assert info.focus_point_source == "EXIF:SubjectLocation" and near(info.focus_points, [(320, 120)])
    outside = shot(tmp_path, "KONICA MINOLTA", "DiMAGE Z3", exif={0x9214: value(3, [1136, 852, 280, 280])},
                   size=(70, 100))
    assert outside.focus_points == [] and any("outside the frame" in w for w in outside.warnings)


# --- Nikon ------------------------------------------------------------------------------------------

def nikon(entries: dict):
    def build(pos):      # type 2: an embedded big-endian TIFF header at byte 10 is the offsets' base
        return b"Nikon\0\x02\x10\0\0" + b"MM\0*" + struct.pack(">I", 8) + ifd(entries, ">", 8)
    return build


def test_nikon_afinfo_in_focus_names_and_selected_point(tmp_path):
    af_info = bytes([1, 2]) + struct.pack(">H", 1 << 2)        # "NIKON D": big-endian; bit 2 = Bottom
    info = shot(tmp_path, "NIKON CORPORATION", "NIKON D70s", nikon({0x0088: value(7, af_info)}), size=(1000, 1500))
    assert info.focus_point_source == "Nikon:AFPointsInFocus"
    assert near(info.focus_points, [(500, 1500 * 0.68)])
    compact = bytes([0, 3]) + struct.pack("<H", 0)              # compacts: little-endian; none in focus
    info = shot(tmp_path, "NIKON", "E775", nikon({0x0088: value(7, compact)}), size=(1000, 750))
    assert info.focus_point_source == "Nikon:AFPoint" and near(info.focus_points, [(380, 375)])


def af_info2(phase: int, primary: int, used: bytes, contrast: bytes = b"") -> bytes:
    head = b"0100" + bytes([1 if contrast else 0, 0, phase, primary]) + used
    return (head.ljust(0x10, b"\0") + contrast).ljust(0x30, b"\0")


@pytest.mark.parametrize("phase,used,expected", [
    (2, struct.pack("<H", 1 << 7), (0.62, 0.5)),              # 11-point AFInfo2 order: bit 7 = Mid-right
    (1, bytes([0b1000_0000, 0, 0, 0, 0, 0, 0]), (0.5 + 0.04, 0.5 - 0.08 * 2)),  # 51-point index 8 = A6, above B7
    (1, bytes([0, 0, 0, 0, 0, 0b0010_0000, 0]), (0.5 - 0.04 * 4, 0.5 - 0.08 * 2)),  # index 46 = A1, above B2
    (3, bytes([0, 0b0001_0000, 0, 0, 0]), (0.5 - 0.04, 0.5 - 0.08 * 2)),     # 39-point index 13 = A1, above B5
])
def test_nikon_afinfo2_points_used_on_their_layout(tmp_path, phase, used, expected):
    info = shot(tmp_path, "NIKON CORPORATION", "NIKON D300", nikon({0x00B7: value(7, af_info2(phase, 1, used))}),
                size=(1000, 1000))
    assert info.focus_point_source == "Nikon:AFPointsUsed"
    assert near(info.focus_points, [(1000 * expected[0], 1000 * expected[1])])


def test_nikon_afinfo2_contrast_detect_area_and_primary_point(tmp_path):
    contrast = struct.pack(">6H", 640, 480, 160, 120, 64, 48) + bytes([1])    # in focus
    info = shot(tmp_path, "NIKON CORPORATION", "NIKON D90",
                nikon({0x00B7: value(7, af_info2(2, 1, b"\0\0", contrast))}), size=(4288, 2848))
    assert info.focus_point_source == "Nikon:AFInfo2"
    assert near(info.focus_points, [(4288 / 4, 2848 / 4)])
    assert info.focus_area == pytest.approx((4288 * 0.2, 2848 * 0.2, 4288 * 0.3, 2848 * 0.3))
    primary_only = nikon({0x00B7: value(7, af_info2(3, 1, bytes(5)))})        # C6, nothing used
    info = shot(tmp_path, "NIKON CORPORATION", "NIKON D7000", primary_only, size=(600, 400))
    assert info.focus_point_source == "Nikon:PrimaryAFPoint" and near(info.focus_points, [(300, 200)])


def test_nikon_manual_focus(tmp_path):
    note = nikon({0x0007: value(2, "MANUAL", ">"), 0x0088: value(7, bytes([0, 0, 0, 1]))})
    info = shot(tmp_path, "NIKON CORPORATION", "NIKON D70", note)
    assert info.focus_points == [] and any("manual focus" in w for w in info.warnings)


# --- Olympus, Sony, Fujifilm, Panasonic, Pentax, Casio ----------------------------------------------

def olympus(settings: dict):
    def build(pos):      # offsets count from the note's start; CameraSettings is a sub-IFD
        main_len = len(ifd({0x2020: value(13, [0])}, "<", 12))
        return b"OLYMPUS\0II\x03\0" + ifd({0x2020: value(13, [12 + main_len])}, "<", 12) + \
            ifd(settings, "<", 12 + main_len)
    return build


def test_olympus_af_areas_on_the_255_grid_then_af_point_selected(tmp_path):
    areas = [int.from_bytes(bytes([113, 107, 142, 145]), "big")] + [0] * 63
    selected = [(0, 0), (1, 2), (1, 4), (1, 2), (1, 4)]
    settings = {0x0302: value(3, [1]), 0x0304: value(4, areas), 0x0305: value(10, selected)}
    info = shot(tmp_path, "OLYMPUS IMAGING CORP.", "E-P3", olympus(settings), size=(2550, 2550))
    assert info.focus_point_source == "Olympus:AFAreas"
    assert near(info.focus_points, [(1275, 1260)])
    assert info.focus_area == pytest.approx((1130, 1070, 1420, 1450))
    del settings[0x0304]
    info = shot(tmp_path, "OLYMPUS IMAGING CORP.", "E-P3", olympus(settings), size=(2000, 1000))
    assert info.focus_point_source == "Olympus:AFPointSelected" and near(info.focus_points, [(1000, 250)])
    settings[0x0302] = value(3, [0])                                 # FocusProcess: AF not used
    info = shot(tmp_path, "OLYMPUS IMAGING CORP.", "E-P3", olympus(settings))
    assert info.focus_points == [] and any("manual focus" in w for w in info.warnings)


def test_sony_focus_location_in_its_own_image_size(tmp_path):
    def build(pos):
        return b"SONY DSC \0\0\0" + ifd({0x2027: value(3, [6000, 4000, 1500, 3000])}, "<", pos + 12)
    info = shot(tmp_path, "SONY", "ILCE-7M3", build, size=(600, 400))
    assert info.focus_point_source == "Sony:FocusLocation" and near(info.focus_points, [(150, 300)])


def fujifilm(entries: dict):
    return lambda pos: b"FUJIFILM" + struct.pack("<I", 12) + ifd(entries, "<", 12)


def test_fujifilm_focus_pixel_and_faces_in_pixels_of_the_exif_image(tmp_path):
    note = fujifilm({0x1021: value(3, [0]), 0x1023: value(3, [1152, 864]), 0x4100: value(3, [2]),
                     0x4103: value(3, [100, 200, 300, 500, 1000, 1000, 1200, 1300])})
    exif = {0xA002: value(4, [2304]), 0xA003: value(4, [1728])}
    info = shot(tmp_path, "FUJIFILM", "FinePix E500", note, exif=exif, size=(1152, 864))
    assert info.focus_point_source == "Fujifilm:FocusPixel" and near(info.focus_points, [(576, 432)])
    assert info.faces_source == "Fujifilm:FacePositions"
    assert info.faces == [pytest.approx((50, 100, 150, 250)), pytest.approx((500, 500, 600, 650))]


def test_fujifilm_manual_focus_out_of_frame_and_absurd_face_count(tmp_path):
    manual = fujifilm({0x1021: value(3, [1]), 0x1023: value(3, [1041, 1041])})
    info = shot(tmp_path, "FUJIFILM", "X-T3", manual, size=(2, 2))
    assert info.focus_points == [] and any("manual focus" in w for w in info.warnings)
    resized = fujifilm({0x1023: value(3, [1152, 864]), 0x4100: value(3, [60000]), 0x4103: value(3, [1, 2, 3, 4])})
    info = shot(tmp_path, "FUJIFILM", "FinePix E500", resized, exif={0xA002: value(4, [59]), 0xA003: value(4, [100])},
                size=(59, 100))
    assert info.focus_points == [] and info.faces == []
    assert any("outside the frame" in w for w in info.warnings)
    assert any("60000 faces" in w for w in info.warnings)


def test_panasonic_af_point_position_and_its_none_value(tmp_path):
    def note(position):
        return lambda pos: b"Panasonic\0\0\0" + ifd({0x004D: value(5, position)}, "<", pos + 12)
    info = shot(tmp_path, "Panasonic", "DMC-GH4", note([(1, 4), (3, 4)]), size=(800, 600))
    assert info.focus_point_source == "Panasonic:AFPointPosition" and near(info.focus_points, [(200, 450)])
    none = note([(16777216, 1), (16777216, 1)])
    assert shot(tmp_path, "Panasonic", "DMC-GH4", none).focus_points == []


def pentax(entries: dict):
    return lambda pos: b"AOC\0II" + ifd(entries, "<", pos + 6)


def test_pentax_af_info_names_and_selected_point(tmp_path):
    af_info = bytes(11) + bytes([4]) + bytes(8)                   # value 4: Mid-left and Center
    info = shot(tmp_path, "PENTAX Corporation", "PENTAX K10D", pentax({0x021F: value(7, af_info)}), size=(1000, 800))
    assert info.focus_point_source == "Pentax:AFPointsInFocus"
    assert near(info.focus_points, [(380, 400), (500, 400)])
    info = shot(tmp_path, "PENTAX Corporation", "PENTAX K10D", pentax({0x000E: value(3, [8])}), size=(1000, 800))
    assert info.focus_point_source == "Pentax:AFPointSelected" and near(info.focus_points, [(680, 400)])
    manual = pentax({0x000D: value(3, [3]), 0x021F: value(7, af_info)})
    info = shot(tmp_path, "PENTAX Corporation", "PENTAX K10D", manual)
    assert info.focus_points == [] and any("manual focus" in w for w in info.warnings)


@pytest.mark.parametrize("raw,expected", [([176, 352, 60, 240], (320, 120)), ([65535] * 4, None)])
def test_casio_af_point_position_is_a_pair_of_fractions(tmp_path, raw, expected):
    def build(pos):
        return b"QVC\0\0\0" + ifd({0x2021: value(3, raw), 0x3003: value(3, [3])}, "<", pos + 6)
    info = shot(tmp_path, "CASIO COMPUTER CO.,LTD.", "EX-Z3", build)
    assert (info.focus_points == [] if expected is None else near(info.focus_points, [expected]))


# --- XMP: GFocus and MWG regions ---------------------------------------------------------------------

MWG_ELEMENTS = b"""<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"
 xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#" xmlns:stDim="http://ns.adobe.com/xap/1.0/sType/Dimensions#">
<mwg-rs:Regions rdf:parseType="Resource"><mwg-rs:RegionList><rdf:Seq>
 <rdf:li rdf:parseType="Resource"><mwg-rs:Area rdf:parseType="Resource"><stArea:y>0.5</stArea:y><stArea:w>0.1</stArea:w>
  <stArea:x>0.25</stArea:x><stArea:h>0.2</stArea:h><stArea:unit>normalized</stArea:unit></mwg-rs:Area>
  <mwg-rs:Type>Face</mwg-rs:Type></rdf:li>
 <rdf:li><rdf:Description mwg-rs:Type="Focus" mwg-rs:FocusUsage="EvaluatedUsed">
  <mwg-rs:Area stArea:x="0.75" stArea:y="0.25" stArea:w="0" stArea:h="0" stArea:unit="normalized"/></rdf:Description></rdf:li>
 <rdf:li rdf:parseType="Resource"><mwg-rs:Type>Pet</mwg-rs:Type><mwg-rs:Area stArea:x="0.1" stArea:y="0.1"/></rdf:li>
</rdf:Seq></mwg-rs:RegionList>
<mwg-rs:AppliedToDimensions stDim:w="%d" stDim:h="%d" stDim:unit="pixel"/></mwg-rs:Regions>
</rdf:Description></rdf:RDF></x:xmpmeta>"""


def test_mwg_faces_and_focus_regions_in_every_rdf_form(tmp_path):
    info = shot(tmp_path, "Apple", "iPhone 5s", xmp=MWG_ELEMENTS % (800, 600), size=(800, 600))
    assert info.faces_source == "XMP:mwg-rs:Face"
    assert info.faces == [pytest.approx((160, 240, 240, 360))]
    assert info.focus_point_source == "XMP:mwg-rs:Focus" and near(info.focus_points, [(600, 150)])


def test_mwg_regions_describe_the_stored_frame_unless_measured_upright(tmp_path):
    stored = shot(tmp_path, "Apple", "iPhone", xmp=MWG_ELEMENTS % (800, 600), size=(800, 600), orientation=6)
    # stored (200, 300) -> orientation 6 -> (600 - 300, 200)
    assert stored.faces == [pytest.approx((600 - 360, 160, 600 - 240, 240))]
    upright = shot(tmp_path, "Apple", "iPhone", xmp=MWG_ELEMENTS % (600, 800), size=(800, 600), orientation=6)
    assert upright.faces == [pytest.approx((600 * 0.2, 800 * 0.4, 600 * 0.3, 800 * 0.6))]


@pytest.mark.parametrize("packet", [
    b'<rdf:Description xmlns:GFocus="http://ns.google.com/photos/1.0/focus/" GFocus:FocalPointX="0.4351852" '
    b'GFocus:FocalPointY="0.39444447"/>',
    b'<rdf:Description><GFocus:FocalPointX>0.4351852</GFocus:FocalPointX>'
    b'<GFocus:FocalPointY>0.39444447</GFocus:FocalPointY></rdf:Description>',
])
def test_gfocus_focal_point_as_attribute_or_element(tmp_path, packet):
    info = shot(tmp_path, "Motorola", "XT912", xmp=packet, size=(1536, 2048))
    assert info.focus_point_source == "XMP:GFocus"
    assert near(info.focus_points, [(1536 * 0.4351852, 2048 * 0.39444447)], rel=1e-6)


def test_gfocus_outside_the_frame_and_foreign_namespace_are_refused():
    warnings = []
    outside = read_xmp_regions([b'<rdf:Description GFocus:FocalPointX="1.5" GFocus:FocalPointY="0.5"/>'], warnings)
    assert place_focus(outside.focus, (100, 100), None, 1, warnings).points == []
    assert any("outside the frame" in w for w in warnings)
    foreign = b'<rdf:Description xmlns:GFocus="http://example.com/" GFocus:FocalPointX="0.5" GFocus:FocalPointY="0.5"/>'
    assert read_xmp_regions([foreign], []).focus == []


@pytest.mark.parametrize("packet", [
    b'<a x="' * 60_000,                                          # quotes never close
    b"<a>" * 100_000,                                            # nesting without end
    b"<mwg-rs:Regions><mwg-rs:RegionList><rdf:Bag>" + b'<rdf:li mwg-rs:Type="Face"/>' * 20_000,
    b"<!--" + b"<a " * 100_000,
    b"</a>" * 100_000 + b"<b",
])
def test_hostile_xmp_is_read_in_bounded_time(packet):
    start = time.perf_counter()
    warnings = []
    regions = read_xmp_regions([packet], warnings)
    assert time.perf_counter() - start < 2.0
    assert regions.faces == []


# --- precedence, JSON, CLI ---------------------------------------------------------------------------

def test_precedence_most_specific_first_and_a_refused_record_falls_through():
    warnings = []
    records = [AfRecord("Canon:ShotInfo", (AfArea(0.32, 0.5),)),
               AfRecord("EXIF:SubjectArea", (AfArea(100, 50),), frame=None),
               AfRecord("Canon:AFInfo2", (AfArea(5000, 10),), frame=(4000, 3000))]   # outside its frame
    placed = place_focus(records, (400, 300), (400, 300), 1, warnings)
    assert placed.source == "EXIF:SubjectArea" and placed.points == [(100, 50)]
    assert warnings == ["ignored focus point outside the frame (Canon:AFInfo2)"]
    assert place_focus(records[:1], None, None, 1, warnings).points == []
    assert "image size unknown" in warnings[-1]


def test_json_and_table_show_the_focus_point(tmp_path):
    path = tmp_path / "p.jpg"
    path.write_bytes(jpeg(tiff("Apple", "iPhone", {0x9214: value(3, [320, 120, 64, 32])}, ifd0={0x0112: value(3, [8])})))
    result = CliRunner().invoke(app, ["info", str(path), "--json"])
    obj = json.loads(result.stdout)[0]
    # orientation 8: stored (x, y) -> (y, 640 - x)
    assert obj["focus_points"] == [[120, 320]] and obj["focus_area"] == [104, 288, 136, 352]
    assert obj["focus_point_source"] == "EXIF:SubjectArea" and obj["faces"] == [] and obj["faces_source"] is None
    table = CliRunner().invoke(app, ["info", str(path)], env={"COLUMNS": "200"})
    row = next(line for line in table.stdout.splitlines() if "AF point" in line)
    assert "at (120, 320)" in row and "EXIF:SubjectArea" in row
