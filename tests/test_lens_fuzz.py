"""Property-based fuzzing: mutated maker notes, IFDs, JPEG headers and XMP never raise or hang.

Seeds are real maker notes from the corpus when it is present, plus constructed ones for
every decoder (focus distances and AF records), so mutations start from structurally valid
notes and reach deep code paths.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bokehcli.lens.container import Blocks, jpeg_blocks
from bokehcli.lens.exif import read_exif
from bokehcli.lens.makernotes import (apple, canon, casio, fujifilm, leica, minolta, nikon, olympus, panasonic,
                                      pentax, sanyo, sony)
from bokehcli.lens.makernotes.base import Note
from bokehcli.lens.resolve import resolve
from bokehcli.lens.tiff import read_ifd
from bokehcli.lens.xmp_regions import read_xmp_regions
from hang_guard import watchdog
from lens_builder import ifd, jpeg, tiff, value

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "exif-corpus"
DECODERS = (apple, canon, casio, leica, minolta, nikon, olympus, sanyo, sony)
AF_DECODERS = (canon, casio, fujifilm, nikon, olympus, panasonic, pentax, sony)


def _constructed_seeds() -> list[tuple[str, str, bytes]]:
    shot = [68] + [0] * 33
    shot[19], shot[20], shot[14] = 0xFFFF, 300, 0x3006
    lens = b"0204" + bytes(range(40))
    # Canon AFInfo2 (9 points, 2 in focus) and AFInfo (9 points, PowerShot)
    af2 = [0, 2, 9, 9, 5184, 3456, 5184, 3456] + [139] * 9 + [186] * 9 + [0xFA3B, 0, 886, 0, 0, 0, 0, 0, 0] \
        + [0, 418, 0, 787, 0, 0, 0, 0, 0] + [0b110, 0b1, 0]
    af2[0] = 2 * len(af2)
    af1 = [9, 9, 2272, 1704, 2272, 284, 409, 51] + [0xFE67, 0, 409] * 3 + [0xFFCC] * 3 + [0] * 3 + [52] * 3 + [0b101]
    af_info2 = b"0100" + bytes([1, 0, 1, 1]) + bytes([0x81, 0, 0, 0, 0, 0x20, 0]) + bytes(1) \
        + struct.pack(">7H", 640, 480, 160, 120, 64, 48, 0x0100) + bytes(18)
    areas = [0x71_6B_8E_91, 0x10_10_20_20] + [0] * 62
    olympus_main = len(ifd({0x2020: value(13, [0])}, "<", 12))
    notes = [
        ("Canon", "Canon EOS 5D", lambda pos: ifd({0x0004: value(3, shot), 0x0093: value(3, shot),
                                                   0x0026: value(3, af2), 0x003C: value(3, af2)}, "<", pos)),
        ("Canon", "Canon PowerShot A520", lambda pos: ifd({0x0004: value(3, shot), 0x0012: value(3, af1)}, "<", pos)),
        ("NIKON CORPORATION", "NIKON D300", lambda pos: b"Nikon\0\x02\x10\0\0MM\0*\0\0\0\x08" + ifd(
            {0x001D: value(2, "4012345", ">"), 0x00A7: value(4, [9], ">"), 0x0098: value(7, lens),
             0x0088: value(7, bytes([1, 2, 0, 0b101])), 0x00B7: value(7, af_info2)}, ">", 8)),
        ("OLYMPUS IMAGING CORP.", "E-P3", lambda pos: b"OLYMPUS\0II\x03\0" + ifd(
            {0x2020: value(13, [12 + olympus_main])}, "<", 12) + ifd(
            {0x0302: value(3, [1]), 0x0304: value(4, areas), 0x0305: value(10, [(0, 0), (1, 2), (1, 2), (1, 2), (1, 2)])},
            "<", 12 + olympus_main)),
        ("SONY", "ILCE-7M3", lambda pos: b"SONY DSC \0\0\0" + ifd(
            {0x2027: value(3, [6000, 4000, 1500, 3000])}, "<", pos + 12)),
        ("FUJIFILM", "X-T3", lambda pos: b"FUJIFILM" + struct.pack("<I", 12) + ifd(
            {0x1021: value(3, [0]), 0x1023: value(3, [320, 240]), 0x4100: value(3, [2]),
             0x4103: value(3, [100, 200, 300, 400, 400, 100, 500, 300])}, "<", 12)),
        ("Panasonic", "DMC-GH4", lambda pos: b"Panasonic\0\0\0" + ifd(
            {0x0007: value(3, [1]), 0x004D: value(5, [(1, 4), (3, 4)])}, "<", pos + 12)),
        ("PENTAX Corporation", "PENTAX K10D", lambda pos: b"AOC\0II" + ifd(
            {0x000D: value(3, [16]), 0x000E: value(3, [6]), 0x021F: value(7, bytes(11) + bytes([4]) + bytes(8))},
            "<", pos + 6)),
        ("CASIO COMPUTER CO.,LTD.", "EX-Z3", lambda pos: b"QVC\0\0\0" + ifd(
            {0x2021: value(3, [176, 352, 120, 240]), 0x3003: value(3, [3])}, "<", pos + 6)),
        ("OLYMPUS IMAGING CORP.", "E-P3", lambda pos: b"OLYMPUS\0II\x03\0" + ifd(
            {0x2050: value(13, [30]), 0x0205: value(5, [(216, 10)])}, "<", 12)
            + ifd({0x0305: value(5, [(250, 10)])}, "<", 30)),
        ("Apple", "iPhone 7", lambda pos: b"Apple iOS\0\0\x01MM" + ifd(
            {0x000C: value(10, [(5, 10), (7, 10)], ">")}, ">", 14)),
        ("CASIO", "EX-Z3", lambda pos: b"QVC\0\0\0" + ifd({0x2022: value(4, [1000])}, "<", pos + 6)),
        ("Minolta Co., Ltd.", "DiMAGE 7", lambda pos: ifd({0x0003: value(7, bytes(160))}, "<", pos)),
        ("SONY", "ILCE-7", lambda pos: b"SONY DSC \0\0\0" + ifd({0x9402: value(7, bytes(64))}, "<", pos + 12)),
        ("LEICA CAMERA AG", "T", lambda pos: b"LEICA\0\x06\0" + ifd({0x040A: value(3, [568, 1, 2, 3])}, "<", 8)),
        ("SANYO", "VPC", lambda pos: b"SANYO\0\x01\0" + ifd({0x0223: value(5, [(1, 1)])}, "<", pos + 8)),
    ]
    exif = {0x920A: value(5, [(50, 1)]), 0x9214: value(3, [320, 240, 64, 48]), 0xA214: value(3, [320, 240]),
            0xA002: value(4, [640]), 0xA003: value(4, [480])}
    return [(make, model, tiff(make, model, exif, note=build, ifd0={0x0112: value(3, [6])}))
            for make, model, build in notes]


def _corpus_seeds() -> list[tuple[str, str, bytes]]:
    if not CORPUS.is_dir():
        return []
    seeds = []
    for folder in ("Canon", "Nikon", "Olympus", "Apple", "Casio", "Minolta", "Leica", "Sanyo", "Sony",
                   "Fujifilm", "Panasonic", "Pentax"):
        for path in sorted((CORPUS / folder).glob("*.jpg"))[:2]:
            block = jpeg_blocks(io.BytesIO(path.read_bytes())).tiff
            exif = read_exif(block) if block else None
            if exif is not None and exif.maker_note is not None:
                seeds.append((exif.make or "", exif.model or "", block))
    return seeds


SEEDS = _constructed_seeds() + _corpus_seeds()


def _note(make: str, model: str, block: bytes) -> Note | None:
    exif = read_exif(block)
    if exif is None or exif.maker_note is None:
        return None
    return Note(block, exif.maker_note.data_pos, len(exif.maker_note.data), exif.order, make, model)


@st.composite
def mutated_blocks(draw):
    make, model, block = draw(st.sampled_from(SEEDS))
    data = bytearray(block)
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["set", "word", "cut", "insert"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "set" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "word" and len(data) > at + 4:   # plant absurd counts/offsets
            data[at:at + 4] = draw(st.sampled_from([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00",
                                                    b"\xff\xff\x00\x00", b"\x00\x00\xff\xff"]))
        elif kind == "cut":
            del data[at:]
        else:
            data[at:at] = draw(st.binary(max_size=16))
    return make, model, bytes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_blocks())
def test_decoders_survive_mutated_notes(case):
    make, model, block = case
    with watchdog():
        note = _note(make, model, block)
        if note is not None:
            for decoder in DECODERS:
                decoder.read(note)
            for decoder in AF_DECODERS:
                decoder.read_af(note)
        info = resolve("fuzz.jpg", Blocks(tiff=block, width=640, height=480))
        info.to_json()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512), st.integers(0, 600), st.sampled_from("<>"), st.integers(-64, 600))
def test_ifd_reader_survives_arbitrary_bytes(buf, pos, order, base):
    entries, _ = read_ifd(buf, pos, order, base)
    for entry in entries.values():
        entry.numbers(), entry.rationals(), entry.text()
        assert entry.data == b"" or 0 <= entry.data_pos <= len(buf)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=256), st.binary(max_size=64))
def test_jpeg_walker_and_xmp_survive_noise(noise, xmp_noise):
    blocks = jpeg_blocks(io.BytesIO(jpeg(noise, xmp=xmp_noise)))
    resolve("noise.jpg", blocks).to_json()
    jpeg_blocks(io.BytesIO(b"\xff\xd8" + noise))


MWG = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       b'<rdf:Description xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/" '
       b'xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#" GFocus:FocalPointX="0.4" GFocus:FocalPointY="0.6">'
       b'<mwg-rs:Regions rdf:parseType="Resource"><mwg-rs:RegionList><rdf:Bag><rdf:li rdf:parseType="Resource">'
       b'<mwg-rs:Type>Face</mwg-rs:Type><mwg-rs:Area stArea:x="0.5" stArea:y="0.5" stArea:w="0.1" stArea:h="0.2" '
       b'stArea:unit="normalized"/></rdf:li></rdf:Bag></mwg-rs:RegionList></mwg-rs:Regions>'
       b'</rdf:Description></rdf:RDF></x:xmpmeta>')


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(MWG)), st.integers(0, 40), st.binary(max_size=12)), max_size=8),
       st.sampled_from([None, 1, 6, 8]))
def test_xmp_regions_survive_mutated_packets(edits, orientation):
    data = bytearray(MWG)
    for at, cut, insert in edits:
        data[at:at + cut] = insert
    with watchdog():
        warnings = []
        read_xmp_regions([bytes(data)], warnings, (640, 480), orientation)
        resolve("fuzz.jpg", Blocks(xmp=[bytes(data)], width=640, height=480)).to_json()
