"""`bokeh eval`: the official scoring protocol on a RealBokeh-layout split (see :mod:`bokehcli.evaluate`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import (EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, apply_threads, exit_on_error, fail_line, out, print_json,
                     progress_bar, threads_option, warn_line)


def evaluate(
    data: Path = typer.Option(..., "--data", help="Data set root (RealBokeh layout)."),
    model: str = typer.Option(..., "--model", help="Weights (path or name in models/), or the baselines "
                              "'identity' (floor) and 'physics-gt' (true depth; sets with depth/)."),
    split: str = typer.Option("test", "--split", help="train, validation or test."),
    out_dir: Optional[Path] = typer.Option(None, "--out",
                                           help="Report folder: metrics.json, per_image.csv, grid.png."),
    binary: bool = typer.Option(False, "--binary", help="RealBokeh_bin protocol: one pair per scene, the first "
                                "target listed (f/22 -> f/2.0 on RealBokeh), instead of every pair."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Score only the first N pairs."),
    tile_px: Optional[int] = typer.Option(None, "--tile", min=0, show_default=False,
                                          help="Network tile size in px (TSP across tiles; 0 = whole image; "
                                          "default: the tile bokeh train validates with, 512)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    threads: Optional[int] = threads_option(),
    as_json: bool = typer.Option(False, "--json", help="Print metrics.json to stdout instead of a table."),
) -> None:
    """Score a model on every (source, target) pair of a split at full resolution (or, with
    --binary, on one pair per scene): PSNR, SSIM, LPIPS (when available), means per f-stop and
    over all pairs. Under torchrun the pairs are sharded by rank.

    Example: [bold]bokeh eval --data data/realbokeh --model runs/nano/best.safetensors --out reports/nano[/]
    """
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

    from ..data.realbokeh import SPLITS
    from ..distributed import pick_device, process_group
    from ..evaluate import DEFAULT_TILE_PX, evaluate_split, write_report

    if split not in SPLITS:
        fail_line(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
        raise typer.Exit(EXIT_USAGE)

    apply_threads(threads)
    with exit_on_error(), process_group(device) as ddp:
        torch_device = pick_device(device, ddp)
        with progress_bar(TextColumn("eval"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                          TimeRemainingColumn(), enabled=ddp.main) as progress:
            task = progress.add_task("eval", total=None, info="")

            def on_pair(score) -> None:
                progress.update(task, advance=1, info=f"#{score.id} f/{score.f_number:g} {score.psnr:.2f} dB")

            result = evaluate_split(data, split, model, torch_device, limit,
                                    DEFAULT_TILE_PX if tile_px is None else tile_px, ddp.rank, ddp.world, on_pair,
                                    protocol="binary" if binary else "all-pairs")
        if result is not None and out_dir is not None:
            try:
                out_dir.mkdir(parents=True, exist_ok=True)
                write_report(out_dir, *result)
            except OSError as exc:
                fail_line(f"{out_dir}: cannot write the report: {exc.strerror or exc}")
                raise typer.Exit(EXIT_SOME_FAILED) from None
    if result is None:  # a non-zero rank under torchrun: rank 0 reports
        raise typer.Exit(EXIT_OK)
    summary = result[0]
    if summary["lpips_note"]:
        warn_line(summary["lpips_note"])
    if as_json:
        print_json(summary)
    else:
        _print_table(summary)
    raise typer.Exit(EXIT_OK)


def _print_table(summary: dict) -> None:
    """Means per f-stop first, then the mean over all pairs (which mixes f-stops)."""
    from rich.table import Table

    def fmt(value, digits: int) -> str:
        return "n/a" if value is None else f"{value:.{digits}f}"

    title = f"bokeh eval: {summary['model']} on {summary['split']}, {summary['protocol']['name']}"
    if summary["seconds_per_mp"] is not None:
        title += f" ({summary['seconds_per_mp']:.3f} s/MP)"
    table = Table(title=title)
    for column in ("f-stop", "pairs", "PSNR (dB)", "SSIM", "LPIPS"):
        table.add_column(column, justify="right")
    for fstop, row in summary["per_fstop"].items():
        table.add_row(f"f/{fstop}", str(row["n_pairs"]), fmt(row["psnr"], 2), fmt(row["ssim"], 4),
                      fmt(row["lpips"], 4))
    table.add_row("all pairs", str(summary["n_pairs"]), fmt(summary["psnr"], 2), fmt(summary["ssim"], 4),
                  fmt(summary["lpips"], 4), style="bold")
    out.print(table)
