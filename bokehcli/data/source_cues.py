"""Cue maps of a data set's source photo, for models that take them (``config.cue_channels``).

The cues are those ``bokeh render`` computes for a photo (:mod:`bokehcli.cues.photo`), read from
the source image and its EXIF, so a model trains and is evaluated on the inputs it will see:
the focus target is the camera's AF point or subject area where the file records one (``bokeh
synth`` records the object its lens focused on), else faces, the salient region, the centre.
Maps are computed once per photo and process (they cost ~0.1-0.5 s; a training run reads each
source many times) and kept at cue size in float16; callers resize them to the frame.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from ..cues.maps import cue_maps, resize_maps
from ..cues.photo import cues_of, find_focus_target
from ..imageio import load_photo
from ..lens import read_lens

CACHED_PHOTOS = 512


@functools.lru_cache(maxsize=CACHED_PHOTOS)
def _cue_maps_at_cue_size(path: Path) -> np.ndarray:
    info = read_lens(path)
    found = find_focus_target(load_photo(path).srgb, info)
    cues = cues_of(found, info)
    return cue_maps(cues, cues.matte.shape).astype(np.float16)


def source_cue_maps(path: Path, size_hw: tuple[int, int]) -> np.ndarray:
    """(K, H, W) float32 cue maps of the photo at ``path``, at ``size_hw`` (its size)."""
    return resize_maps(_cue_maps_at_cue_size(Path(path)), size_hw)
