"""Real photos with hand-labelled subjects and backgrounds: is the subject kept, does the background melt?

Labels (``real_photo_labels.json``, and a second set in ``real_photo_labels_check.json``; a list):
``{"file": "<maker>/<name>.jpg" | "skimage:<name>", "subject": [[x, y], ...],
"background": [[[x, y], ...], ...], "foreground": [[[x, y], ...], ...], "note": "..."}``
(``foreground`` optional). Coordinates are
normalised to 0..1 (x over the width, y over the height) in the upright frame, after EXIF
orientation (what :func:`bokehcli.imageio.load_photo` returns). Corpus files are relative to the
camera corpus folder; ``skimage:<name>`` is ``skimage.data.<name>()`` (of a stereo pair, the left
view) written as a JPEG without EXIF. Each polygon lies inside what it labels (no pixel of the other side); backgrounds are
clearly behind the subject and textured, foregrounds clearly in front of it (the ground before
its feet, a planter before a table) and textured. A photo may have no background (a flat scene).

Metric. Luma ``Y' = 0.2126 R' + 0.7152 G' + 0.0722 B'`` (Rec. 709 weights on the sRGB-encoded
values in [0, 1], not linear light), at full resolution. Its gradient by the 3x3 Sobel operator
divided by 8 (an estimate of dY'/dx per pixel that also averages over three rows, which keeps
JPEG noise from dominating), edges replicated. The gradient energy of a region is
``E = sum over the region's pixels of (dY'/dx)^2 + (dY'/dy)^2``, and a render is scored by the
ratio ``E(output) / E(input)`` over the same pixels:

- subject kept: ratio >= 0.70 over the subject polygon;
- background melted: ratio <= 0.50 over a background polygon, each labelled background counted
  on its own (the percentage is over all labelled backgrounds);
- both (per photo): subject kept and every background of the photo melted;
- foreground melted: ratio <= 0.50 over a foreground polygon, counted on its own beside the
  others (a fast lens blurs what lies in front of the focus plane too); not part of "both".

A renderer that returns its input scores ratio 1 everywhere (kept, nothing melted); a uniform
strong blur scores near 0 everywhere (everything melted, nothing kept).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

LABELS_PATH = Path(__file__).with_name("real_photo_labels.json")
# A second set, outlined (2026-12-07) on corpus photos outside the first after every cue had been
# tuned on the first: an estimate of how the cues fare on labels they were not tuned on.
CHECK_LABELS_PATH = Path(__file__).with_name("real_photo_labels_check.json")
SKIMAGE_PREFIX = "skimage:"
KEPT_MIN_RATIO = 0.70
MELTED_MAX_RATIO = 0.50
LUMA_WEIGHTS = (0.2126, 0.7152, 0.0722)
SOBEL_GAIN = 8.0   # Sobel's response to a unit ramp: a difference over 2 px, times smoothing weights 1 + 2 + 1
MIN_POLYGON_AREA = 1e-4   # of the frame: a polygon smaller than this is a slip of the mouse


@dataclass(frozen=True)
class Label:
    file: str
    subject: tuple[tuple[float, float], ...]
    backgrounds: tuple[tuple[tuple[float, float], ...], ...]
    note: str
    foregrounds: tuple[tuple[tuple[float, float], ...], ...] = ()

    @property
    def from_skimage(self) -> bool:
        return self.file.startswith(SKIMAGE_PREFIX)


def load_labels(path: Path = LABELS_PATH) -> list[Label]:
    """The labels, each checked by :func:`label_problems`; ValueError names the file and the first
    bad one (OSError: the file cannot be read)."""
    try:
        entries = json.loads(Path(path).read_text())
        labels = [Label(file=e["file"], note=e.get("note", ""),
                        subject=_polygon(e["subject"]), backgrounds=_polygons(e["background"]),
                        foregrounds=_polygons(e.get("foreground", [])))
                  for e in entries]
    except (KeyError, TypeError, AttributeError, ValueError) as exc:   # JSONDecodeError is a ValueError
        raise ValueError(f"{path}: not a label list ({type(exc).__name__}: {exc})") from None
    for label in labels:
        problems = label_problems(label)
        if problems:
            raise ValueError(f"{path}: {label.file}: {problems[0]}")
    return labels


def _polygon(vertices) -> tuple[tuple[float, float], ...]:
    return tuple(tuple(map(float, v)) for v in vertices)


def _polygons(entry) -> tuple[tuple[tuple[float, float], ...], ...]:
    return tuple(_polygon(poly) for poly in entry)


def label_problems(label: Label) -> list[str]:
    """What is wrong with a label: vertices outside [0, 1], fewer than 3 vertices, a polygon of
    (nearly) no area, or a subject whose centroid (the focus-at point) lies outside it."""
    problems = []
    named = ([("subject", label.subject)] + [(f"background {i + 1}", p) for i, p in enumerate(label.backgrounds)]
             + [(f"foreground {i + 1}", p) for i, p in enumerate(label.foregrounds)])
    for name, poly in named:
        if len(poly) < 3:
            problems.append(f"{name}: {len(poly)} vertices, at least 3 needed")
            continue
        if any(not (0.0 <= c <= 1.0) for vertex in poly for c in vertex):
            problems.append(f"{name}: a vertex outside [0, 1]")
        if abs(polygon_area(poly)) < MIN_POLYGON_AREA:
            problems.append(f"{name}: area {abs(polygon_area(poly)):.2g} of the frame, too small")
    if len(label.subject) >= 3 and abs(polygon_area(label.subject)) >= MIN_POLYGON_AREA:
        if not point_in_polygon(polygon_centroid(label.subject), label.subject):
            problems.append("subject: its centroid lies outside it")
    return problems


def polygon_area(poly) -> float:
    """Signed area by the shoelace formula: 1/2 sum (x_i y_{i+1} - x_{i+1} y_i)."""
    xs, ys = np.asarray(poly, dtype=np.float64).T
    return 0.5 * float(np.dot(xs, np.roll(ys, -1)) - np.dot(np.roll(xs, -1), ys))


def polygon_centroid(poly) -> tuple[float, float]:
    """Area centroid: c = 1 / (6 A) sum (p_i + p_{i+1}) (x_i y_{i+1} - x_{i+1} y_i)."""
    xs, ys = np.asarray(poly, dtype=np.float64).T
    x1, y1 = np.roll(xs, -1), np.roll(ys, -1)
    cross = xs * y1 - x1 * ys
    area6 = 3.0 * float(cross.sum())
    return float(((xs + x1) * cross).sum() / area6), float(((ys + y1) * cross).sum() / area6)


def point_in_polygon(point: tuple[float, float], poly) -> bool:
    """Even-odd rule: a ray to +x crosses the polygon's edges an odd number of times."""
    x, y = point
    inside = False
    for (x0, y0), (x1, y1) in zip(poly, list(poly[1:]) + [poly[0]]):
        if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
            inside = not inside
    return inside


def polygon_mask(poly, height: int, width: int) -> np.ndarray:
    """bool (H, W): the pixels the polygon (normalised vertices) covers, rasterised by Pillow."""
    canvas = Image.new("1", (width, height), 0)
    ImageDraw.Draw(canvas).polygon([(x * width, y * height) for x, y in poly], fill=1)
    return np.asarray(canvas, dtype=bool)


def polygon_point_px(point: tuple[float, float], height: int, width: int) -> tuple[int, int]:
    """A normalised point as pixel ints (x, y), kept inside the frame."""
    return min(int(point[0] * width), width - 1), min(int(point[1] * height), height - 1)


def luma(srgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) sRGB-encoded floats -> (H, W) float64 luma Y' (Rec. 709 weights)."""
    return np.asarray(srgb, dtype=np.float64) @ np.asarray(LUMA_WEIGHTS)


def gradient_energy_map(srgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) sRGB in [0, 1] -> (H, W) |grad Y'|^2 per pixel (Sobel / 8, edges replicated)."""
    y = luma(srgb)
    gx = ndimage.sobel(y, axis=1, mode="nearest") / SOBEL_GAIN
    gy = ndimage.sobel(y, axis=0, mode="nearest") / SOBEL_GAIN
    return gx * gx + gy * gy


def energy_ratio(energy_in: np.ndarray, energy_out: np.ndarray, mask: np.ndarray) -> float:
    """E(output) / E(input) over the mask's pixels; NaN when the input has no energy there."""
    before = float(energy_in[mask].sum())
    return float(energy_out[mask].sum()) / before if before > 0 else float("nan")


def _melted(ratios: list[float]) -> list[bool]:
    return [ratio <= MELTED_MAX_RATIO for ratio in ratios]


@dataclass
class PhotoScore:
    """One render of one labelled photo. Ratios are E(output) / E(input)."""

    file: str
    subject_ratio: float
    background_ratios: list[float]
    foreground_ratios: list[float] = field(default_factory=list)
    info: dict = field(default_factory=dict)   # how it was rendered (focal length and its source, ...)

    @property
    def kept(self) -> bool:
        return self.subject_ratio >= KEPT_MIN_RATIO   # NaN compares False

    @property
    def melted(self) -> list[bool]:
        return _melted(self.background_ratios)

    @property
    def foregrounds_melted(self) -> list[bool]:
        return _melted(self.foreground_ratios)

    @property
    def both(self) -> bool:
        return self.kept and all(self.melted)

    def to_json(self) -> dict:
        return {"file": self.file, "subject_ratio": round(self.subject_ratio, 4),
                "background_ratios": [round(r, 4) for r in self.background_ratios],
                "kept": self.kept, "melted": self.melted, "both": self.both,
                "foreground_ratios": [round(r, 4) for r in self.foreground_ratios],
                "foregrounds_melted": self.foregrounds_melted, **self.info}


def score_photo(label: Label, srgb_in: np.ndarray, srgb_out: np.ndarray) -> PhotoScore:
    """Score a render of a labelled photo: both (H, W, 3) sRGB in [0, 1], upright."""
    if srgb_in.shape != srgb_out.shape:
        raise ValueError(f"{label.file}: render is {srgb_out.shape[1]}x{srgb_out.shape[0]}, "
                         f"the photo {srgb_in.shape[1]}x{srgb_in.shape[0]}")
    height, width = srgb_in.shape[:2]
    energy_in, energy_out = gradient_energy_map(srgb_in), gradient_energy_map(srgb_out)

    def ratio(poly) -> float:
        return energy_ratio(energy_in, energy_out, polygon_mask(poly, height, width))

    return PhotoScore(label.file, ratio(label.subject), [ratio(p) for p in label.backgrounds],
                      [ratio(p) for p in label.foregrounds])


@dataclass(frozen=True)
class Summary:
    photos: int
    kept: int
    backgrounds: int
    melted: int
    both: int
    foregrounds: int = 0
    foregrounds_melted: int = 0

    @property
    def melted_percent(self) -> float:
        return 100.0 * self.melted / self.backgrounds if self.backgrounds else float("nan")

    def line(self) -> str:
        line = (f"subject kept {self.kept}/{self.photos}, backgrounds melted {self.melted_percent:.0f} % "
                f"({self.melted}/{self.backgrounds}), both {self.both}/{self.photos}")
        if self.foregrounds:
            line += f"; foregrounds melted {self.foregrounds_melted}/{self.foregrounds}"
        return line

    def to_json(self) -> dict:
        return {"photos": self.photos, "subject_kept": self.kept, "backgrounds": self.backgrounds,
                "backgrounds_melted": self.melted, "backgrounds_melted_percent": round(self.melted_percent, 1),
                "both": self.both, "foregrounds": self.foregrounds, "foregrounds_melted": self.foregrounds_melted}


def summarize(scores: list[PhotoScore]) -> Summary:
    return Summary(photos=len(scores), kept=sum(s.kept for s in scores),
                   backgrounds=sum(len(s.background_ratios) for s in scores),
                   melted=sum(sum(s.melted) for s in scores), both=sum(s.both for s in scores),
                   foregrounds=sum(len(s.foreground_ratios) for s in scores),
                   foregrounds_melted=sum(sum(s.foregrounds_melted) for s in scores))


def materialise(label: Label, corpus: Path, scratch: Path) -> Path:
    """The photo's file: in the corpus, or the scikit-image photo written to ``scratch`` as a
    JPEG without EXIF (quality 95, greyscale expanded to RGB; of a stereo pair the left view)."""
    if not label.from_skimage:
        return corpus / label.file
    import skimage.data  # only the scikit-image photos need it

    name = label.file[len(SKIMAGE_PREFIX):]
    pixels = getattr(skimage.data, name)()
    if isinstance(pixels, tuple):      # stereo_motorcycle: (left, right, disparity)
        pixels = pixels[0]
    pixels = np.asarray(pixels)
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[..., None], 3, axis=2)
    path = scratch / f"skimage_{name}.jpg"
    scratch.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels.astype(np.uint8), "RGB").save(path, format="JPEG", quality=95)
    return path
