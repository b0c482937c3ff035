"""Depth maps the camera already recorded in the photo.

Readers, tried in this order, the first usable map winning:

- ``dynamic_depth``: Android Dynamic Depth 1.0 (map appended after the JPEG, XMP directory);
- ``gdepth``: Google's GDepth/GFocus XMP (map base64 in standard or extended XMP);
- ``apple``: iPhone JPEG MPF secondary images identified by their Apple XMP, and HEIC depth
  and portrait-matte auxiliary images through the optional pillow-heif.

Every reader parses untrusted bytes within fixed bounds (packet, item and pixel caps). A map
that is present but damaged or inconsistent gives one warning line naming the file and the
problem, never an exception; only a file that cannot be read at all raises ``InputError``.
"""

from __future__ import annotations

import os

from ..container import read_blocks
from . import apple, dynamic_depth, gdepth
from .model import DepthProblem, EmbeddedDepth

__all__ = ["EmbeddedDepth", "describe_embedded_depth", "read_embedded_depth"]



def read_embedded_depth(path: str | os.PathLike, size_wh: tuple[int, int],
                        orientation: int | None) -> tuple[EmbeddedDepth | None, list[str]]:
    """The depth map stored in ``path``, upright and resampled to the upright photo size
    ``size_wh``, with warnings (one line each, naming the file).

    ``orientation`` is the photo's EXIF orientation (1..8; None means 1): maps in JPEGs are
    stored in the stored frame and turned upright with it. Returns ``(None, warnings)`` when
    the file carries no usable map; each damaged map found on the way adds one warning.
    """
    blocks = read_blocks(path)
    warnings: list[str] = []
    notes: list[str] = []
    attempts = (
        lambda: dynamic_depth.read(blocks, path, size_wh, orientation),
        lambda: gdepth.read(blocks, size_wh, orientation),
        lambda: apple.read_mpf(blocks, path, size_wh, orientation, notes),
        lambda: apple.read_heic(path, size_wh, notes),
    )
    for attempt in attempts:
        try:
            found = attempt()
        except DepthProblem as problem:
            warnings.append(f"{path}: embedded depth map ignored ({problem.source}): {problem.problem}")
            continue
        except MemoryError:
            warnings.append(f"{path}: embedded depth map ignored: too large to decode (out of memory)")
            continue
        if found is not None:
            return found, warnings + [f"{path}: {note}" for note in notes]
    return None, warnings


def describe_embedded_depth(path: str | os.PathLike) -> str | None:
    """One line saying what depth map ``path`` carries, e.g. ``"GDepth (extended XMP) 1024x768
    PNG RangeInverse"`` (the map's stored size, image format and encoding), or
    ``"<source> (unusable: <problem>)"`` when the only map found is damaged; None without one.
    Reads headers only, never the map's pixels."""
    blocks = read_blocks(path)
    describers = (
        lambda: dynamic_depth.describe(blocks, path),
        lambda: gdepth.describe(blocks),
        lambda: apple.describe_mpf(blocks, path),
        lambda: apple.describe_heic(path),
    )
    unusable = None
    for describe in describers:
        try:
            text = describe()
        except DepthProblem as problem:
            unusable = unusable or f"{problem.source} (unusable: {problem.problem})"
            continue
        if text is not None:
            return text
    return unusable
