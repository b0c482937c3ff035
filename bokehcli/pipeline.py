"""Render one photo end to end: decode, lens parameters, depth, CoC, bokeh, encode.

The library behind `bokeh render`; usable without the CLI::

    from bokehcli.pipeline import RenderSettings, render_file
    result = render_file("photo.jpg", RenderSettings(f_number_text="1.8", depth="photo_depth.png"))

Lens parameters (docs/lens-metadata.md#precedence): command-line value > EXIF / maker note / XMP > estimate from the
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
from .cues.focus import FocusTarget, face_disagrees, focus_from_face_m
from .cues.image import Box, CueImage
from .cues.maps import cue_maps
from .cues.photo import PhotoCueSet, cues_of, find_focus_target
from .defaults import DEFAULT_MODEL
from .depth_sources import (DepthEstimate, anchor, depth_at, depth_from_cues, depth_from_embedded, depth_from_file,
                            depth_from_model)
from .depth_preview import write_depth_preview
from .depthio import check_depth_template, fill_depth_template, save_depth
from .device import resolve_device
from .errors import BokehError, InputError, SettingError
from .files import make_folder
from .imageio import DEFAULT_MAX_PIXELS, JPEG_QUALITY, OUTPUT_SUFFIX, lens_record, load_photo, save_photo
from .lens import read_lens
from .lens.embedded_depth import read_embedded_depth
from .lens.policy import camera_focus_m, focal_and_sensor
from .models.factory import load_model
from .models.inference import overlap_for, validate_tiling
from .naming import depth_map_stems, depth_output_paths, depth_preview_path, render_path
from .ops.color import linear_to_srgb
from .optics import F_NUMBER_RANGE, Lens, hyperfocal_m, nearest_focus_m, pixel_pitch_mm
from .render.layered import MAX_HIGHLIGHT_GAIN
from .render.with_depth import render_with_depth
from .timing import NO_STAGES

# How far the subject is when neither the camera, a face nor a flag says: it sets the scale of
# relative depth (and is what the network is told).
PROVISIONAL_FOCUS_M = 2.0
# A camera focused at infinity: relative depth is anchored this far away (everything renders
# sharp, as the photo was).
MAX_ANCHOR_M = 1000.0
DEPTH_SUFFIXES = (".png", ".npy")
DEPTH_SOURCES = ("auto", "embedded", "cues", "model")
# Below this largest blur (px) a render looks unchanged: the photo says so and how to get more.
LOW_BLUR_PX = 2.0


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
    model: str | None = None     # network weights; None = DEFAULT_MODEL
    device: str = "auto"
    work_size_px: int | None = None  # the network's working size; None = the weights' operating point
    tile_px: int | None = None  # network tile; None = the weights' operating point, else by working size
    tsp: bool = True
    depth_source: str = "auto"   # without --depth: "embedded", "cues", "model" or "auto" (see _estimate_depth)
    equivalent: bool = False     # f-number and focal length as full-frame equivalents

    @property
    def f_number(self) -> float:
        return parse_f_number(self.f_number_text)

    @property
    def network_name(self) -> str:
        return self.model if self.model is not None else DEFAULT_MODEL

    @property
    def uses_network(self) -> bool:
        """Whether the network may be the depth source: asked for by --depth-source model, or by
        naming weights with --model (then it replaces the photo's cues under "auto" and as the
        fallback of "embedded")."""
        return self.depth is None and (self.depth_source == "model"
                                       or (self.depth_source in ("auto", "embedded") and self.model is not None))

    def validate(self) -> None:
        """Raise :class:`BokehError` for settings no photo could satisfy (the network's weights and
        device are loaded here, once, when the depth is to come from it)."""
        parse_f_number(self.f_number_text)
        if self.fmt not in OUTPUT_SUFFIX:
            raise SettingError("fmt", f"must be one of {', '.join(OUTPUT_SUFFIX)}, got {self.fmt!r}")
        if self.blades in (1, 2) or self.blades < 0:
            raise SettingError("blades", f"must be 0 (round) or at least 3, got {self.blades}")
        if self.out_dir is not None:       # found now, not after the first photo's render
            existing = next(p for p in (self.out_dir, *self.out_dir.absolute().parents) if p.exists())
            if not existing.is_dir():
                raise SettingError("out_dir", f"{self.out_dir}: {existing} is a file, not a folder")
            if not os.access(existing, os.W_OK | os.X_OK):
                raise SettingError("out_dir", f"{self.out_dir}: cannot write in {existing} (permission denied)")
        if not math.isfinite(self.blade_rotation_deg):
            raise SettingError("blade_rotation_deg", f"must be a finite angle in degrees, got {self.blade_rotation_deg}")
        if self.highlight_boost is not None and not 1 <= self.highlight_boost <= MAX_HIGHLIGHT_GAIN:
            raise SettingError("highlight_boost", f"must be between 1 and {MAX_HIGHLIGHT_GAIN:g}, "
                                                  f"got {self.highlight_boost}")
        try:
            if self.tile_px is not None:
                validate_tiling(self.tile_px, overlap_for(self.tile_px))
        except ValueError as exc:
            raise SettingError("tile_px", f": {exc}") from None
        if self.depth is not None and "{stem}" in self.depth:
            check_depth_template(self.depth)
        elif self.depth is not None and not Path(self.depth).exists():    # one map for the batch
            raise SettingError("depth", f"{self.depth}: no such file or folder")
        if self.depth_source not in DEPTH_SOURCES:
            raise SettingError("depth_source", f"must be one of {', '.join(DEPTH_SOURCES)}, got {self.depth_source!r}")
        resolve_device(self.device)
        if self.uses_network:
            try:
                load_network(self.network_name, self.device)
            except InputError as exc:
                raise SettingError("model", f": {exc}") from None


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
    depth_source: str | None = None
    focus_point: list[float] | None = None       # [x, y] upright photo pixels
    focus_point_source: str | None = None
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    depth_outputs: list[str] = field(default_factory=list)  # the maps --save-depth wrote

    def to_json(self) -> dict:
        focus_infinite = self.focus_m is not None and math.isinf(self.focus_m)
        return {
            "path": str(self.path), "output": str(self.output), "status": self.status,
            "f_number": self.f_number, "focal_mm": self.focal_mm, "focal_source": self.focal_source,
            "focus_m": None if focus_infinite else self.focus_m, "focus_infinite": focus_infinite,
            "focus_source": self.focus_source, "sensor_diagonal_mm": self.sensor_diag_mm,
            "sensor_source": self.sensor_source, "max_blur_px": self.max_blur_px,
            "depth_source": self.depth_source, "focus_point": self.focus_point,
            "focus_point_source": self.focus_point_source,
            "seconds": round(self.seconds, 3), "warnings": self.warnings, "depth_outputs": self.depth_outputs,
        }


_DECIMAL = re.compile(r"(\d+(\.\d*)?|\.\d+)")


def parse_f_number(text: str) -> float:
    """A plain decimal (it names the output file: no signs, exponents, spaces or underscores)."""
    value = float(text) if _DECIMAL.fullmatch(text) else math.nan
    low, high = F_NUMBER_RANGE
    if not (math.isfinite(value) and low <= value <= high):
        raise SettingError("f_number_text", f"must be a plain number between {low:g} and {high:g} (it names the "
                                            f"output), got {text!r}")
    return value


def output_path(path: Path, settings: RenderSettings) -> Path:
    """``<out>/<stem>_bokeh_f<N><suffix>`` with N as typed (:mod:`bokehcli.naming`)."""
    return render_path(path, settings.out_dir, settings.f_number_text, OUTPUT_SUFFIX[settings.fmt])


def resolve_depth_path(spec: str, photo_path: Path) -> Path:
    """``--depth`` as a template with ``{stem}``, a folder holding ``<stem>.png|.npy`` (or
    ``<stem>_depth.*``), or one file."""
    if "{stem}" in spec:
        return fill_depth_template(spec, photo_path)
    candidate = Path(spec)
    if candidate.is_dir():
        for name in depth_map_stems(photo_path):
            for suffix in DEPTH_SUFFIXES:
                if (candidate / f"{name}{suffix}").is_file():
                    return candidate / f"{name}{suffix}"
        raise InputError(f"{photo_path}: no depth map {photo_path.stem}.png/.npy in {candidate}")
    return candidate


def render_file(path: str | Path, settings: RenderSettings,
                progress: Callable[[int], None] | None = None, stages=NO_STAGES) -> RenderResult:
    """Render one photo; raises :class:`BokehError` with a one-line message on bad input.

    ``stages`` (see :class:`bokehcli.timing.Stages`) times decode, each cue, network, depth
    upsampling, coc, render and encode."""
    start = time.perf_counter()
    path = Path(path)
    out = output_path(path, settings)
    result = RenderResult(path=path, output=out, status="skipped", f_number=settings.f_number)
    if out.exists() and out.resolve() == path.resolve():
        raise BokehError(f"{path}: output would overwrite the input; choose another --out")
    # A rerun skips a photo whose output exists, but still writes the depth maps --save-depth
    # asks for and an earlier run did not (it ran without the flag, or was stopped in between).
    photo_done = out.exists() and not settings.overwrite
    if photo_done and not (settings.save_depth and not all(p.exists() for p in _depth_files(path, out.parent))):
        return result
    with stages("decode"):
        photo = load_photo(path, max_pixels=settings.max_pixels)
        info = read_lens(path)
        srgb_in = photo.srgb_chw()
    depth_path = resolve_depth_path(settings.depth, path) if settings.depth is not None else None
    write_depth = settings.save_depth and _depth_outputs_to_write(path, out.parent, depth_path, settings.overwrite,
                                                                  [] if photo_done else result.warnings)
    if photo_done and not write_depth:  # another run wrote the missing maps meanwhile
        return result
    # The lens reader's warnings do not name the file; in a batch they must.
    result.warnings += list(photo.warnings) + [f"{path}: {w}" for w in info.warnings
                                               if getattr(w, "about", None) not in _set_by_flags(settings)]
    if photo.alpha is not None and float(photo.alpha.min()) < 1.0:
        result.warnings.append(f"{path}: transparency is not carried over (blurring moves colour across the "
                               f"frame); the output is opaque")
    _resolve_focal_and_sensor(settings, info, result)
    found = _focus_target(settings, info, photo.srgb, stages)
    image, target = found.image, found.target
    target_box_px = image.to_photo(target.box)
    result.focus_point = [round(v, 1) for v in image.to_photo((*target.xy, *target.xy))[:2]]
    result.focus_point_source = target.source
    scale_m, scale_source = _scene_focus_m(settings, info, image, target, result)
    estimate = _estimate_depth(settings, path, depth_path, srgb_in, found, info, result, _lens(result, scale_m),
                               stages)
    result.depth_source = estimate.source
    anchored_at = None
    if estimate.relative:
        estimate = anchor(estimate, target_box_px, min(scale_m, MAX_ANCHOR_M))
        anchored_at = scale_m, scale_source
    _resolve_focus(settings, info, estimate, target_box_px, anchored_at, result)
    if photo_done:
        with stages("encode"):
            _write_depth_maps(path, out.parent, estimate.depth_m, settings, result)
        result.seconds = time.perf_counter() - start
        return result
    lens = _lens(result, result.focus_m)
    device = resolve_device(settings.device)
    refine = None if estimate.refine_lin is None else estimate.refine_lin.to(device)
    rendered = render_with_depth(srgb_in[None].to(device), estimate.inv_depth.to(device), lens,
                                 blades=settings.blades, rotation_deg=settings.blade_rotation_deg,
                                 highlight_boost=settings.highlight_boost, refine_lin=refine, progress=progress,
                                 stages=stages)
    result.max_blur_px = round(rendered.max_blur_px, 2)
    if result.max_blur_px < LOW_BLUR_PX:
        advice = ("add --equivalent for the look of that f-number on a full-frame camera" if not settings.equivalent
                  else "the subject is far for this lens: a lower --f, a longer --focal-length or a nearer --focus-at "
                       "blurs more")
        result.warnings.append(f"{path}: the largest blur is {result.max_blur_px:.1f} px, barely visible; {advice}")
    with stages("encode"):
        srgb = linear_to_srgb(rendered.linear.cpu())[0].permute(1, 2, 0).numpy()
        make_folder(out.parent, out)
        # The photo last: its presence is what marks this input done (skipped on a rerun).
        if write_depth:
            _write_depth_maps(path, out.parent, estimate.depth_m, settings, result)
        result.warnings += save_photo(out, srgb, fmt=settings.fmt, quality=settings.quality, source=photo,
                                      f_number=settings.f_number, description=_description(result),
                                      lens=lens_record(info, camera_focus_m(info)), replace=settings.overwrite)
    result.status = "rendered"
    result.seconds = time.perf_counter() - start
    return result


def _focus_target(settings: RenderSettings, info, srgb: np.ndarray, stages) -> PhotoCueSet:
    """The photo at cue size, its faces and the focus target (:func:`bokehcli.cues.photo.find_focus_target`)."""
    if settings.focus_at is not None:
        x, y = settings.focus_at
        height, width = srgb.shape[:2]
        if not (0 <= x < width and 0 <= y < height):
            raise SettingError("focus_at", f"{x},{y} is outside the {width}x{height} image")
    return find_focus_target(srgb, info, settings.focus_at, stages)


def _scene_focus_m(settings: RenderSettings, info, image: CueImage, target: FocusTarget,
                   result: RenderResult) -> tuple[float, str]:
    """How far the subject is: the camera's focus distance, else the size of the subject's face,
    else (a camera that reports infinity) the capture's hyperfocal distance, else
    --focus-distance, else PROVISIONAL_FOCUS_M. It sets the scale of relative depth and is what
    the network is told. Infinity itself would render nothing out of focus: compacts report it for
    anything beyond a few metres, where a full-frame look still separates subject and background."""
    camera_m = camera_focus_m(info)
    face_m = None
    if target.face is not None:
        face_px = (target.face[2] - target.face[0]) / image.scale
        pitch = pixel_pitch_mm(result.sensor_diag_mm, image.photo_hw[1], image.photo_hw[0])
        face_m = focus_from_face_m(face_px, result.focal_mm, pitch)
    if camera_m is not None and math.isfinite(camera_m):
        if not face_disagrees(camera_m, face_m):
            return camera_m, info.focus_source
        return face_m, f"face size ({info.focus_source} says {camera_m:.3g} m)"
    if face_m is not None:
        return face_m, "face size"
    sensor_known = info.sensor_diag_mm and info.sources.get("crop_factor") != "default"
    if camera_m is not None and info.focal_mm and info.f_number and sensor_known:
        # (not guessed for an unknown sensor: a full-frame guess would put a compact's subject
        # 25 m away instead of 3)
        return (hyperfocal_m(info.focal_mm, info.f_number, info.sensor_diag_mm),
                f"hyperfocal ({info.focus_source}: infinity)")
    if settings.focus_m is not None:
        return settings.focus_m, "flag"
    return PROVISIONAL_FOCUS_M, "default"


def _estimate_depth(settings: RenderSettings, path: Path, depth_path: Path | None, srgb_in: torch.Tensor,
                    found: PhotoCueSet, info, result: RenderResult, scene_lens: Lens, stages) -> DepthEstimate:
    """The depth source: --depth; else (auto, embedded) a map the camera stored in the file; else
    the network when asked for; else the photo's own cues."""
    height, width = srgb_in.shape[-2:]
    if depth_path is not None:
        with stages("decode"):
            estimate, warnings = depth_from_file(path, depth_path, (width, height), settings.max_pixels)
        result.warnings += warnings
        return estimate
    if settings.depth_source in ("auto", "embedded"):
        with stages("decode"):
            embedded, warnings = read_embedded_depth(path, (width, height), info.orientation)
        result.warnings += warnings
        if embedded is not None:
            return depth_from_embedded(embedded)
        if settings.depth_source == "embedded" and not warnings:
            result.warnings.append(f"{path}: no depth map stored in the file; depth from "
                                   f"{'the network' if settings.uses_network else 'the photo itself'}")
    model = device = maps = None
    if settings.uses_network:
        model, device = load_network(settings.network_name, settings.device)
    if model is None or model.config.cue_channels:
        cues = cues_of(found, info, stages)
        if model is None:
            return depth_from_cues(cues, srgb_in, stages)
        # a model that refines the cues sees them as extra channels; made at cue size, they are
        # resized with the photo to the network's working size
        maps = torch.from_numpy(cue_maps(cues, cues.matte.shape)).to(device)
    return depth_from_model(model, Path(settings.network_name).stem, srgb_in.to(device), scene_lens,
                            settings.work_size_px, settings.tile_px, settings.tsp, cue_maps=maps, stages=stages)


def _depth_outputs_to_write(photo: Path, folder: Path, depth_input: Path | None, overwrite: bool,
                            warnings: list[str]) -> bool:
    """Whether --save-depth has maps to write: never over the depth map being read (an input, even
    with --overwrite); existing maps are kept unless --overwrite, like the photo, and a missing
    one is still written."""
    paths = _depth_files(photo, folder)
    existing = [p for p in paths if p.exists()]
    if depth_input is not None and any(p.resolve() == depth_input.resolve() for p in existing):
        raise SettingError("save_depth", f"would overwrite the input depth map {depth_input}; write the outputs "
                                         f"to another folder", subject=str(photo))
    if existing and not overwrite:
        warnings.append(f"{photo}: kept the existing {', '.join(p.name for p in existing)} (--overwrite replaces it)")
        return len(existing) < len(paths)
    return True


def _depth_files(photo: Path, folder: Path) -> tuple[Path, ...]:
    """What --save-depth writes for ``photo`` in ``folder``: the maps (.npy, .png) and the preview."""
    return (*depth_output_paths(folder, photo.stem), depth_preview_path(folder, photo.stem))


def _write_depth_maps(photo: Path, folder: Path, depth_m: np.ndarray, settings: RenderSettings,
                      result: RenderResult) -> None:
    """--save-depth: the metric map (.npy, .png) and its preview, each unless it exists (and
    no --overwrite); the ones written are listed in ``result.depth_outputs``."""
    *maps, preview = _depth_files(photo, folder)
    make_folder(folder, preview)
    written = [p for p in maps if settings.overwrite or not p.exists()]
    save_depth(folder, photo.stem, depth_m, keep_existing=not settings.overwrite)
    if settings.overwrite or not preview.exists():
        write_depth_preview(preview, depth_m, result.focus_m, tuple(result.focus_point))
        written.append(preview)
    result.depth_outputs = [str(p) for p in written]


def _set_by_flags(settings: RenderSettings) -> set[str]:
    """The lens values (see :class:`bokehcli.lens.types.LensWarning`) a flag sets, which makes
    the file's warnings about them moot: a sensor size, the focus distance, the focus point."""
    # (--equivalent replaces the sensor by full frame: the file's sensor size no longer matters)
    flags = {"sensor": settings.sensor_diag_mm is not None or settings.crop_factor is not None or settings.equivalent,
             "focus_m": settings.focus_m is not None, "focus_point": settings.focus_at is not None}
    return {about for about, given in flags.items() if given}


def _resolve_focal_and_sensor(settings: RenderSettings, info, result: RenderResult) -> None:
    """Flag > file > default for focal length and sensor size (:mod:`bokehcli.lens.policy`)."""
    focal, sensor, warnings = focal_and_sensor(info, settings.focal_mm, settings.crop_factor,
                                               settings.sensor_diag_mm, settings.equivalent)
    result.focal_mm, result.focal_source = focal.value, focal.source
    result.sensor_diag_mm, result.sensor_source = sensor.value, sensor.source
    result.warnings += [f"{result.path}: {warning}" for warning in warnings]


def _resolve_focus(settings: RenderSettings, info, estimate: DepthEstimate, target_box_px: Box,
                   anchored_at: tuple[float, str] | None, result: RenderResult) -> None:
    """The render's focus plane: --focus-distance > the depth at --focus-at > the camera's distance
    (a metric map) or the anchoring distance (a relative one, whose depth at the focus target it
    is by construction) > the depth over the focus target."""
    camera_m = camera_focus_m(info)
    if settings.focus_m is not None:
        nearest_m = nearest_focus_m(result.focal_mm)
        if settings.focus_m < nearest_m:
            raise SettingError("focus_m", f"{settings.focus_m:g} m is nearer than a {result.focal_mm:g} mm lens can "
                                          f"focus (at least {nearest_m:.3g} m)", subject=str(result.path))
        result.focus_m, result.focus_source = settings.focus_m, "flag"
        return
    if settings.focus_at is not None:
        x, y = settings.focus_at
        result.focus_m, result.focus_source = depth_at(estimate.inv_depth, (x, y, x + 1, y + 1)), "focus-at"
    elif anchored_at is not None:
        result.focus_m, result.focus_source = anchored_at
    elif camera_m is not None:
        result.focus_m, result.focus_source = camera_m, info.focus_source
    else:
        result.focus_m = depth_at(estimate.inv_depth, target_box_px)
        result.focus_source = f"depth at {result.focus_point_source}"
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


def _description(result: RenderResult) -> str:
    focus = "infinity" if math.isinf(result.focus_m) else f"{result.focus_m:.3g} m"
    return (f"bokeh {__version__}: rendered at f/{result.f_number:g}, {result.focal_mm:g} mm, "
            f"focus {focus} ({result.focus_source})")
