"""Entry point of the `bokeh` console script."""

from __future__ import annotations

import signal
import sys

import torch
import typer

from .. import __version__
from . import bench, evaluate, info, render, synth, train
from .common import EXIT_SIGINT, EXIT_SIGTERM, err

app = typer.Typer(
    name="bokeh",
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


class Interrupted(BaseException):
    """Raised in the main thread on SIGINT/SIGTERM. Click turns KeyboardInterrupt into
    "Aborted!" with exit code 1; our own exception passes through it, unwinds every
    ``finally`` (so temporary files are removed) and ends with 130 / 143."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_interrupted(signum, frame):  # noqa: ARG001 - signal handler signature
    raise Interrupted(signum)


def main() -> None:
    # Decays in the recurrence underflow into subnormal floats, which cost ~10x on CPUs; values
    # that small (< 1e-38) carry nothing, so flush them to zero for the whole process.
    torch.set_flush_denormal(True)
    signal.signal(signal.SIGINT, _raise_interrupted)
    signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        app()
    except Interrupted as stop:
        interrupted = stop.signum == signal.SIGINT
        err.print("interrupted" if interrupted else "terminated")
        sys.exit(EXIT_SIGINT if interrupted else EXIT_SIGTERM)


if __name__ == "__main__":
    main()
