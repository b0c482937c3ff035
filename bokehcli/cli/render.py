"""`bokeh render`: photos in, shallow-depth-of-field photos out."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape

from ..defaults import DEFAULT_HIGHLIGHT_GAIN, DEFAULT_MAX_PIXELS, DEFAULT_MODEL, DEFAULT_WORK_SIZE_PX, JPEG_QUALITY
from ..errors import BokehError
from ..naming import is_our_output
from ..stop import Interrupted
from .common import (apply_threads, batch_exit_code, err, exit_on_error, fail_line, failure_line, one_line, out, print_json,
                     threads_option, tile_option, warn_line)
from .progress import CommandProgress
from .tables import new_table, print_table, short_name, short_path

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".heic", ".heif", ".webp"}
LENS, FOCUS, APERTURE, DEPTH, OUTPUT, PERFORMANCE = ("Lens", "Focus", "Aperture", "Depth & model", "Output",
                                                     "Performance")
# the photos an interrupted batch names as finished; more are counted
NAMED_WHEN_STOPPED = 10


def render(
    # readable=False: an unreadable photo is that photo's one-line error, not the whole batch's
    inputs: List[Path] = typer.Argument(..., help="Photos, or folders of photos.", show_default=False,
                                        readable=False),
    f: str = typer.Option(..., "--f", rich_help_panel=APERTURE,
                          help="f-number to render at, e.g. 1.8 (names the output: _bokeh_f1.8)."),
    equivalent: bool = typer.Option(False, "--equivalent", rich_help_panel=APERTURE,
                                    help="Read --f (and --focal-length) as full-frame equivalents: the look of "
                                         "that lens on a 35 mm camera with the same field of view, as phone "
                                         "portrait modes mean 'f/1.8'. Without it --f is the real f-number of "
                                         "this camera's lens, which on a small sensor blurs little."),
    blades: int = typer.Option(0, "--blades", help="Aperture blades (0 = round, or 3 and more).",
                               rich_help_panel=APERTURE),
    blade_rotation: float = typer.Option(0.0, "--blade-rotation", help="Blade rotation in degrees.",
                                         rich_help_panel=APERTURE),
    highlight_boost: float = typer.Option(DEFAULT_HIGHLIGHT_GAIN, "--highlight-boost", rich_help_panel=APERTURE,
                                          help="Gain of clipped highlights before blurring (1 = off)."),
    focal_length: Optional[float] = typer.Option(None, "--focal-length", help="Focal length in mm [EXIF].",
                                                 rich_help_panel=LENS),
    crop_factor: Optional[float] = typer.Option(None, "--crop-factor", help="Sensor crop factor [EXIF].",
                                                rich_help_panel=LENS),
    sensor_diagonal: Optional[float] = typer.Option(None, "--sensor-diagonal", help="Sensor diagonal in mm.",
                                                    rich_help_panel=LENS),
    focus_distance: Optional[str] = typer.Option(None, "--focus-distance", rich_help_panel=FOCUS,
                                                 help="Focus distance in m, or 'inf' [EXIF]."),
    focus_at: Optional[str] = typer.Option(None, "--focus-at", help="Focus on the depth at pixel X,Y.",
                                           rich_help_panel=FOCUS),
    depth: Optional[str] = typer.Option(None, "--depth", rich_help_panel=DEPTH,
                                        help="Depth map: a file, a folder of <stem>.png/.npy, or a template like "
                                             "'depth/{stem}.png' (.npy metres or 16-bit PNG mm)."),
    depth_source: str = typer.Option("auto", "--depth-source", rich_help_panel=DEPTH,
                                     help="Without --depth: 'embedded' (a depth map the camera stored), 'cues' (the "
                                          "photo's own), 'model' (the BokehFlow network), or 'auto' (embedded if "
                                          "present, else cues, or the network when --model names weights)."),
    model: Optional[str] = typer.Option(None, "--model", show_default=DEFAULT_MODEL, rich_help_panel=DEPTH,
                                        help="BokehFlow weights: a name in models/ or a path."),
    work_size_px: Optional[int] = typer.Option(None, "--work-size", min=0, show_default=False, rich_help_panel=DEPTH,
                                               help="Long side (px) the network runs at; 0 = full resolution "
                                                    f"[default: the weights' operating point; {DEFAULT_WORK_SIZE_PX} "
                                                    "for the shipped ones]."),
    tile_px: Optional[int] = tile_option("the weights' operating point, else by the working size: whole when "
                                         "small, else tiles"),
    no_tsp: bool = typer.Option(False, "--no-tsp", help="Do not carry the recurrent state from tile to tile.",
                                rich_help_panel=DEPTH),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Output folder (default: beside each input).",
                                           rich_help_panel=OUTPUT),
    fmt: str = typer.Option("jpeg", "--format", help="Output format: jpeg, png or tiff (16-bit).",
                            rich_help_panel=OUTPUT),
    quality: int = typer.Option(JPEG_QUALITY, "--quality", min=1, max=100, help="JPEG quality.",
                                rich_help_panel=OUTPUT),
    overwrite: bool = typer.Option(False, "--overwrite", rich_help_panel=OUTPUT,
                                   help="Replace existing outputs (otherwise skipped, so a rerun finishes a batch)."),
    save_depth: bool = typer.Option(False, "--save-depth", rich_help_panel=OUTPUT,
                                    help="Also write <stem>_depth.npy/.png and a preview (a rerun adds missing ones)."),
    as_json: bool = typer.Option(False, "--json", rich_help_panel=OUTPUT, help="Print the results as JSON."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or mps (the network's device).",
                               rich_help_panel=PERFORMANCE),
    threads: Optional[int] = threads_option(),
    max_pixels: int = typer.Option(DEFAULT_MAX_PIXELS, "--max-pixels", min=1, rich_help_panel=PERFORMANCE,
                                   help="Refuse larger images (bomb guard)."),
    shard: Optional[str] = typer.Option(None, "--shard", show_default=False, rich_help_panel=PERFORMANCE,
                                        help="Render only share I of N of the inputs (0-based, e.g. a job array's "
                                             "task index); under torchrun each rank takes its share by itself."),
) -> None:
    """Render photos with the shallow depth of field of a fast lens.

    Depth comes from --depth, else from a depth map the camera stored (Google GDepth, iPhone
    portrait depth), else from the photo itself (where the camera focused, faces, the subject,
    blur already in it, sky and ground) or the BokehFlow network (--depth-source model).

    Example: [bold]bokeh render photo.jpg --f 1.8 --depth photo_depth.png --out out/[/]
    """
    from ..pipeline import RenderSettings
    from ..shard import batch_share

    apply_threads(threads)
    with exit_on_error():
        share, device = batch_share(shard, device)
        settings = RenderSettings(
            f_number_text=f, depth=depth, **_lens_flags(focal_length, crop_factor, sensor_diagonal, focus_distance),
            focus_at=_parse_xy(focus_at), blades=blades, blade_rotation_deg=blade_rotation,
            highlight_boost=highlight_boost, out_dir=out_dir, overwrite=overwrite, fmt=fmt, quality=quality,
            max_pixels=max_pixels, save_depth=save_depth, model=model, device=device, work_size_px=work_size_px,
            tile_px=tile_px, tsp=not no_tsp, depth_source=depth_source, equivalent=equivalent)
        settings.validate()
    paths, failures = _expand(inputs)  # failures: (input, one-line message)
    _report(_render_all(_this_share(share, paths, settings), settings, failures), failures, as_json)
    raise typer.Exit(batch_exit_code(len(failures)))


def _this_share(share, paths: list[Path], settings) -> list[Path]:
    """The inputs this process renders (``--shard`` or torchrun; all without), announced in one line."""
    from ..pipeline import output_path

    if share is None:
        return paths
    taken = share.take(paths, key=lambda p: str(output_path(p, settings).absolute()))
    err.print(one_line(share.summary(len(taken), len(paths))), markup=False)
    return taken


def _lens_flags(focal_mm: float | None, crop_factor: float | None, sensor_diag_mm: float | None,
                focus_text: str | None) -> dict:
    """The lens flags as RenderSettings fields, each checked against the range the lens reader
    trusts a file's value in."""
    from ..lens.resolve import CROP_RANGE, FOCAL_MM_RANGE, SENSOR_DIAGONAL_MM_RANGE

    return {"focal_mm": _within(focal_mm, "--focal-length", FOCAL_MM_RANGE),
            "crop_factor": _within(crop_factor, "--crop-factor", CROP_RANGE),
            "sensor_diag_mm": _within(sensor_diag_mm, "--sensor-diagonal", SENSOR_DIAGONAL_MM_RANGE),
            "focus_m": _parse_focus(focus_text)}


def _render_all(paths: list[Path], settings, failures: list[tuple[Path, str]]) -> list:
    """Render each photo in turn; a failure is that photo's one line, the batch goes on. On a
    stop signal the :class:`Interrupted` that ends the run names what was finished."""
    from ..batch import OutputClaims
    from ..pipeline import output_path

    results, n_failed_before = [], len(failures)
    claims = OutputClaims(paths)
    in_flight = None  # (photo, whether its output existed before this run's attempt)
    try:
        with CommandProgress("render", total=len(paths)) as progress:
            for index, path in enumerate(paths, 1):
                progress.working(path.name)
                try:
                    in_flight = path, output_path(path, settings).exists()
                    result = _render_one(path, settings, claims)
                except Exception as exc:  # noqa: BLE001 - one photo must never end the batch with a traceback
                    failures.append((path, failure_line(exc, path)))
                    fail_line(failures[-1][1])
                    progress.finished(None, info=path.name)
                    continue
                results.append(result)
                in_flight = None
                progress.finished(f"[{index}/{len(paths)}] {_finished_line(result)}", info=path.name)
                for warning in result.warnings:
                    warn_line(warning)
    except Interrupted as stop:
        rendered = [r.path for r in results if r.status == "rendered"]
        if in_flight is not None and in_flight[0] not in rendered and not in_flight[1] and _written(
                output_path(in_flight[0], settings)):
            rendered.append(in_flight[0])  # stopped after its output was written, before it was reported
        n_existed = sum(r.status == "skipped" for r in results)
        stop.detail = _stopped_line(len(paths), rendered, n_existed, len(failures) - n_failed_before)
        raise
    return results


def _written(output: Path) -> bool:
    """Whether ``output`` exists (False when its name cannot even be looked up)."""
    try:
        return output.exists()
    except OSError:  # a name too long for the file system: that photo failed
        return False


def _render_one(path: Path, settings, claims):
    """One photo of the batch, refused when its output is another input or another photo's output."""
    from ..pipeline import output_path, render_file

    target = output_path(path, settings)
    claims.check(path, target)
    result = render_file(path, settings)
    claims.claim(path, target)
    return result


def _finished_line(result) -> str:
    """The plain progress line of one finished photo."""
    if result.status == "skipped":
        extra = f"; wrote {', '.join(Path(p).name for p in result.depth_outputs)}" if result.depth_outputs else ""
        return f"{result.path}: skipped, {result.output} exists{extra}"
    return (f"{result.path}: rendered -> {result.output} ({result.seconds:.1f} s, "
            f"largest blur {result.max_blur_px:.1f} px)")


def _stopped_line(total: int, rendered: list[Path], n_existed: int, n_failed: int) -> str:
    """What an interrupted batch finished, e.g. "3 of 8 rendered (a.jpg, b.jpg, c.jpg); rerun to
    finish the rest" (a rerun skips the photos whose outputs exist)."""
    names = [one_line(p.name) for p in rendered]
    shown = ", ".join(names[:NAMED_WHEN_STOPPED]) + (f" and {len(names) - NAMED_WHEN_STOPPED} more"
                                                      if len(names) > NAMED_WHEN_STOPPED else "")
    line = f"{len(names)} of {total} rendered" + (f" ({shown})" if names else "")
    line += f", {n_existed} already were" if n_existed else ""
    line += f", {n_failed} failed" if n_failed else ""
    if len(names) + n_existed + n_failed < total:
        line += "; rerun to finish the rest"
    return line


def _expand(inputs: list[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Files as given; folders contribute their photos (sorted), leaving out hidden files (our own
    temp files, macOS ``._`` resource forks), our outputs and depth maps, so rendering a folder
    twice does not render its results. Missing paths and unreadable folders fail here."""
    paths, failures = [], []
    for item in inputs:
        problem = None
        try:
            if item.is_dir():
                found = sorted(p for p in item.iterdir() if _is_photo(p))
                paths += found
                if not found:
                    warn_line(f"{item}: no photos in this folder")
            elif item.exists():
                paths.append(item)
            else:
                problem = "no such file"
        except OSError as exc:
            problem = f"cannot read: {exc.strerror or exc}"
        if problem is not None:
            failures.append((item, f"{item}: {problem}"))
            fail_line(failures[-1][1])
    return paths, failures


def _is_photo(path: Path) -> bool:
    return (path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".") and path.is_file()
            and not is_our_output(path))


def _within(value: float | None, flag: str, bounds: tuple[float, float]) -> float | None:
    """``value`` if it is None or in ``bounds`` (the ones the lens reader trusts a file's values in)."""
    low, high = bounds
    if value is not None and not low <= value <= high:  # NaN fails too
        raise BokehError(f"{flag} must be from {low:.3g} to {high:g}, got {value:g}")
    return value


def _parse_focus(text: str | None) -> float | None:
    from ..lens.resolve import FOCUS_M_RANGE

    if text is None:
        return None
    if text.strip().lower() in ("inf", "infinity", "∞"):
        return math.inf
    try:
        return _within(float(text), "--focus-distance", FOCUS_M_RANGE)
    except ValueError:
        raise BokehError(f"--focus-distance must be metres or 'inf', got {text!r}") from None


def _parse_xy(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        x, y = (int(v) for v in text.split(","))
    except ValueError:
        raise BokehError(f"--focus-at must be X,Y in pixels, got {text!r}") from None
    return x, y


def _report(results: list, failures: list[tuple[Path, str]], as_json: bool) -> None:
    """The batch's results on stdout: JSON (failures included), or a table for people."""
    if as_json:
        print_json([r.to_json() for r in results] + [{"path": str(p), "error": m} for p, m in failures])
    else:
        _print_results(results)


def _print_results(results) -> None:
    """One row per photo, in short words (see :mod:`bokehcli.cli.tables`); where the outputs went
    on a line of its own below, whole."""
    if not results:
        return
    table = new_table("bokeh render", "photo", "focal", "f", "focus", "depth", "blur", "time",
                      right=("focal", "f", "blur", "time"))
    for r in results:
        if r.status == "skipped":
            table.add_row(short_name(r.path.name), "", f"{r.f_number:g}", "", "", "", "exists")
            continue
        focus = "∞" if math.isinf(r.focus_m) else f"{r.focus_m:.2f} m"
        table.add_row(short_name(r.path.name), f"{r.focal_mm:.3g} mm", f"{r.f_number:g}",
                      f"{focus} ({_brief_source(r.focus_source)})", _brief_depth(r.depth_source),
                      f"{r.max_blur_px:.1f} px", f"{r.seconds:.1f} s")
    print_table(out, table)
    folders = {r.output.parent for r in results}
    name = r.output.name if len(results) == 1 else f"<photo>{r.output.name[len(r.path.stem):]}"
    where = os.path.join(short_path(folders.pop()), "") if len(folders) == 1 else "beside each photo: "
    out.print(f"output: {where}{one_line(name)}", markup=False)


def _brief_source(source: str | None) -> str:
    """A value's source in a word or two: the metadata block of a tag ("EXIF", "Canon"), the
    method without its detail ("face size", "hyperfocal")."""
    brief = (source or "").split(" (")[0]
    return escape(" ".join(word.split(":")[0] for word in brief.split()))


def _brief_depth(source: str | None) -> str:
    """The depth source: a given map by its file name, the others as named."""
    if source and os.sep in source:
        return short_name(Path(source).name)
    return escape(source or "")
