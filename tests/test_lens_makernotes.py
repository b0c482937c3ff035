"""Per-maker decoders on constructed maker notes (layouts, units, sentinels, base offsets)."""

from __future__ import annotations

import math
import struct

import pytest

from bokehcli.lens.makernotes import apple, canon, casio, leica, minolta, nikon, olympus, sanyo, sony
from bokehcli.lens.makernotes.base import Note
from bokehcli.lens.makernotes.nikon_cipher import XLAT, decrypt
from bokehcli.lens.xmp import read_xmp_focus
from lens_builder import ifd, tiff, value


def note_in(make: str, model: str, build, order: str = "<") -> Note:
    """Place the note built by ``build(pos)`` in a TIFF and return it as the decoders see it."""
    block = tiff(make, model, note=build, order=order)
    size = len(build(0))
    pos = block.index(build(_find_pos(block, build, size)))
    return Note(block, pos, size, order, make, model)


def _find_pos(block: bytes, build, size: int) -> int:
    for pos in range(len(block) - size + 1):
        if block[pos:pos + size] == build(pos):
            return pos
    raise AssertionError("note not found")


def canon_note(shot: list[int], order: str = "<", moved_by: int = 0):
    def build(pos):
        body = ifd({0x0004: value(3, shot, order)}, order, pos, base=moved_by)
        if moved_by:
            body += (b"II*\0" if order == "<" else b"MM\0*") + struct.pack(order + "I", (pos - moved_by) & 0xFFFFFFFF)
        return body
    return build


def shot_info(upper: int, lower: int) -> list[int]:
    shot = [68] + [0] * 33
    shot[19], shot[20] = upper, lower
    return shot


def test_canon_eos_range_in_cm_with_infinity_sentinel():
    reading = canon.read(note_in("Canon", "Canon EOS 5D", canon_note(shot_info(0xFFFF, 250))))
    assert reading.source == "Canon:ShotInfo"
    assert reading.distances_m == (2.5, math.inf)
    swapped = canon.read(note_in("Canon", "Canon EOS 5D", canon_note(shot_info(200, 600))))
    assert swapped.distances_m == (2.0, 6.0)                  # near first, whatever the order stored


def test_canon_footer_corrects_the_base_of_a_moved_note():
    moved = note_in("Canon", "Canon EOS 5D", canon_note(shot_info(300, 200), moved_by=40))
    assert canon.read(moved).distances_m == (2.0, 3.0)


def test_canon_note_in_the_other_byte_order_than_the_tiff_is_detected():
    def build(pos):  # little-endian note inside a big-endian TIFF, no footer
        return ifd({0x0004: value(3, shot_info(300, 200), "<")}, "<", pos)
    note = note_in("Canon", "Canon EOS 5D", build, order=">")
    assert canon.read(note).distances_m == (2.0, 3.0)


def test_canon_compact_reads_upper_only_and_warns_about_scale():
    reading = canon.read(note_in("Canon", "Canon PowerShot S40", canon_note(shot_info(782, 0))))
    assert reading.distances_m == (7.82,)
    assert reading.warnings


def nikon_note(lens_data: bytes, serial: str = "4012345", count: int = 12345):
    def build(pos):  # offsets count from the embedded TIFF header at note byte 10
        inner = ifd({0x001D: value(2, serial, ">"), 0x00A7: value(4, [count], ">"),
                     0x0098: value(7, lens_data)}, ">", 8)
        return b"Nikon\0\x02\x10\0\0" + b"MM\0*" + struct.pack(">I", 8) + inner
    return build


@pytest.mark.parametrize("version,at", [(b"0204", 0x0A), (b"0201", 0x09)])
def test_nikon_encrypted_lens_data_decodes_the_log_distance(version, at):
    plain = bytearray(version + bytes(0x2C))
    plain[at] = 120                                   # 0.01 * 10**(120/40) = 10 m
    cipher = bytes(plain[:4]) + decrypt(bytes(plain[4:]), 4012345, 12345)
    reading = nikon.read(note_in("NIKON CORPORATION", "NIKON D300", nikon_note(cipher)))
    assert reading.source == "Nikon:LensData"
    assert reading.distances_m[0] == pytest.approx(10.0)


def test_nikon_plain_0101_lens_data():
    plain = bytearray(b"0101" + bytes(0x0E))
    plain[0x09] = 72                                  # 0.631 m
    reading = nikon.read(note_in("NIKON CORPORATION", "NIKON D70", nikon_note(bytes(plain))))
    assert reading.distances_m[0] == pytest.approx(0.01 * 10 ** 1.8)


def test_nikon_cipher_is_an_involution_and_first_table_holds_odd_primes():
    data = bytes(range(256))
    assert decrypt(decrypt(data, 123456, 789), 123456, 789) == data
    assert all(len(t) == 256 for t in XLAT)
    assert all(x % 2 and all(x % d for d in range(3, int(x ** 0.5) + 1)) for x in XLAT[0])


def olympus_note(distance_raw: tuple[int, int], diagonal=(216, 10)):
    def build(pos):  # offsets count from the note's start
        sub_at = 12 + 2 + 2 * 12 + 4
        sub = ifd({0x0305: value(5, [distance_raw])}, "<", sub_at)
        equip_at = sub_at + len(sub)
        equip = ifd({0x0103: value(5, [diagonal])}, "<", equip_at)
        main = ifd({0x2010: value(13, [equip_at]), 0x2050: value(13, [sub_at])}, "<", 12)
        return b"OLYMPUS\0II\x03\0" + main + sub + equip
    return build


def test_olympus_focus_info_numerator_is_millimetres():
    reading = olympus.read(note_in("OLYMPUS IMAGING CORP.", "E-P3", olympus_note((9020, 10))))
    assert reading.source == "Olympus:FocusInfo"
    assert reading.distances_m == (9.02,)
    assert reading.sensor_diag_mm == pytest.approx(21.6)


def test_olympus_sentinel_is_infinity():
    reading = olympus.read(note_in("OLYMPUS IMAGING CORP.", "E-P3", olympus_note((0xFFFFFFFF, 10))))
    assert reading.distances_m == (math.inf,)


def test_apple_range_is_sorted_near_far():
    def build(pos):
        body = ifd({0x000C: value(10, [(1000, 1000), (500, 1000)], ">")}, ">", 14)
        return b"Apple iOS\0\0\x01MM" + body
    reading = apple.read(note_in("Apple", "iPhone 7", build))
    assert reading.distances_m == (0.5, 1.0)


@pytest.mark.parametrize("header,tag,raw,expected", [
    (b"", 0x0006, 2500, 2.5),
    (b"QVC\0\0\0", 0x2022, 1000, 1.0),
    (b"QVC\0\0\0", 0x2022, 0x20000000, math.inf),
])
def test_casio_object_distance(header, tag, raw, expected):
    def build(pos):
        return header + ifd({tag: value(4, [raw], ">")}, ">", pos + len(header))
    reading = casio.read(note_in("CASIO COMPUTER CO.,LTD.", "EX-Z3", build, order=">"))
    assert reading.distances_m == (expected,)


@pytest.mark.parametrize("raw_mm,expected", [(2000, 2.0), (0, math.inf)])
def test_minolta_camera_settings_big_endian_whatever_the_note_order(raw_mm, expected):
    settings = [0] * 40
    settings[19], settings[10] = raw_mm, 48
    blob = struct.pack(">40I", *settings)
    reading = minolta.read(note_in("Minolta Co., Ltd.", "DiMAGE 7", lambda pos: ifd({0x0003: value(7, blob)}, "<", pos)))
    assert reading.distances_m == (expected,)
    assert reading.f_number == pytest.approx(2 ** 2.5)


def test_sony_block_is_deciphered_but_gives_no_invented_distance():
    plain = bytearray(64)
    plain[0x2D] = 100

    def build(pos):
        return b"SONY DSC \0\0\0" + ifd({0x9402: value(7, sony.encipher(bytes(plain)))}, "<", pos + 12)
    reading = sony.read(note_in("SONY", "ILCE-7M2", build))
    assert reading.source is None and not reading.distances_m
    assert "100" in reading.warnings[0]


def test_sony_cipher_is_a_bijection_on_bytes():
    data = bytes(range(256))
    assert sorted(sony.encipher(data)) == list(data)
    assert sony.decipher(sony.encipher(data)) == data
    assert sony.encipher(bytes([2])) == bytes([8]) and sony.encipher(bytes([250])) == bytes([250])


def test_leica_and_sanyo():
    def leica_build(pos):
        return b"LEICA\0\x06\0" + ifd({0x040A: value(3, [568, 18000, 0, 0])}, "<", 8)
    assert leica.read(note_in("LEICA CAMERA AG", "LEICA T", leica_build)).distances_m == (0.568,)

    def sanyo_build(pos):
        return b"SANYO\0\x01\0" + ifd({0x0223: value(5, [(3, 2)])}, "<", pos + 8)
    assert sanyo.read(note_in("SANYO Electric Co.,Ltd.", "VPC-MZ3", sanyo_build)).distances_m == (1.5,)


@pytest.mark.parametrize("packet,expected", [
    (b'<x aux:ApproximateFocusDistance="81/100"/>', ("XMP:aux:ApproximateFocusDistance", 0.81)),
    (b"<aux:ApproximateFocusDistance>4294967295/1</aux:ApproximateFocusDistance>",
     ("XMP:aux:ApproximateFocusDistance", math.inf)),
    (b"<exif:SubjectDistanceRange>1</exif:SubjectDistanceRange><exif:SubjectDistance>33.5</exif:SubjectDistance>",
     ("XMP:exif:SubjectDistance", 33.5)),
    (b'GFocus:FocalDistance="16.068678"', ("XMP:GFocus:FocalDistance", 16.068678)),
    (b'aux:ApproximateFocusDistance="0/1"', None),
    # matched by namespace: any bound prefix, not a look-alike, not inside a comment
    (b'<x xmlns:a="http://ns.adobe.com/exif/1.0/aux/" a:ApproximateFocusDistance="7/2"/>',
     ("XMP:aux:ApproximateFocusDistance", 3.5)),
    (b'<aux:ApproximateFocusDistance rdf:datatype="x">12</aux:ApproximateFocusDistance>',
     ("XMP:aux:ApproximateFocusDistance", 12.0)),
    (b'<x myaux:ApproximateFocusDistance="5"/>', None),
    (b'<!-- aux:ApproximateFocusDistance="5" --><x/>', None),
    (b'<x xmlns:aux="http://example.com/other/" aux:ApproximateFocusDistance="5"/>', None),
])
def test_xmp_focus(packet, expected):
    assert read_xmp_focus([packet]) == expected
