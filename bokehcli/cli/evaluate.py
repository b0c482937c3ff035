"""`bokeh eval` (not implemented yet)."""

import typer

from ..errors import BokehError


def evaluate() -> None:
    """Not available yet in this build."""
    raise typer.Exit(_unavailable())


def _unavailable() -> int:
    from .common import fail_line

    fail_line(str(BokehError("bokeh eval is not implemented in this build yet")))
    return 2
