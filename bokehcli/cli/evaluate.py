"""`bokeh eval`: the official scoring protocol on a RealBokeh-layout split (see :mod:`bokehcli.evaluate`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import EXIT_OK, apply_threads, exit_on_error, out, print_json, threads_option, tile_option, warn_line
from .progress import CommandProgress
from .tables import new_table, print_table, short_path


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
    tile_px: Optional[int] = tile_option("the tile bokeh train validates with"),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    threads: Optional[int] = threads_option(),
    as_json: bool = typer.Option(False, "--json", help="Print metrics.json to stdout instead of a table."),
) -> None:
    """Score a model on every (source, target) pair of a split at full resolution (or, with
    --binary, on one pair per scene): PSNR, SSIM, LPIPS (when available), means per f-stop and
    over all pairs. Under torchrun the pairs are sharded by rank.

    Example: [bold]bokeh eval --data data/realbokeh --model runs/nano/best.safetensors --out reports/nano[/]
    """
    from ..data.realbokeh import SPLITS
    from ..distributed import pick_device, process_group
    from ..errors import BokehError, OutputError
    from ..evaluate import DEFAULT_TILE_PX, evaluate_split, write_report

    with exit_on_error():
        if split not in SPLITS:
            raise BokehError(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
    apply_threads(threads)
    with exit_on_error(), process_group(device) as ddp:
        torch_device = pick_device(device, ddp)
        with CommandProgress("eval", enabled=ddp.main) as progress:
            def on_pair(score) -> None:
                scored = f"#{score.id} f/{score.f_number:g} {score.psnr:.2f} dB"
                progress.finished(f"eval: pair {score.index + 1} {scored}", info=scored)

            result = evaluate_split(data, split, model, torch_device, limit,
                                    DEFAULT_TILE_PX if tile_px is None else tile_px, ddp.rank, ddp.world, on_pair,
                                    protocol="binary" if binary else "all-pairs")
        if result is not None and out_dir is not None:
            try:
                out_dir.mkdir(parents=True, exist_ok=True)
                write_report(out_dir, *result)
            except OSError as exc:
                raise OutputError(f"{out_dir}: cannot write the report: {exc.strerror or exc}") from None
    if result is None:  # a non-zero rank under torchrun: rank 0 reports
        raise typer.Exit(EXIT_OK)
    summary = result[0]
    if summary["lpips_note"]:
        warn_line(summary["lpips_note"])
    if as_json:
        print_json(summary)
    else:
        _print_scores(summary)
    raise typer.Exit(EXIT_OK)


def _print_scores(summary: dict) -> None:
    """Means per f-stop first, then the mean over all pairs (which mixes f-stops)."""
    from rich.markup import escape

    def fmt(value, digits: int) -> str:
        return "n/a" if value is None else f"{value:.{digits}f}"

    title = f"bokeh eval: {short_path(summary['model'])} on {summary['split']}, {summary['protocol']['name']}"
    if summary["seconds_per_mp"] is not None:
        title += f" ({summary['seconds_per_mp']:.3f} s/MP)"
    columns = ("f-stop", "pairs", "PSNR (dB)", "SSIM", "LPIPS")
    table = new_table(escape(title), *columns, right=columns)
    for fstop, row in summary["per_fstop"].items():
        table.add_row(f"f/{fstop}", str(row["n_pairs"]), fmt(row["psnr"], 2), fmt(row["ssim"], 4),
                      fmt(row["lpips"], 4))
    table.add_row("all pairs", str(summary["n_pairs"]), fmt(summary["psnr"], 2), fmt(summary["ssim"], 4),
                  fmt(summary["lpips"], 4), style="bold")
    print_table(out, table)
