"""Fuzzing: depth-carrying files with random damage (bit flips, overwritten words, cuts,
insertions) never raise (beyond InputError for a file no longer an image at all), never hang,
and give at most one warning; extended-XMP reassembly accepts exactly the complete, consistent
portion sets."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bokehcli.errors import InputError
from bokehcli.lens.container import ExtendedXmpChunk
from bokehcli.lens.embedded_depth import describe_embedded_depth, read_embedded_depth
from bokehcli.lens.embedded_depth.dynamic_depth import jpeg_end
from bokehcli.lens.embedded_depth.model import DepthProblem
from bokehcli.lens.embedded_depth.xmpdoc import reassemble
from embedded_depth_files import build_dynamic_depth_jpeg, build_mpf_jpeg, disparity_fields, secondary_jpeg
from gdepth_builder import build_gdepth_jpeg, encode_range
from hang_guard import watchdog

H, W = 24, 32


def _seeds() -> dict[str, bytes]:
    with tempfile.TemporaryDirectory() as folder:
        return _seed_files(Path(folder))


def _seed_files(folder: Path) -> dict[str, bytes]:
    rng = np.random.default_rng(3)
    srgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    depth = 0.5 + rng.random((H, W)) * 5
    samples = encode_range(depth, 0.5, 5.5, "RangeInverse", 8)
    files = {
        "gdepth": build_gdepth_jpeg(folder / "g.jpg", srgb, depth, 0.5, 5.5, (3.0, 4.0), 2.0, portion_bytes=300),
        "gdepth-main": build_gdepth_jpeg(folder / "s.jpg", srgb, depth, 0.5, 5.5, None, None, "RangeLinear", extended=False),
        "dynamic": build_dynamic_depth_jpeg(folder / "d.jpg", srgb, samples, 0.5, 5.5),
        "mpf": build_mpf_jpeg(folder / "m.jpg", srgb, [secondary_jpeg(samples, disparity_fields(0.2, 2.0))]),
    }
    return {name: path.read_bytes() for name, path in files.items()}


SEEDS = _seeds()


@st.composite
def damaged(draw):
    name = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[name])
    for _ in range(draw(st.integers(1, 8))):
        if len(data) < 4:
            break
        kind = draw(st.sampled_from(["flip", "word", "cut", "insert"]))
        at = draw(st.integers(2, len(data) - 1))     # keep SOI: a JPEG that stays a JPEG
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "word" and at + 4 <= len(data):
            data[at:at + 4] = draw(st.sampled_from([b"\xff\xff\xff\xff", b"\0\0\0\0", b"\xff\xd9\xff\xd8", b"\x7f\xff\0\0"]))
        elif kind == "cut":
            del data[at:]
        else:
            data[at:at] = draw(st.binary(max_size=24))
    return name, bytes(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(damaged())
def test_damaged_files_never_raise_or_hang(tmp_path, case):
    name, data = case
    path = tmp_path / f"{name}.jpg"
    path.write_bytes(data)
    with watchdog():
        try:
            found, warnings = read_embedded_depth(path, (W, H), 1)
            describe_embedded_depth(path)
        except InputError:
            return                                   # no longer an image at all
    assert len(warnings) <= 1 and all(str(path) in line and "\n" not in line for line in warnings)
    if found is not None:
        assert found.depth_m.shape == (H, W) and found.depth_m.dtype == np.float32


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=200), st.lists(st.tuples(st.integers(0, 260), st.integers(0, 80),
                                                                st.integers(150, 260), st.booleans()), max_size=8))
def test_reassembly_accepts_exactly_complete_consistent_portions(packet, layout):
    guid = hashlib.md5(packet).hexdigest().upper()
    chunks = [ExtendedXmpChunk(guid if same_guid else "F" * 32, full, offset, packet[offset:offset + size])
              for offset, size, full, same_guid in layout]
    try:
        result = reassemble(chunks, guid, "test")
    except DepthProblem:
        return
    assert result == packet


def test_reassembly_in_any_order():
    packet = bytes(range(256)) * 3
    guid = hashlib.md5(packet).hexdigest().upper()
    chunks = [ExtendedXmpChunk(guid, len(packet), offset, packet[offset:offset + 100]) for offset in range(0, 768, 100)]
    assert reassemble(chunks[::-1], guid, "t") == packet
    with pytest.raises(DepthProblem, match="missing"):
        reassemble(chunks[:3] + chunks[4:], guid, "t")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_jpeg_end_on_noise(noise):
    end = jpeg_end(b"\xff\xd8" + noise)
    assert end is None or 4 <= end <= len(noise) + 2
