"""`bokeh synth`: write a synthetic RealBokeh-layout data set (see :mod:`bokehcli.data.synth`)."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from ..defaults import SOURCE_F_NUMBER_RANGE
from .common import EXIT_OK, exit_on_error, flush_denormals, out, print_json
from .progress import CommandProgress


def synth(
    out_dir: Path = typer.Option(..., "--out", help="Folder to write the data set to (created if missing)."),
    train: int = typer.Option(0, "--train", min=0, help="Scenes in train/."),
    val: int = typer.Option(0, "--val", min=0, help="Scenes in validation/."),
    test: int = typer.Option(0, "--test", min=0, help="Scenes in test/."),
    size: str = typer.Option("768x512", "--size", help="Frame size WxH in pixels."),
    seed: int = typer.Option(0, "--seed", help="Base seed; scene (split, id) depends only on it."),
    workers: int = typer.Option(None, "--workers", min=1, help="Processes (default: min(2, CPUs))."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Re-render scenes that are already complete."),
    layered: float = typer.Option(0.0, "--layered", min=0.0, max=1.0,
                                  help="Fraction of scenes that are stacks of fronto-parallel textured cards."),
    source_f: float = typer.Option(22.0, "--source-f", min=SOURCE_F_NUMBER_RANGE[0], max=SOURCE_F_NUMBER_RANGE[1],
                                   help="Capture f-number of the source (input) images: 22 as RealBokeh; a "
                                        "wider one such as 4 leaves the defocus a real photo has."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Render procedural scenes with the exact thin-lens reference into the RealBokeh layout:
    a source (f/22 unless --source-f) marked with the simulated AF point, 2-4 targets between f/2.0 and f/20 (always f/2.0 or f/2.8), metadata JSON
    and the pinhole depth map (.npy, metres) per scene.

    Example: bokeh synth --out data/synth --train 200 --val 20 --test 20 --size 768x512 --seed 0
    """
    from ..data import synth as lib  # heavy imports only when the command runs
    from ..errors import BokehError, OutputError

    flush_denormals()
    counts = {"train": train, "validation": val, "test": test}
    total = sum(counts.values())
    start = time.perf_counter()
    with exit_on_error():
        try:
            width, height = lib.parse_size(size)
        except ValueError as exc:
            raise BokehError(f"--size: {exc}") from None
        if total == 0:
            raise BokehError("nothing to do: give --train, --val and/or --test a number of scenes")
        try:
            with CommandProgress("synth", total=total) as progress:
                records = lib.synthesize(out_dir, counts, width, height, seed,
                                         workers=workers or lib.default_workers(), overwrite=overwrite,
                                         layered_fraction=layered, on_done=lambda record: progress.finished(
                                             _scene_line(record), info=f"{record['split']} {record['id']}"),
                                         source_f_number=source_f)
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            raise OutputError(f"{out_dir}: cannot write the data set: {exc.strerror or exc}{where}") from None
    seconds = time.perf_counter() - start
    summary = {"out": str(out_dir), "size": [width, height], "seed": seed, "scenes": counts, **_counts(records),
               "seconds": round(seconds, 2)}
    if as_json:
        print_json(summary)
    else:
        out.print(f"{summary['rendered']} scenes rendered, {summary['skipped']} already there, "
                  f"{summary['pairs']} pairs, {width}x{height}, in {seconds:.1f} s -> {out_dir}")
    raise typer.Exit(EXIT_OK)


def _counts(records: list[dict]) -> dict:
    """Scenes rendered and skipped, pairs, and the seconds per rendered scene (None: none was)."""
    from ..data.synth import seconds_per_scene

    rendered = sum(not r["skipped"] for r in records)
    return {"rendered": rendered, "skipped": len(records) - rendered, "pairs": sum(r["pairs"] for r in records),
            "seconds_per_scene": round(seconds_per_scene(records), 2) if rendered else None}


def _scene_line(record: dict) -> str:
    """The plain progress line of one finished scene."""
    done = "already there" if record["skipped"] else f"{record['pairs']} pairs in {record['seconds']:.1f} s"
    return f"synth: {record['split']} {record['id']}: {done}"
