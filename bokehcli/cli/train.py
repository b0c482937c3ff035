"""`bokeh train`: train BokehFlow on a RealBokeh-layout set (see :mod:`bokehcli.train`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..train_settings import CROP_MULTIPLE, MAX_WARMUP_STEPS, TrainSettings
from .common import EXIT_OK, apply_threads, exit_on_error, out, print_json, threads_option, warn_line
from .progress import CommandProgress

# The help texts show the defaults of the settings object itself: the options default to None so
# that a resumed run can tell a value given now from one it stored.
DEFAULTS = TrainSettings()


def train(
    data: Path = typer.Option(..., "--data", help="Data set root (RealBokeh layout: train/, validation/)."),
    out_dir: Path = typer.Option(..., "--out", help="Run folder: last/best.safetensors, state.pt, log.jsonl."),
    variant: Optional[str] = typer.Option(None, "--variant",
                                          help=f"Model size: nano, small or base (default {DEFAULTS.variant})."),
    steps: Optional[int] = typer.Option(None, "--steps",
                                        help=f"Total optimiser steps of the schedule (default {DEFAULTS.steps})."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Crops per micro-batch and process "
                                                                        f"(default {DEFAULTS.batch_size})."),
    accumulate: Optional[int] = typer.Option(None, "--accumulate",
                                             help="Micro-batches per optimiser step: gradients of K batches summed, "
                                                  f"as one K times larger batch (default {DEFAULTS.accumulate})."),
    crop: Optional[int] = typer.Option(None, "--crop", help=f"Crop size in px, a multiple of {CROP_MULTIPLE} "
                                                            f"(default {DEFAULTS.crop})."),
    lr: Optional[float] = typer.Option(None, "--lr", help=f"Peak learning rate of AdamW (default {DEFAULTS.lr:g})."),
    warmup: Optional[int] = typer.Option(None, "--warmup",
                                         help=f"Warm-up steps (default 5% of --steps, at most {MAX_WARMUP_STEPS})."),
    val_every: Optional[int] = typer.Option(None, "--val-every", help="Validate (and checkpoint) every K steps "
                                                                      f"(default {DEFAULTS.val_every})."),
    save_every: Optional[int] = typer.Option(None, "--save-every",
                                             help=f"Checkpoint every K steps (default {DEFAULTS.save_every})."),
    log_every: Optional[int] = typer.Option(None, "--log-every", help="Write a log.jsonl line every K steps "
                                                                      f"(default {DEFAULTS.log_every})."),
    seed: Optional[int] = typer.Option(None, "--seed",
                                       help=f"Seed of initialisation and data order (default {DEFAULTS.seed})."),
    init: Optional[str] = typer.Option(None, "--init", help="Start from these weights (path or name in models/)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out exactly where it stopped."),
    stop_at: Optional[int] = typer.Option(None, "--stop-at", min=1,
                                          help="Stop this invocation after step N (the --steps schedule is kept)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    amp: Optional[bool] = typer.Option(None, "--amp/--no-amp",
                                       help="bf16 autocast of the network (default on for CUDA)."),
    workers: int = typer.Option(2, "--workers", min=0, help="Data loading processes."),
    log: Optional[str] = typer.Option(None, "--log", help="Also write the logged scalars for: tensorboard "
                                      "(RUN/tensorboard; needs the optional extra bokehcli[tensorboard])."),
    threads: Optional[int] = threads_option(),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Train BokehFlow: L1 + (1 - SSIM) on the rendered bokeh, depth losses, EMA weights, resumable.

    best.safetensors is chosen by bokeh eval's full-image protocol on the validation split. Every
    setting is recorded in RUN/config.json. Under torchrun it runs DDP (rank 0 writes). Outside a
    terminal one plain line per logged step goes to stderr.

    Example: [bold]bokeh train --data data/synth --variant nano --steps 2000 --out runs/nano[/]
    """
    from ..train import Runtime
    from ..train import train as run_training

    apply_threads(threads)
    given = {k: v for k, v in dict(variant=variant, steps=steps, batch_size=batch_size, accumulate=accumulate,
                                   crop=crop, lr=lr, warmup=warmup, val_every=val_every, save_every=save_every,
                                   log_every=log_every, seed=seed, init=init).items() if v is not None}
    with CommandProgress("train") as progress:
        def on_step(step: int, last: int, record: dict) -> None:
            progress.update(step, last, f"loss {_number(record, 'loss', '.4f')}  "
                                        f"{_number(record, 'samples_per_s', '.2f')} samples/s")

        runtime = Runtime(data=data, out=out_dir, resume=resume, device=device, amp=amp, workers=workers,
                          stop_at=stop_at, log=log, on_note=warn_line, on_step=on_step,
                          on_log=lambda last, record: progress.line(_log_line(last, record)))
        with exit_on_error():
            summary = run_training(given, runtime)
    if summary is None:  # a non-zero rank under torchrun: rank 0 reports
        raise typer.Exit(EXIT_OK)
    if as_json:
        print_json(summary)
    else:
        best = f", best val PSNR {summary['best_val_psnr']:.2f} dB at step {summary['best_step']}" \
            if summary["best_val_psnr"] is not None else ""
        speed = f" ({summary['samples_per_s']} samples/s)" if summary["samples_per_s"] else ""
        out.print(f"{summary['model']}: step {summary['step']} of {summary['steps']} in {summary['seconds']} s"
                  f"{speed}, {summary['skipped_steps']} skipped{best} -> {summary['last']}")
    raise typer.Exit(EXIT_OK)


def _log_line(last: int, record: dict) -> str:
    """The plain progress line of one logged step (written outside a terminal, one per log.jsonl line)."""
    line = (f"step {record['step']}/{last}  loss {_number(record, 'loss', '.4f')}  lr {_number(record, 'lr', '.2e')}  "
            f"{_number(record, 'samples_per_s', '.2f')} samples/s")
    if "val_psnr" in record:
        line += f"  val {_number(record, 'val_psnr', '.2f')} dB"
    return line


def _number(record: dict, key: str, fmt: str) -> str:
    import math

    value = record.get(key)
    return "nan" if value is None or not math.isfinite(value) else format(value, fmt)
