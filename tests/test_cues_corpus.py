"""The photo's cues on real camera photos (../shared/exif-corpus) where the answer is known from
the scene itself.

Flat scenes seen from above (a leaf on asphalt, a book on a woven mat): the surface around the
subject lies in the subject's own plane, and the lens that took them (``c_inf`` 10-12 cue px)
would have blurred it had it been far; the estimator reads it sharp. So the cue depth must keep
the surface near the focus plane, not drop it to the layout's distant background (which a
reading of blur that trusts only "blurred, so far", or that discounts "sharp, so near", does).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bokehcli.cues.photo import cues_of, find_focus_target
from bokehcli.imageio import load_photo
from bokehcli.lens import read_lens

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "exif-corpus"
FLAT_FROM_ABOVE = ("Canon/Canon PowerShot A610.jpg", "Nikon/Nikon D90.jpg")
pytestmark = pytest.mark.skipif(not all((CORPUS / name).is_file() for name in FLAT_FROM_ABOVE),
                                reason=f"real-camera corpus not found at {CORPUS}")


@pytest.mark.parametrize("name", FLAT_FROM_ABOVE)
def test_a_flat_scene_seen_from_above_stays_near_the_focus_plane(name):
    info = read_lens(CORPUS / name)
    found = find_focus_target(load_photo(CORPUS / name).srgb, info)
    cues = cues_of(found, info)
    surface = cues.matte < 0.05
    assert surface.mean() > 0.3                      # most of the frame is the surface around it
    assert np.median(cues.relative_inv_depth[surface]) > 0.85
