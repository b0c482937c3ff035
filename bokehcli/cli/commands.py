"""The `bokeh` Typer application: every command registered. Only Typer and rich are imported here;
each command imports torch and the library when it runs, so `bokeh --help` answers at once."""

from __future__ import annotations

import inspect

import typer

from .. import __version__
from . import bench, evaluate, info, render, synth, train

app = typer.Typer(
    name="bokeh",
    help="Give ordinary photos the shallow depth of field of a fast lens.",
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)


def _help(command) -> str:
    """A command's docstring as help text: its paragraphs reflowed to the terminal's width (rich
    markup mode would keep the source's line breaks, which an 80-column terminal breaks again)."""
    paragraphs = inspect.cleandoc(command.__doc__ or "").split("\n\n")
    return "\n\n".join(" ".join(paragraph.split()) for paragraph in paragraphs)


for _name, _command in (("render", render.render), ("info", info.info), ("synth", synth.synth),
                        ("train", train.train), ("eval", evaluate.evaluate), ("bench", bench.bench)):
    app.command(_name, help=_help(_command))(_command)


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
    app()
