"""`bokeh render` (being written)."""

import typer


def render() -> None:
    """Not available yet in this build."""
    raise typer.Exit(2)
