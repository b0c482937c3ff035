"""What every command shares: consoles, one-line errors, exit codes, JSON output."""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Any, Iterator

import typer

from rich.console import Console
from rich.markup import escape

# Results go to stdout, everything else (progress, tables meant for people, errors) to stderr
# unless the command's result *is* the table.
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


def progress_bar(*columns, enabled: bool = True):
    """A transient rich progress display on stderr, off when stderr is not a terminal (rich would
    still leave an empty line there, and logs want the one-line errors only)."""
    from rich.progress import Progress

    return Progress(*columns, console=err, transient=True, disable=not (enabled and err.is_terminal))


def fail_line(message: str) -> None:
    """Print one error line on stderr (the message names the file and the problem)."""
    err.print(f"[bold red]error:[/] {escape(message)}", markup=True)


def warn_line(message: str) -> None:
    err.print(f"[yellow]warning:[/] {escape(message)}", markup=True)


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
        fail_line(_original_message(exc))
        raise typer.Exit(EXIT_SOME_FAILED) from None
    except BokehError as exc:
        fail_line(_original_message(exc))
        raise typer.Exit(EXIT_USAGE) from None


def _original_message(exc: Exception) -> str:
    """The error's own line. An error raised in a DataLoader worker comes back with the worker's
    traceback in its message ("Caught X in DataLoader worker ... Original Traceback ..."); its
    last line is ``module.X: <the message>``."""
    text = str(exc)
    if "Original Traceback" not in text:
        return text
    last = text.rstrip().splitlines()[-1]
    prefix = f"{type(exc).__module__}.{type(exc).__qualname__}: "
    return last[len(prefix):] if last.startswith(prefix) else last


def threads_option():
    """The ``--threads N`` option shared by render, train, eval and bench (see bokehcli.threads)."""
    return typer.Option(None, "--threads", min=1, rich_help_panel="Performance",
                        help="CPU threads of the torch kernels (default: one per core; OpenMP threads wait "
                             "passively unless OMP_WAIT_POLICY is set).")


def apply_threads(threads: int | None) -> int:
    """Set the thread count for this command; returns the number in use."""
    from ..threads import set_threads

    return set_threads(threads)
