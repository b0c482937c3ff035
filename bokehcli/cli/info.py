"""`bokeh info`: the lens parameters bokeh reads from each photo (docs/lens-metadata.md)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import List

import typer
from rich.markup import escape
from rich.table import Table

from ..errors import BokehError
from .common import batch_exit_code, fail_line, one_line, out, print_json, warn_line


def info(
    files: List[Path] = typer.Argument(..., help="Photos to inspect (JPEG, TIFF, PNG, HEIC, ...).",
                                       show_default=False, readable=False),   # per-file errors instead
    json_out: bool = typer.Option(False, "--json", help="Print a JSON list, one object per file, instead of a table."),
) -> None:
    """Show focal length, f-number, sensor size, focus distance, focus point and any depth map stored in photos.

    Each value comes with its source (EXIF, maker note, XMP or default); the depth map column
    names the camera's embedded map (GDepth, Dynamic Depth, Apple portrait depth), its size and
    encoding. Unreadable files are named on stderr and make the exit code 1.

    Example: [bold]bokeh info IMG_0001.JPG DSC_0042.JPG --json[/]
    """
    from ..lens import read_lens
    from ..lens.embedded_depth import describe_embedded_depth

    results, n_failed = [], 0
    for path in files:
        try:
            lens = read_lens(path)
            lens.embedded_depth = describe_embedded_depth(path)
            results.append(lens)
        except BokehError as exc:
            fail_line(str(exc))
            n_failed += 1
    if json_out:
        print_json([lens.to_json() for lens in results])
    elif results:
        out.print(_table(results))
        for lens in results:
            for warning in lens.warnings:
                warn_line(f"{lens.path}: {warning}")
    raise typer.Exit(batch_exit_code(n_failed))


def _table(results):
    """A rich table, one row per photo; each value's source in dim text under it."""
    table = Table(show_lines=True)
    table.add_column("file", overflow="fold", ratio=2)
    for column in ("camera", "focal", "f-number", "crop / sensor", "focus", "depth map"):
        table.add_column(column, overflow="fold", ratio=1)
    for lens in results:
        camera = escape(" ".join(part for part in (lens.make, lens.model) if part) or "?")
        if lens.width and lens.height:
            camera += f"\n{lens.width}x{lens.height}"
        focal = _value(lens.focal_mm, "{:g} mm", lens.sources.get("focal_mm"))
        if lens.focal_35mm is not None:
            focal += f"\n({lens.focal_35mm:.0f} mm equiv.)"
        crop = _value(lens.crop_factor, "{:.2f}x", lens.sources.get("crop_factor"))
        if lens.sensor_diag_mm is not None:
            crop += f"\n{lens.sensor_diag_mm:.1f} mm diagonal"
        f_number = _value(lens.f_number, "f/{:.3g}", lens.sources.get("f_number"))
        depth_map = escape(lens.embedded_depth) if lens.embedded_depth else "[dim]none[/]"
        table.add_row(escape(one_line(Path(lens.path).name)), camera, focal, f_number, crop, _focus(lens), depth_map)
    return table


def _value(value, fmt: str, source: str | None) -> str:
    if value is None:
        return "[dim]unknown[/]"
    return fmt.format(value) + (f"\n[dim]{escape(source)}[/]" if source else "")


def _focus(lens) -> str:
    if lens.focus_infinite:
        text = "infinity"
    elif lens.focus_m is None:
        return "[dim]unknown[/]" + _focus_point(lens)
    else:
        text = f"{lens.focus_m:.3g} m"
        if lens.focus_near_m is not None:
            far = "inf" if math.isinf(lens.focus_far_m) else f"{lens.focus_far_m:.3g}"
            text += f"\n({lens.focus_near_m:.3g} .. {far} m)"
    return text + f"\n[dim]{escape(lens.focus_source or '')}[/]" + _focus_point(lens)


def _focus_point(lens) -> str:
    """Where the camera focused (upright pixels), under the distance."""
    if not lens.focus_points:
        return ""
    if len(lens.focus_points) == 1:
        where = "at ({:.0f}, {:.0f})".format(*lens.focus_points[0])
    else:
        where = "{} points in ({:.0f}, {:.0f})-({:.0f}, {:.0f})".format(len(lens.focus_points), *lens.focus_area)
    return f"\nAF {where}\n[dim]{escape(lens.focus_point_source)}[/]"
