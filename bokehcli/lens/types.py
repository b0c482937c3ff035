"""LensInfo: what a photo's metadata says about its lens, with the source of every value."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

JSON_KEYS = ("path", "make", "model", "width", "height", "orientation", "focal_mm", "focal_35mm",
             "crop_factor", "sensor_diagonal_mm", "f_number", "focus_m", "focus_near_m",
             "focus_far_m", "focus_infinite", "focus_source", "embedded_depth", "warnings")


@dataclass
class LensInfo:
    """Lens parameters of one photo (SPEC §2). Unknown values are None.

    Focus: ``focus_m`` is the distance the lens was focused at, None when unknown or infinite
    (then ``focus_infinite`` is True). When the metadata gives a range, ``focus_near_m`` and
    ``focus_far_m`` are its bounds (``focus_far_m`` may be ``math.inf``) and ``focus_m`` is
    their harmonic mean ``2 / (1/near + 1/far)``: the middle of the bracket in inverse depth,
    where defocus blur is linear; an infinite far bound gives ``2 * near``.
    ``sources`` maps each found field name (``"focal_mm"``, ``"focus_m"``, ...) to its tag.
    ``width``/``height`` are the stored pixel size, before ``orientation`` is applied.
    ``embedded_depth``: what depth map the file carries (``describe_embedded_depth``), filled
    in by `bokeh info`.
    """

    path: str
    make: str | None = None
    model: str | None = None
    width: int | None = None
    height: int | None = None
    orientation: int | None = None
    focal_mm: float | None = None
    focal_35mm: float | None = None
    crop_factor: float | None = None
    sensor_diagonal_mm: float | None = None
    f_number: float | None = None
    focus_m: float | None = None
    focus_near_m: float | None = None
    focus_far_m: float | None = None
    focus_infinite: bool = False
    embedded_depth: str | None = None
    sources: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def focus_source(self) -> str | None:
        return self.sources.get("focus_m")

    def to_json(self) -> dict:
        """The SPEC §2 object; JSON has no infinity, so an infinite far bound is written as null."""
        out = {key: getattr(self, key) for key in JSON_KEYS}
        out["warnings"] = list(self.warnings)
        for key, value in out.items():
            if isinstance(value, float) and not math.isfinite(value):
                out[key] = None
        return out
