"""What every command shares: consoles, one-line errors, exit codes, JSON output."""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Any, Iterator

import typer

from rich.console import Console

# Results go to stdout, everything else (progress, tables meant for people, errors) to stderr
# unless the command's result *is* the table.
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


def fail_line(message: str) -> None:
    """Print one error line on stderr (the message names the file and the problem)."""
    err.print(f"[bold red]error:[/] {message}", markup=True)


def warn_line(message: str) -> None:
    err.print(f"[yellow]warning:[/] {message}", markup=True)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, allow_nan=False, default=_json_default) + "\n")
    sys.stdout.flush()


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):  # numpy / torch scalars
        return obj.item()
    if hasattr(obj, "__fspath__"):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def batch_exit_code(n_failed: int) -> int:
    return EXIT_SOME_FAILED if n_failed else EXIT_OK


@contextlib.contextmanager
def exit_on_error() -> Iterator[None]:
    """A run-level error as one line: exit 1 for bad input or output, 2 for bad usage."""
    from ..errors import BokehError, InputError, OutputError

    try:
        yield
    except (InputError, OutputError) as exc:
        fail_line(str(exc))
        raise typer.Exit(EXIT_SOME_FAILED) from None
    except BokehError as exc:
        fail_line(str(exc))
        raise typer.Exit(EXIT_USAGE) from None
