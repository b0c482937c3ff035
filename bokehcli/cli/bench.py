"""`bokeh bench`: how fast is `bokeh render` here, stage by stage."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from ..models.operating_point import DEFAULT_WORK_SIZE_PX
from ..pipeline import DEFAULT_MODEL
from .common import apply_threads, exit_on_error, out, print_json, threads_option


def bench(
    photo: Optional[Path] = typer.Argument(None, help="Photo to render (default: a generated one of --size)."),
    size: str = typer.Option("6000x4000", "--size", help="Size WxH of the generated photo."),
    f: str = typer.Option("1.8", "--f", help="f-number to render at."),
    with_depth: bool = typer.Option(False, "--with-depth",
                                    help="Use the generated depth map instead of the network."),
    depth_source: str = typer.Option("auto", "--depth-source", help="cues, model or auto, as for bokeh render."),
    model: Optional[str] = typer.Option(None, "--model", show_default=False,
                                        help=f"Network weights (name or path) [default: {DEFAULT_MODEL}]."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or mps."),
    work_size_px: int = typer.Option(DEFAULT_WORK_SIZE_PX, "--work-size", min=0, help="Network working size (px)."),
    tile_px: Optional[int] = typer.Option(None, "--tile", min=0, help="Network tile size (px; default: by size)."),
    repeat: int = typer.Option(3, "--repeat", min=1, help="Runs; medians are reported."),
    compare: bool = typer.Option(False, "--compare",
                                 help="Also: whole image vs tiles (network) and chunked vs per-token op."),
    threads: Optional[int] = threads_option(),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Time `bokeh render` end to end and per stage (decode, network, depth upsampling, CoC,
    render, encode): medians, megapixels/s and peak memory.

    Example: [bold]bokeh bench --size 6000x4000 --with-depth --repeat 3[/]
    """
    from ..bench import bench_render, compare_op, compare_tiling, make_bench_photo
    from ..data.synth import parse_size
    from ..errors import BokehError
    from ..pipeline import RenderSettings

    apply_threads(threads)
    with tempfile.TemporaryDirectory(prefix="bokeh-bench-") as tmp, exit_on_error():
        depth = None
        if photo is None:
            try:
                width, height = parse_size(size)
            except ValueError as exc:
                raise BokehError(f"--size: {exc}") from None
            photo, depth_png = make_bench_photo(Path(tmp), width, height)
            depth = str(depth_png) if with_depth else None
        elif with_depth:
            raise BokehError("--with-depth needs the generated photo (leave out PHOTO)")
        settings = RenderSettings(f_number_text=f, depth=depth, out_dir=Path(tmp) / "out", model=model,
                                  device=device, work_size_px=work_size_px, tile_px=tile_px,
                                  depth_source=depth_source)
        settings.validate()
        report = bench_render(photo, settings, repeat)
        if compare:
            report["compare_op"] = compare_op()
            if settings.uses_network:
                report["compare_tiling"] = compare_tiling(photo, settings)
    if as_json:
        print_json(report)
        return
    threading = report["settings"]["threads"], report["settings"]["omp_wait_policy"] or "default"
    table = Table(title=f"bokeh bench: {report['megapixels']} MP on {report['device']}, "
                        f"median of {report['repeat']}, depth {report['depth']}, "
                        f"{threading[0]} threads (OpenMP wait {threading[1]})")
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    for name, seconds in report["median_seconds"].items():
        table.add_row(name, f"{seconds:.3f}")
    out.print(table)
    out.print(f"{report['megapixels_per_second']:.2f} MP/s, peak {report['peak_memory_kind']} "
              f"{report['peak_memory_bytes'] / 2**30:.2f} GiB, largest blur {report['max_blur_px']} px")
    for key in ("compare_op", "compare_tiling"):
        if key in report:
            out.print(f"{key}: {report[key]}")
