"""`bokeh info`: the lens parameters bokeh reads from each photo (docs/lens-metadata.md)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import List

import typer
from rich.markup import escape
from rich.table import Table

from .common import batch_exit_code, fail_line, failure_line, out, print_json, warn_line
from .tables import new_table, print_table, short_name


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
        except Exception as exc:  # noqa: BLE001 - one file must never end the batch with a traceback
            fail_line(failure_line(exc, path))
            n_failed += 1
    if json_out:
        print_json([lens.to_json() for lens in results])
    elif results:
        for lens in results:
            print_table(out, _table(lens))
        for lens in results:
            for warning in lens.warnings:
                warn_line(f"{lens.path}: {warning}")
    raise typer.Exit(batch_exit_code(n_failed))


def _table(lens) -> Table:
    """One photo as rows of (what, value, source): three columns of short words, readable at
    80 columns whatever the sources are called (see :mod:`bokehcli.cli.tables`)."""
    table = new_table(short_name(Path(lens.path).name, 60), "", "value", "source")
    camera = " ".join(part for part in (lens.make, lens.model) if part)
    table.add_row("camera", escape(camera) if camera else "[dim]unknown[/]", "")
    if lens.width and lens.height:
        table.add_row("stored size", f"{lens.width}x{lens.height} px", "")
    table.add_row("focal length", *_value(lens.focal_mm, "{:g} mm", lens.sources.get("focal_mm")))
    if lens.focal_35mm is not None:
        table.add_row("35 mm equiv.", *_value(lens.focal_35mm, "{:.0f} mm", lens.sources.get("focal_35mm")))
    table.add_row("f-number", *_value(lens.f_number, "f/{:.3g}", lens.sources.get("f_number")))
    table.add_row("crop factor", *_value(lens.crop_factor, "{:.2f}x", lens.sources.get("crop_factor")))
    if lens.sensor_diag_mm is not None:
        table.add_row("sensor", f"{lens.sensor_diag_mm:.1f} mm diagonal", "")
    table.add_row("focus", _focus(lens), escape(lens.focus_source or ""))
    if lens.focus_points:
        table.add_row("AF point", _focus_point(lens), escape(lens.focus_point_source or ""))
    if lens.faces:
        table.add_row("faces", str(len(lens.faces)), escape(lens.faces_source or ""))
    table.add_row("depth map", escape(lens.embedded_depth) if lens.embedded_depth else "[dim]none[/]", "")
    return table


def _value(value, fmt: str, source: str | None) -> tuple[str, str]:
    if value is None:
        return "[dim]unknown[/]", ""
    return fmt.format(value), escape(source or "")


def _focus(lens) -> str:
    if lens.focus_infinite:
        return "infinity"
    if lens.focus_m is None:
        return "[dim]unknown[/]"
    text = f"{lens.focus_m:.3g} m"
    if lens.focus_near_m is not None:
        far = "inf" if math.isinf(lens.focus_far_m) else f"{lens.focus_far_m:.3g}"
        text += f" ({lens.focus_near_m:.3g} .. {far} m)"
    return text


def _focus_point(lens) -> str:
    """Where the camera focused (upright pixels)."""
    if len(lens.focus_points) == 1:
        return "at ({:.0f}, {:.0f})".format(*lens.focus_points[0])
    return "{} points in ({:.0f}, {:.0f})-({:.0f}, {:.0f})".format(len(lens.focus_points), *lens.focus_area)
