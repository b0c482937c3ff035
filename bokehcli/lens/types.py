"""LensMetadata: what a photo's metadata says about its lens, with the source of every value."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

JSON_KEYS = ("path", "make", "model", "lens_make", "lens_model", "lens_spec", "width", "height", "orientation", "focal_mm", "focal_35mm",
             "crop_factor", "sensor_diagonal_mm", "f_number", "focus_m", "focus_near_m",
             "focus_far_m", "focus_infinite", "focus_source", "focus_points", "focus_area",
             "focus_point_source", "faces", "faces_source", "embedded_depth", "warnings")
# The JSON key is the published, spelled-out name; the attribute uses the short spelling the code
# uses everywhere (``sensor_diag_mm``).
_ATTRIBUTE_OF_KEY = {"sensor_diagonal_mm": "sensor_diag_mm"}


class LensWarning(str):
    """A warning's text, and which of the lens values it concerns (``about``): "sensor" (crop
    factor, sensor size), "focus_m" (the focus distance) or "focus_point" (AF points and faces),
    None for the file as a whole. A value the user sets on the command line makes the file's
    warnings about it moot (a render shows only the others)."""

    about: str | None

    def __new__(cls, text: str, about: str | None = None) -> LensWarning:
        warning = super().__new__(cls, text)
        warning.about = about
        return warning


@dataclass
class LensMetadata:
    """Lens parameters of one photo as its file states them. Unknown values are None.

    Focus: ``focus_m`` is the distance the lens was focused at, None when unknown or infinite
    (then ``focus_infinite`` is True). When the metadata gives a range, ``focus_near_m`` and
    ``focus_far_m`` are its bounds (``focus_far_m`` may be ``math.inf``) and ``focus_m`` is
    their harmonic mean ``2 / (1/near + 1/far)``: the middle of the bracket in inverse depth,
    where defocus blur is linear; an infinite far bound gives ``2 * near``.
    ``sources`` maps each found field name (``"focal_mm"``, ``"focus_m"``, ...) to its tag.
    ``width``/``height`` are the stored pixel size, before ``orientation`` is applied.

    Where the camera focused, in upright pixels of the full image (``orientation`` applied):
    ``focus_points`` are the centres of the AF points in focus (``[]`` when none is known),
    ``focus_area`` their bounding box ``(x0, y0, x1, y1)`` including the AF areas' size where
    the record gives it, ``focus_point_source`` the tag (e.g. ``"Canon:AFInfo2"``). ``faces``
    are face boxes ``(x0, y0, x1, y1)`` from the metadata, with ``faces_source``.
    The lens: ``lens_model`` (and ``lens_make``) as the file names it, ``lens_spec`` its
    shortest and longest focal length (mm) and smallest f-number at each (0 = unknown), as in
    EXIF LensSpecification; from standard EXIF, else the maker note.
    ``embedded_depth``: what depth map the file carries (``describe_embedded_depth``), filled
    in by `bokeh info`.
    """

    path: str
    make: str | None = None
    model: str | None = None
    lens_make: str | None = None
    lens_model: str | None = None
    lens_spec: tuple[float, float, float, float] | None = None
    width: int | None = None
    height: int | None = None
    orientation: int | None = None
    focal_mm: float | None = None
    focal_35mm: float | None = None
    crop_factor: float | None = None
    sensor_diag_mm: float | None = None
    f_number: float | None = None
    focus_m: float | None = None
    focus_near_m: float | None = None
    focus_far_m: float | None = None
    focus_infinite: bool = False
    focus_points: list[tuple[float, float]] = field(default_factory=list)
    focus_area: tuple[float, float, float, float] | None = None
    focus_point_source: str | None = None
    faces: list[tuple[float, float, float, float]] = field(default_factory=list)
    faces_source: str | None = None
    embedded_depth: str | None = None
    sources: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def focus_source(self) -> str | None:
        return self.sources.get("focus_m")

    def to_json(self) -> dict:
        """The `bokeh info --json` object (docs/formats.md#render-outputs); JSON has no infinity, so an infinite far bound is written as null."""
        out = {key: getattr(self, _ATTRIBUTE_OF_KEY.get(key, key)) for key in JSON_KEYS}
        out["warnings"] = list(self.warnings)
        out["lens_spec"] = list(self.lens_spec) if self.lens_spec is not None else None
        out["focus_points"] = [_pixels(point) for point in self.focus_points]
        out["focus_area"] = _pixels(self.focus_area) if self.focus_area is not None else None
        out["faces"] = [_pixels(box) for box in self.faces]
        for key, value in out.items():
            if isinstance(value, float) and not math.isfinite(value):
                out[key] = None
        return out


def _pixels(values) -> list[float]:
    """Pixel coordinates for JSON: a list, to a hundredth of a pixel."""
    return [round(v, 2) for v in values]
