"""Render one photo end to end: decode, lens parameters, depth, CoC, bokeh, encode.

The library behind `bokeh render`; usable without the CLI::

    from bokehcli.pipeline import RenderSettings, render_file
    result = render_file("photo.jpg", RenderSettings(f_number_text="1.8", depth="photo_depth.png"))

Lens parameters follow SPEC §2: command-line value > EXIF / maker note / XMP > estimate from the
depth map (focus only: the depth at the focus point) > documented default; every value carries
its source.
"""

from __future__ import annotations

import functools
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from . import __version__
from .depthio import (check_depth_template, depth_output_paths, fill_depth_template, fill_unknown_depth, load_depth,
                      save_depth)
from .device import resolve_device
from .errors import BokehError, InputError
from .files import make_folder
from .imageio import DEFAULT_MAX_PIXELS, JPEG_QUALITY, OUTPUT_SUFFIX, LensRecord, load_photo, save_photo
from .lens import SENSOR_DEFAULT_WARNING, read_lens
from .models.factory import load_model
from .models.tiling import DEFAULT_WORK_SIZE_PX, overlap_for, predict, render_prediction, validate_tiling
from .ops.color import linear_to_srgb, srgb_to_linear
from .optics import FULL_FRAME_DIAGONAL_MM, Lens, nearest_focus_m, sensor_diagonal_mm
from .render.layered import MAX_HIGHLIGHT_GAIN, render_bokeh_tiled
from .timing import NO_STAGES

DEFAULT_FOCAL_MM = 50.0
DEFAULT_MODEL = "bokehflow-nano"
# Without a focus distance from EXIF or flags the network is conditioned on this one; the
# render's focus is then the predicted depth at the focus point.
PROVISIONAL_FOCUS_M = 2.0
RENDER_TILE_PX = 1024
DEPTH_SUFFIXES = (".png", ".npy")
# Central subject: the focus point defaults to the image centre; its depth is the median over a
# small window (robust to a pixel on an edge).
FOCUS_WINDOW_FRACTION = 0.05


@dataclass(frozen=True)
class RenderSettings:
    """What `bokeh render` was asked for. ``None`` means: take it from the photo or a default."""

    f_number_text: str
    depth: str | None = None
    focal_mm: float | None = None
    focus_m: float | None = None
    crop_factor: float | None = None
    sensor_diag_mm: float | None = None
    focus_at: tuple[int, int] | None = None
    blades: int = 0
    blade_rotation_deg: float = 0.0
    highlight_boost: float | None = None
    out_dir: Path | None = None
    overwrite: bool = False
    fmt: str = "jpeg"
    quality: int = JPEG_QUALITY
    max_pixels: int = DEFAULT_MAX_PIXELS
    save_depth: bool = False
    model: str = DEFAULT_MODEL
    device: str = "auto"
    work_size_px: int = DEFAULT_WORK_SIZE_PX
    tile_px: int | None = None  # network tile; None = chosen from the working size
    tsp: bool = True

    @property
    def f_number(self) -> float:
        return parse_f_number(self.f_number_text)

    def validate(self) -> None:
        """Raise :class:`BokehError` for settings no photo could satisfy (the network's weights and
        device are loaded here, once, when the depth is to come from it)."""
        parse_f_number(self.f_number_text)
        if self.fmt not in OUTPUT_SUFFIX:
            raise BokehError(f"--format must be one of {', '.join(OUTPUT_SUFFIX)}, got {self.fmt!r}")
        if self.blades in (1, 2) or self.blades < 0:
            raise BokehError(f"--blades must be 0 (round) or at least 3, got {self.blades}")
        if self.out_dir is not None:       # found now, not after the first photo's render
            existing = next(p for p in (self.out_dir, *self.out_dir.absolute().parents) if p.exists())
            if not existing.is_dir():
                raise BokehError(f"--out {self.out_dir}: {existing} is a file, not a folder")
            if not os.access(existing, os.W_OK | os.X_OK):
                raise BokehError(f"--out {self.out_dir}: cannot write in {existing} (permission denied)")
        if not math.isfinite(self.blade_rotation_deg):
            raise BokehError(f"--blade-rotation must be a finite angle in degrees, got {self.blade_rotation_deg}")
        if self.highlight_boost is not None and not 1 <= self.highlight_boost <= MAX_HIGHLIGHT_GAIN:
            raise BokehError(f"--highlight-boost must be between 1 and {MAX_HIGHLIGHT_GAIN:g}, "
                             f"got {self.highlight_boost}")
        try:
            if self.tile_px is not None:
                validate_tiling(self.tile_px, overlap_for(self.tile_px))
        except ValueError as exc:
            raise BokehError(f"--tile: {exc}") from None
        if self.depth is not None and "{stem}" in self.depth:
            check_depth_template(self.depth)
        elif self.depth is not None and not Path(self.depth).exists():    # one map for the batch
            raise BokehError(f"--depth {self.depth}: no such file or folder")
        if self.depth is None:
            try:
                load_network(self.model, self.device)
            except InputError as exc:
                raise BokehError(f"--model: {exc}") from None


@dataclass
class RenderResult:
    path: Path
    output: Path
    status: str  # "rendered" | "skipped"
    f_number: float
    focal_mm: float | None = None
    focal_source: str | None = None
    focus_m: float | None = None  # math.inf for infinity
    focus_source: str | None = None
    sensor_diag_mm: float | None = None
    sensor_source: str | None = None
    max_blur_px: float | None = None
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        focus_infinite = self.focus_m is not None and math.isinf(self.focus_m)
        return {
            "path": str(self.path), "output": str(self.output), "status": self.status,
            "f_number": self.f_number, "focal_mm": self.focal_mm, "focal_source": self.focal_source,
            "focus_m": None if focus_infinite else self.focus_m, "focus_infinite": focus_infinite,
            "focus_source": self.focus_source, "sensor_diagonal_mm": self.sensor_diag_mm,
            "sensor_source": self.sensor_source, "max_blur_px": self.max_blur_px,
            "seconds": round(self.seconds, 3), "warnings": self.warnings,
        }


_DECIMAL = re.compile(r"(\d+(\.\d*)?|\.\d+)")


def parse_f_number(text: str) -> float:
    """A plain decimal (it names the output file: no signs, exponents, spaces or underscores)."""
    value = float(text) if _DECIMAL.fullmatch(text) else math.nan
    if not (math.isfinite(value) and 0.5 <= value <= 64):
        raise BokehError(f"--f must be a plain number between 0.5 and 64 (it names the output), got {text!r}")
    return value


def output_path(path: Path, settings: RenderSettings) -> Path:
    """``<out>/<stem>_bokeh_f<N><suffix>`` with N as typed (SPEC §3)."""
    folder = settings.out_dir if settings.out_dir is not None else path.parent
    return folder / f"{path.stem}_bokeh_f{settings.f_number_text}{OUTPUT_SUFFIX[settings.fmt]}"


def resolve_depth_path(spec: str, photo_path: Path) -> Path:
    """``--depth`` as a template with ``{stem}``, a folder holding ``<stem>.png|.npy`` (or
    ``<stem>_depth.*``), or one file."""
    if "{stem}" in spec:
        return fill_depth_template(spec, photo_path)
    candidate = Path(spec)
    if candidate.is_dir():
        for name in (photo_path.stem, f"{photo_path.stem}_depth"):
            for suffix in DEPTH_SUFFIXES:
                if (candidate / f"{name}{suffix}").is_file():
                    return candidate / f"{name}{suffix}"
        raise InputError(f"{photo_path}: no depth map {photo_path.stem}.png/.npy in {candidate}")
    return candidate


def render_file(path: str | Path, settings: RenderSettings,
                progress: Callable[[int], None] | None = None, stages=NO_STAGES) -> RenderResult:
    """Render one photo; raises :class:`BokehError` with a one-line message on bad input.

    ``stages`` (see :class:`bokehcli.timing.Stages`) times decode, network, depth upsampling,
    coc, render and encode."""
    start = time.perf_counter()
    path = Path(path)
    out = output_path(path, settings)
    result = RenderResult(path=path, output=out, status="skipped", f_number=settings.f_number)
    if out.exists() and out.resolve() == path.resolve():
        raise BokehError(f"{path}: output would overwrite the input; choose another --out")
    if out.exists() and not settings.overwrite:
        return result
    with stages("decode"):
        photo = load_photo(path, max_pixels=settings.max_pixels)
        info = read_lens(path)
        srgb_in = photo.srgb_chw()
    depth_path = resolve_depth_path(settings.depth, path) if settings.depth is not None else None
    write_depth = settings.save_depth and _depth_outputs_to_write(path, out.parent, depth_path, settings.overwrite,
                                                                  result.warnings)
    height, width = photo.srgb.shape[:2]
    # The lens reader's warnings do not name the file; in a batch they must.
    # A sensor size given on the command line makes the file's lack of one moot.
    sensor_flag = settings.sensor_diag_mm is not None or settings.crop_factor is not None
    result.warnings += list(photo.warnings) + [f"{path}: {w}" for w in info.warnings
                                               if not (sensor_flag and w == SENSOR_DEFAULT_WARNING)]
    if photo.alpha is not None and float(photo.alpha.min()) < 1.0:
        result.warnings.append(f"{path}: transparency is not carried over (blurring moves colour across the "
                               f"frame); the output is opaque")
    _resolve_focal_and_sensor(settings, info, result)
    focus_known = _resolve_focus_without_depth(settings, info, result)
    prediction = None
    if settings.depth is not None:
        with stages("decode"):
            depth_m, depth_warnings = _load_photo_depth(path, depth_path, (width, height), settings.max_pixels)
            result.warnings += depth_warnings
    else:
        model, device = load_network(settings.model, settings.device)
        prediction = predict(model, srgb_in.to(device), _lens(result, _network_focus_m(info, settings)),
                             settings.work_size_px, settings.tile_px,
                             tsp=settings.tsp, stages=stages)
        depth_m = prediction.depth_m[0, 0].float().cpu().numpy()
    if not focus_known:
        _resolve_focus_from_depth(settings, depth_m, result)
    lens = _lens(result, result.focus_m)
    if prediction is not None:
        device = prediction.inv_depth.device
        rendered = render_prediction(srgb_in.to(device), prediction, lens, settings.blades,
                                     settings.blade_rotation_deg, settings.highlight_boost, stages=stages).cpu()
        result.max_blur_px = round(float(lens.coc_px_from_inverse_depth(
            prediction.inv_depth.cpu(), width, height).abs().max()), 2)
    else:
        with stages("coc"):
            coc = lens.coc_px(torch.from_numpy(np.ascontiguousarray(depth_m))[None, None], width, height)
        result.max_blur_px = round(float(coc.abs().max()), 2)
        with stages("render"):
            rendered = render_bokeh_tiled(srgb_to_linear(srgb_in[None]), coc, RENDER_TILE_PX, settings.blades,
                                          settings.blade_rotation_deg, settings.highlight_boost, progress)
    with stages("encode"):
        srgb = linear_to_srgb(rendered)[0].permute(1, 2, 0).numpy()
        make_folder(out.parent, out)
        # The photo last: its presence is what marks this input done (skipped on a rerun).
        if write_depth:
            save_depth(out.parent, path.stem, depth_m, keep_existing=not settings.overwrite)
        result.warnings += save_photo(out, srgb, fmt=settings.fmt, quality=settings.quality, source=photo,
                                      f_number=settings.f_number, description=_description(result),
                                      lens=_lens_to_record(info), replace=settings.overwrite)
    result.status = "rendered"
    result.seconds = time.perf_counter() - start
    return result


def _depth_outputs_to_write(photo: Path, folder: Path, depth_input: Path | None, overwrite: bool,
                            warnings: list[str]) -> bool:
    """Whether --save-depth has maps to write: never over the depth map being read (an input, even
    with --overwrite); existing maps are kept unless --overwrite, like the photo, and a missing
    one is still written."""
    paths = depth_output_paths(folder, photo.stem)
    existing = [p for p in paths if p.exists()]
    if depth_input is not None and any(p.resolve() == depth_input.resolve() for p in existing):
        raise BokehError(f"{photo}: --save-depth would overwrite the input depth map {depth_input}; "
                         f"choose another --out")
    if existing and not overwrite:
        warnings.append(f"{photo}: kept the existing {', '.join(p.name for p in existing)} (--overwrite replaces it)")
        return len(existing) < len(paths)
    return True


def _load_photo_depth(photo: Path, depth_path: Path, size_wh: tuple[int, int],
                      max_pixels: int) -> tuple[np.ndarray, list[str]]:
    """The depth map for one photo; its errors name the photo too (one map may serve a batch)."""
    try:
        depth_m, warnings = load_depth(depth_path, size_wh=size_wh, max_pixels=max_pixels)
        return fill_unknown_depth(depth_m, str(depth_path)), warnings
    except BokehError as exc:
        raise type(exc)(f"{photo}: {exc}") from None


def _resolve_focal_and_sensor(settings: RenderSettings, info, result: RenderResult) -> None:
    """SPEC §2 order (flag > file > default) for focal length and sensor size."""
    if settings.focal_mm is not None:
        result.focal_mm, result.focal_source = settings.focal_mm, "flag"
    elif info.focal_mm:            # the lens reader has already dropped implausible ones, with a warning
        result.focal_mm, result.focal_source = info.focal_mm, info.sources.get("focal_mm", "EXIF")
    else:
        result.focal_mm, result.focal_source = DEFAULT_FOCAL_MM, "default"
        result.warnings.append(f"{result.path}: no usable focal length in the file; assuming {DEFAULT_FOCAL_MM:g} mm")

    if settings.sensor_diag_mm is not None:
        result.sensor_diag_mm, result.sensor_source = settings.sensor_diag_mm, "flag"
    elif settings.crop_factor is not None:
        result.sensor_diag_mm, result.sensor_source = sensor_diagonal_mm(settings.crop_factor), "flag"
    elif info.sensor_diagonal_mm:
        result.sensor_diag_mm = info.sensor_diagonal_mm
        result.sensor_source = info.sources.get("crop_factor", "EXIF")
    else:
        result.sensor_diag_mm, result.sensor_source = FULL_FRAME_DIAGONAL_MM, "default"
        result.warnings.append(f"{result.path}: {SENSOR_DEFAULT_WARNING}")


def _lens_to_record(info) -> LensRecord:
    """What the output's EXIF would otherwise lose: a focus distance read from a maker note (not
    copied, see ``bokehcli.imageio``) or XMP, and a 35 mm focal length the source did not state."""
    from_subject_distance = info.sources.get("focus_m", "EXIF:SubjectDistance") == "EXIF:SubjectDistance"
    stated_35mm = info.sources.get("focal_35mm") == "EXIF:FocalLengthIn35mmFilm"
    return LensRecord(focus_m=None if from_subject_distance else _camera_focus_m(info),
                      focal_35mm=None if stated_35mm else info.focal_35mm)


def _camera_focus_m(info) -> float | None:
    """Where the camera focused, from the file (``inf`` allowed), or None when it does not say."""
    if info.focus_infinite:
        return math.inf
    return info.focus_m or None


def _resolve_focus_without_depth(settings: RenderSettings, info, result: RenderResult) -> bool:
    """Focus from --focus-distance or the file; False when it must come from the depth."""
    camera_focus_m = _camera_focus_m(info)
    if settings.focus_m is not None:
        nearest_m = nearest_focus_m(result.focal_mm)
        if settings.focus_m < nearest_m:
            raise BokehError(f"{result.path}: --focus-distance {settings.focus_m:g} m is nearer than a "
                             f"{result.focal_mm:g} mm lens can focus (at least {nearest_m:.3g} m)")
        result.focus_m, result.focus_source = settings.focus_m, "flag"
    elif settings.focus_at is not None or camera_focus_m is None:
        return False
    else:
        result.focus_m, result.focus_source = camera_focus_m, info.focus_source
    return True


def _network_focus_m(info, settings: RenderSettings) -> float:
    """The focus the network is conditioned on: where the camera focused (evidence about the
    scene, usually the subject), not where the user wants the render focused; without it the
    user's --focus-distance, else PROVISIONAL_FOCUS_M."""
    camera_focus_m = _camera_focus_m(info)
    if camera_focus_m is not None:
        return camera_focus_m
    return settings.focus_m if settings.focus_m is not None else PROVISIONAL_FOCUS_M


def _resolve_focus_from_depth(settings: RenderSettings, depth_m: np.ndarray, result: RenderResult) -> None:
    """--focus-at X,Y: the depth at that pixel; otherwise the central subject."""
    if settings.focus_at is not None:
        result.focus_m = _depth_at(depth_m, settings.focus_at, result.path, half=0)
        result.focus_source = "focus-at"
    else:
        height, width = depth_m.shape
        half = max(1, int(FOCUS_WINDOW_FRACTION * min(width, height) / 2))
        result.focus_m = _depth_at(depth_m, (width // 2, height // 2), result.path, half)
        result.focus_source = "depth at centre"
    # Report the focus the render uses: the thin lens cannot focus nearer than its guard.
    nearest_m = nearest_focus_m(result.focal_mm)
    if result.focus_m < nearest_m:
        result.warnings.append(f"{result.path}: the depth there ({result.focus_m:.3g} m) is nearer than a "
                               f"{result.focal_mm:g} mm lens can focus; focusing at {nearest_m:.3g} m")
        result.focus_m = nearest_m


def _lens(result: RenderResult, focus_m: float) -> Lens:
    try:
        return Lens(result.focal_mm, result.f_number, focus_m, result.sensor_diag_mm)
    except ValueError as exc:
        raise BokehError(f"{result.path}: {exc}") from None


@functools.lru_cache(maxsize=2)
def load_network(name: str, device: str):
    """The network once per (weights, device) for a whole batch."""
    resolved = resolve_device(device)
    try:
        model = load_model(name, resolved)
    except InputError as exc:
        if name == DEFAULT_MODEL:
            raise InputError(f"no depth map given and no default weights shipped yet ({exc}); pass --depth, "
                             f"or --model with a weights file from `bokeh train`") from None
        raise
    return model, resolved


def _depth_at(depth_m: np.ndarray, xy: tuple[int, int], path: Path, half: int) -> float:
    """Median depth in the (2 half + 1)^2 window around pixel ``xy``."""
    height, width = depth_m.shape
    x, y = xy
    if not (0 <= x < width and 0 <= y < height):
        raise BokehError(f"{path}: --focus-at {x},{y} is outside the {width}x{height} image")
    window = depth_m[max(y - half, 0):y + half + 1, max(x - half, 0):x + half + 1]
    return float(np.median(window))


def _description(result: RenderResult) -> str:
    focus = "infinity" if math.isinf(result.focus_m) else f"{result.focus_m:.3g} m"
    return (f"bokeh {__version__}: rendered at f/{result.f_number:g}, {result.focal_mm:g} mm, "
            f"focus {focus} ({result.focus_source})")
