"""Output names (docs/formats.md#render-outputs) and the batch rules of `bokeh render`."""

from pathlib import Path

import pytest

from bokehcli.batch import OutputClaims
from bokehcli.errors import BokehError
from bokehcli.naming import depth_map_stems, depth_output_paths, depth_preview_path, is_our_output, render_path


def test_names_follow_the_published_layout(tmp_path):
    photo = tmp_path / "in" / "IMG_1.JPG"
    assert render_path(photo, None, "1.8", ".jpg") == tmp_path / "in" / "IMG_1_bokeh_f1.8.jpg"
    assert render_path(photo, tmp_path / "o", "2", ".tif") == tmp_path / "o" / "IMG_1_bokeh_f2.tif"
    assert depth_output_paths(tmp_path, "IMG_1") == (tmp_path / "IMG_1_depth.npy", tmp_path / "IMG_1_depth.png")
    assert depth_preview_path(tmp_path, "IMG_1") == tmp_path / "IMG_1_depth_preview.jpg"
    assert depth_map_stems(photo) == ("IMG_1", "IMG_1_depth")


@pytest.mark.parametrize("name,ours", [("a_bokeh_f1.8.jpg", True), ("a_depth.png", True),
                                       ("a_depth_preview.jpg", True), ("a.jpg", False), ("depthless.jpg", False)])
def test_our_outputs_are_recognised(name, ours):
    assert is_our_output(Path(name)) is ours


def test_claims_refuse_an_input_as_output_and_a_shared_output(tmp_path):
    a, b = tmp_path / "a.jpg", tmp_path / "b.jpg"
    for p in (a, b):
        p.write_bytes(b"")
    claims = OutputClaims([a, b])
    with pytest.raises(BokehError, match="is an input of this batch"):
        claims.check(a, b)
    out = tmp_path / "o" / "x_bokeh_f2.jpg"
    claims.check(a, out)
    claims.claim(a, out)
    claims.check(a, out)            # the same input again: fine
    with pytest.raises(BokehError, match=f"{b}: same output x_bokeh_f2.jpg as {a}"):
        claims.check(b, out)
