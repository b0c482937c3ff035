"""`bokeh render`: photos in, shallow-depth-of-field photos out."""

from __future__ import annotations

import math
from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape
from rich.progress import BarColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from ..imageio import DEFAULT_MAX_PIXELS, JPEG_QUALITY
from ..lens.resolve import CROP_RANGE, FOCAL_MM_RANGE, FOCUS_M_RANGE, SENSOR_DIAGONAL_MM_RANGE
from ..models.operating_point import DEFAULT_WORK_SIZE_PX
from ..naming import is_our_output
from ..pipeline import DEFAULT_MODEL
from ..render.layered import DEFAULT_HIGHLIGHT_GAIN
from .common import (EXIT_USAGE, apply_threads, batch_exit_code, err, fail_line, one_line, other_failure, out,
                     print_json, progress_bar, threads_option, warn_line)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".heic", ".heif", ".webp"}


def render(
    # readable=False: an unreadable photo is that photo's one-line error, not the whole batch's
    inputs: List[Path] = typer.Argument(..., help="Photos, or folders of photos.", show_default=False,
                                        readable=False),
    f: str = typer.Option(..., "--f", help="f-number to render at, e.g. 1.8 (names the output: _bokeh_f1.8)."),
    depth: Optional[str] = typer.Option(None, "--depth", help="Depth map: a file, a folder of <stem>.png/.npy, "
                                        "or a template like 'depth/{stem}.png' (.npy metres or 16-bit PNG mm)."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Output folder (default: beside each input)."),
    focal_length: Optional[float] = typer.Option(None, "--focal-length", help="Focal length in mm [EXIF]."),
    focus_distance: Optional[str] = typer.Option(None, "--focus-distance",
                                                 help="Focus distance in m, or 'inf' [EXIF]."),
    focus_at: Optional[str] = typer.Option(None, "--focus-at", help="Focus on the depth at pixel X,Y."),
    crop_factor: Optional[float] = typer.Option(None, "--crop-factor", help="Sensor crop factor [EXIF]."),
    equivalent: bool = typer.Option(False, "--equivalent",
                                    help="Read --f (and --focal-length) as full-frame equivalents: the look of "
                                         "that lens on a 35 mm camera with the same field of view, as phone "
                                         "portrait modes mean 'f/1.8'. Without it --f is the real f-number of "
                                         "this camera's lens, which on a small sensor blurs little."),
    sensor_diagonal: Optional[float] = typer.Option(None, "--sensor-diagonal", help="Sensor diagonal in mm."),
    blades: int = typer.Option(0, "--blades", help="Aperture blades (0 = round, or 3 and more)."),
    blade_rotation: float = typer.Option(0.0, "--blade-rotation", help="Blade rotation in degrees."),
    highlight_boost: float = typer.Option(DEFAULT_HIGHLIGHT_GAIN, "--highlight-boost",
                                          help="Gain of clipped highlights before blurring (1 = off)."),
    fmt: str = typer.Option("jpeg", "--format", help="Output format: jpeg, png or tiff (16-bit)."),
    quality: int = typer.Option(JPEG_QUALITY, "--quality", min=1, max=100, help="JPEG quality."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
    save_depth: bool = typer.Option(False, "--save-depth", help="Also write <stem>_depth.npy/.png."),
    max_pixels: int = typer.Option(DEFAULT_MAX_PIXELS, "--max-pixels", min=1,
                                   help="Refuse larger images (bomb guard)."),
    depth_source: str = typer.Option("auto", "--depth-source",
                                     help="Without --depth: 'embedded' (a depth map the camera stored: Google "
                                          "GDepth / Dynamic Depth, iPhone portrait depth), 'cues' (the photo's own: "
                                          "AF point, faces, subject, blur, layout), 'model' (the BokehFlow network), "
                                          "or 'auto' (embedded if present, else cues, or the network when --model "
                                          "names weights)."),
    model: Optional[str] = typer.Option(None, "--model", show_default=False,
                                        help=f"BokehFlow weights: a name in models/ or a path [default: {DEFAULT_MODEL}]."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or mps (the network's device)."),
    work_size_px: Optional[int] = typer.Option(None, "--work-size", min=0, show_default=False,
                                               help="Long side (px) the network runs at; 0 = full resolution "
                                                    f"[default: the weights' operating point; {DEFAULT_WORK_SIZE_PX} "
                                                    "for the shipped ones]."),
    tile_px: Optional[int] = typer.Option(None, "--tile", min=0,
                                          help="Network tile size in px; 0 = whole image (default: the weights' "
                                               "operating point, else by working size)."),
    no_tsp: bool = typer.Option(False, "--no-tsp", help="Do not carry the recurrent state from tile to tile."),
    threads: Optional[int] = threads_option(),
    shard: Optional[str] = typer.Option(None, "--shard", show_default=False,
                                        help="Render only share I of N of the inputs (0-based, e.g. a job array's "
                                             "task index); under torchrun each rank takes its share by itself."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Render photos with the shallow depth of field of a fast lens.

    Depth comes from --depth; without it from the photo itself (where the camera focused, faces,
    the subject's outline, blur already in the photo, sky and ground), anchored at the camera's
    focus distance, or from the BokehFlow network (--depth-source model).

    Example: [bold]bokeh render photo.jpg --f 1.8 --depth photo_depth.png --out out/[/]
    """
    from ..batch import OutputClaims
    from ..errors import BokehError
    from ..pipeline import RenderSettings, output_path, render_file
    from ..shard import batch_share

    apply_threads(threads)
    try:
        share, device = batch_share(shard, device)
        settings = RenderSettings(
            f_number_text=f, depth=depth, focal_mm=_within(focal_length, "--focal-length", FOCAL_MM_RANGE),
            focus_m=_parse_focus(focus_distance), crop_factor=_within(crop_factor, "--crop-factor", CROP_RANGE),
            sensor_diag_mm=_within(sensor_diagonal, "--sensor-diagonal", SENSOR_DIAGONAL_MM_RANGE),
            focus_at=_parse_xy(focus_at),
            blades=blades, blade_rotation_deg=blade_rotation, highlight_boost=highlight_boost,
            out_dir=out_dir, overwrite=overwrite, fmt=fmt, quality=quality, max_pixels=max_pixels,
            save_depth=save_depth, model=model, device=device, work_size_px=work_size_px, tile_px=tile_px,
            tsp=not no_tsp, depth_source=depth_source, equivalent=equivalent)
        settings.validate()
    except BokehError as exc:
        fail_line(str(exc))
        raise typer.Exit(EXIT_USAGE)

    paths, failures = _expand(inputs)  # failures: (input, one-line message)
    if share is not None:
        listed = len(paths)
        paths = share.take(paths, key=lambda p: str(output_path(p, settings).absolute()))
        err.print(one_line(share.summary(len(paths), listed)), markup=False)
    results = []
    claims = OutputClaims(paths)
    with progress_bar(TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn()) as progress:
        for path in paths:
            task = progress.add_task(escape(path.name), total=None)
            try:
                target = output_path(path, settings)
                claims.check(path, target)
                result = render_file(path, settings, lambda n, t=task: progress.advance(t, n))
                claims.claim(path, target)
            except Exception as exc:  # noqa: BLE001 - one photo must never end the batch with a traceback
                failures.append((path, str(exc) if isinstance(exc, BokehError) else other_failure(exc, path)))
                fail_line(failures[-1][1])
                continue
            finally:
                progress.remove_task(task)
            for warning in result.warnings:
                warn_line(warning)
            results.append(result)
    if as_json:
        print_json([r.to_json() for r in results] + [{"path": str(p), "error": m} for p, m in failures])
    else:
        _print_table(results)
    raise typer.Exit(batch_exit_code(len(failures)))


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
    from ..errors import BokehError

    low, high = bounds
    if value is not None and not low <= value <= high:  # NaN fails too
        raise BokehError(f"{flag} must be from {low:.3g} to {high:g}, got {value:g}")
    return value


def _parse_focus(text: str | None) -> float | None:
    from ..errors import BokehError

    if text is None:
        return None
    if text.strip().lower() in ("inf", "infinity", "∞"):
        return math.inf
    try:
        return _within(float(text), "--focus-distance", FOCUS_M_RANGE)
    except ValueError:
        raise BokehError(f"--focus-distance must be metres or 'inf', got {text!r}") from None


def _parse_xy(text: str | None) -> tuple[int, int] | None:
    from ..errors import BokehError

    if text is None:
        return None
    try:
        x, y = (int(v) for v in text.split(","))
    except ValueError:
        raise BokehError(f"--focus-at must be X,Y in pixels, got {text!r}") from None
    return x, y


def _print_table(results) -> None:
    if not results:
        return
    table = Table(title="bokeh render", show_lines=False)
    for column in ("file", "focal", "focus (source)", "depth", "f", "max blur", "time"):
        table.add_column(column)
    table.add_column("output", overflow="fold")  # the one thing a reader needs whole
    for r in results:
        name, output = escape(one_line(r.path.name)), escape(one_line(str(r.output)))  # [markup], \n, bad UTF-8
        if r.status == "skipped":
            table.add_row(name, "", "", "", f"{r.f_number:g}", "", "", f"exists, skipped: {output}")
            continue
        focus = "∞" if math.isinf(r.focus_m) else f"{r.focus_m:.2f} m"
        table.add_row(name, f"{r.focal_mm:g} mm", f"{focus} ({escape(r.focus_source)})", escape(r.depth_source or ""),
                      f"{r.f_number:g}",
                      f"{r.max_blur_px:.1f} px", f"{r.seconds:.1f} s", output)
    out.print(table)
