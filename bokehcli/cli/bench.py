"""`bokeh bench`: how fast is `bokeh render` here, stage by stage."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from ..defaults import DEFAULT_MODEL, DEFAULT_WORK_SIZE_PX
from .common import apply_threads, exit_on_error, out, print_json, threads_option, tile_option
from .tables import new_table, print_table


def bench(
    photo: Optional[Path] = typer.Argument(None, help="Photo to render (default: a generated one of --size)."),
    size: str = typer.Option("6000x4000", "--size", help="Size WxH of the generated photo."),
    f: str = typer.Option("1.8", "--f", help="f-number to render at."),
    with_depth: bool = typer.Option(False, "--with-depth",
                                    help="Use the generated depth map instead of the network."),
    depth_source: str = typer.Option("auto", "--depth-source", help="cues, model or auto, as for bokeh render."),
    model: Optional[str] = typer.Option(None, "--model", show_default=DEFAULT_MODEL,
                                        help="Network weights (name or path)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or mps."),
    work_size_px: int = typer.Option(DEFAULT_WORK_SIZE_PX, "--work-size", min=0, help="Network working size (px)."),
    tile_px: Optional[int] = tile_option("by the working size: whole when small, else tiles"),
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
    apply_threads(threads)
    report = _run(photo, size, f, with_depth, depth_source, model, device, work_size_px, tile_px, repeat, compare)
    if as_json:
        print_json(report)
    else:
        _print_report(report)


def _run(photo: Path | None, size: str, f: str, with_depth: bool, depth_source: str, model: str | None, device: str,
         work_size_px: int, tile_px: int | None, repeat: int, compare: bool) -> dict:
    """The bench report (see :func:`bokehcli.bench.bench_render`), with the comparisons when asked."""
    from ..bench import bench_render, compare_op, compare_tiling, make_bench_photo
    from ..data.synth import parse_size
    from ..errors import BokehError
    from ..pipeline import RenderSettings

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
    return report


def _print_report(report: dict) -> None:
    """The stage table, a summary line, and a table per comparison that was run."""
    threading = report["settings"]["threads"], report["settings"]["omp_wait_policy"] or "default"
    table = new_table(f"bokeh bench: {report['megapixels']} MP on {report['device']}, median of {report['repeat']}, "
                      f"depth {escape(str(report['depth']))}, {threading[0]} threads (OpenMP wait {threading[1]})",
                      "stage", "seconds", right=("seconds",))
    for name, seconds in report["median_seconds"].items():
        table.add_row(name, f"{seconds:.3f}")
    print_table(out, table)
    out.print(f"{report['megapixels_per_second']:.2f} MP/s, peak {report['peak_memory_kind']} "
              f"{report['peak_memory_bytes'] / 2**30:.2f} GiB, largest blur {report['max_blur_px']} px")
    if "compare_op" in report:
        op = report["compare_op"]
        table = new_table(f"gated delta rule, shape {'x'.join(map(str, op['shape']))}: chunked vs per token "
                          f"(max difference {op['max_abs_diff']:.1e})", "form", "seconds", "speed-up",
                          right=("seconds", "speed-up"))
        table.add_row("chunked", f"{op['chunk_s']:.4f}", f"{op['speedup']:.2f}x")
        table.add_row("per token", f"{op['recurrent_s']:.4f}", "1.00x")
        print_table(out, table)
    if "compare_tiling" in report:
        tiling = report["compare_tiling"]
        table = new_table("network: whole image vs tiles (inverse depth PSNR against whole)",
                          "run", "seconds", "PSNR (dB)", right=("seconds", "PSNR (dB)"))
        table.add_row("whole", f"{tiling['whole_s']:.3f}", "reference")
        for name, label in (("tiled_tsp", "tiles, state carried"), ("tiled_no_tsp", "tiles, fresh state")):
            table.add_row(label, f"{tiling[f'{name}_s']:.3f}", f"{tiling[f'{name}_inv_depth_psnr_db']:.2f}")
        print_table(out, table)
