"""What an embedded depth reader returns, and how it reports a map it cannot use."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class EmbeddedDepth:
    """A depth map a camera stored in the photo, ready for the renderer.

    ``depth_m``: float32 (H, W), upright, the size of the upright photo; metres when ``metric``,
    otherwise relative units (larger is farther) that the caller anchors at the focus point
    (``bokehcli.depth_sources.anchor``). NaN is unknown, +inf infinitely far.
    ``source``: where it came from, e.g. ``"GDepth (extended XMP)"``.
    ``focus_xy``: the recorded focus point in upright pixel coordinates (x right, y down, pixel
    ``(i, j)`` covering ``[j, j+1) x [i, i+1)``), or None.
    ``focus_m``: the recorded focus distance in the units of ``depth_m`` (metres when
    ``metric``), or None.
    ``matte``: float32 (H, W) in [0, 1], the subject matte (1 = subject) when the file has one.
    """

    depth_m: np.ndarray
    metric: bool
    source: str
    focus_xy: tuple[float, float] | None
    focus_m: float | None
    matte: np.ndarray | None = None


class DepthProblem(Exception):
    """An embedded depth map that is present but unusable: damaged, inconsistent or of a kind
    bokeh does not read. ``source`` names the map, the message says what is wrong with it."""

    def __init__(self, source: str, problem: str):
        super().__init__(problem)
        self.source = source
        self.problem = problem
