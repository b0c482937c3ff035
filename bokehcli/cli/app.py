"""Entry point of the `bokeh` console script."""

from __future__ import annotations

import signal
import sys

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


class Terminated(BaseException):
    """Raised in the main thread when SIGTERM arrives, so cleanup handlers run."""


def _on_sigterm(signum, frame):  # noqa: ARG001 - signal handler signature
    raise Terminated()


def main() -> None:
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(EXIT_SIGINT)
    except Terminated:
        err.print("terminated")
        sys.exit(EXIT_SIGTERM)


if __name__ == "__main__":
    main()
