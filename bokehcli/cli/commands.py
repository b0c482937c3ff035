"""The `bokeh` Typer application: every command registered (imports torch and the library)."""

from __future__ import annotations

import torch
import typer

from .. import __version__
from . import bench, evaluate, info, render, synth, train
from .common import OneLineUsageErrors

app = typer.Typer(
    name="bokeh",
    cls=OneLineUsageErrors,
    help="Give ordinary photos the shallow depth of field of a fast lens.",
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
app.command("render")(render.render)
app.command("info")(info.info)
app.command("synth")(synth.synth)
app.command("train")(train.train)
app.command("eval")(evaluate.evaluate)
app.command("bench")(bench.bench)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"bokeh {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """bokeh: physically based depth of field (BokehFlow)."""


def run() -> None:
    """Run the command line (its exit is a SystemExit with the command's code)."""
    # Decays in the recurrence underflow into subnormal floats, which cost ~10x on CPUs; values
    # that small (< 1e-38) carry nothing, so flush them to zero for the whole process.
    torch.set_flush_denormal(True)
    app()
