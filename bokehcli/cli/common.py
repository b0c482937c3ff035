"""What every command shares: consoles, one-line errors, exit codes, JSON output."""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Any, Iterator

import typer
from typer.core import TyperGroup

from rich.console import Console
from rich.markup import escape

# Results go to stdout, everything else (progress, tables meant for people, errors) to stderr
# unless the command's result *is* the table.
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2


def fail_line(message: str) -> None:
    """Print one error line on stderr (the message names the file and the problem)."""
    err.print(f"[bold red]error:[/] {escape(one_line(message))}", markup=True)


def warn_line(message: str) -> None:
    err.print(f"[yellow]warning:[/] {escape(one_line(message))}", markup=True)


def one_line(text: str) -> str:
    """``text`` as one printable line: control characters (a newline in a file name would split
    the error line; escape sequences would drive the terminal) written as Python escapes, and
    the bytes of a file name that is not valid UTF-8 (surrogate escapes) as ``\\xNN``."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch == " " else _escaped(ch) for ch in text)


def _escaped(ch: str) -> str:
    if 0xDC80 <= ord(ch) <= 0xDCFF:  # os.fsdecode's stand-in for an undecodable byte
        return f"\\x{ord(ch) - 0xDC00:02x}"
    return repr(ch)[1:-1]


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


def error_exit_code(exc: BaseException) -> int:
    """The exit code of an error that ends a command: 2 for bad usage (a flag, a setting no input
    could satisfy), 1 for everything else (a bad input or output file, an internal error)."""
    from ..errors import BokehError, InputError, OutputError

    usage = isinstance(exc, BokehError) and not isinstance(exc, (InputError, OutputError))
    return EXIT_USAGE if usage else EXIT_SOME_FAILED


# The flag that sets each library setting a SettingError names (RenderSettings' fields, and the
# device and tile of every command): the library speaks of fields, the commands of flags.
FLAG_OF_SETTING = {
    "f_number_text": "--f", "fmt": "--format", "blades": "--blades", "out_dir": "--out",
    "blade_rotation_deg": "--blade-rotation", "highlight_boost": "--highlight-boost", "tile_px": "--tile",
    "depth": "--depth", "depth_source": "--depth-source", "model": "--model", "device": "--device",
    "focus_at": "--focus-at", "focus_m": "--focus-distance", "save_depth": "--save-depth",
}


@contextlib.contextmanager
def exit_on_error() -> Iterator[None]:
    """A run-level error as one line, ending the command with :func:`error_exit_code`."""
    from ..errors import BokehError

    try:
        yield
    except BokehError as exc:
        fail_line(error_text(exc))
        raise typer.Exit(error_exit_code(exc)) from None


def error_text(exc: Exception) -> str:
    """A library error's message as a command says it: a setting by the flag that sets it, an
    error from a loader worker by its own line (:func:`_original_message`)."""
    from ..errors import SettingError

    if isinstance(exc, SettingError):
        return exc.naming(FLAG_OF_SETTING.get(exc.field, exc.field))
    return _original_message(exc)


def failure_line(exc: Exception, path=None) -> str:
    """The one line of a failure that ends one input of a batch (or the run): a
    :class:`BokehError`'s own message (a setting named by its flag), else :func:`other_failure`'s."""
    from ..errors import BokehError

    return error_text(exc) if isinstance(exc, BokehError) else other_failure(exc, path)


# Click's exceptions, from wherever this Typer takes Click (its own copy in recent versions, the click
# package before): the module that defines the BadParameter Typer re-exports.
_click_errors = sys.modules[typer.BadParameter.__module__]


class OneLineUsageErrors(TyperGroup):
    """The command group whose usage errors (a value out of range or of the wrong type, an
    unknown option or command, a missing argument: everything Click checks before a command
    runs) are one line, ``error: <what> (see <command> --help)``, and exit code 2, like the
    usage errors the commands find themselves, instead of Click's usage panel. The group parses
    its own options in :meth:`make_context` and resolves, parses and runs the command in
    :meth:`invoke`, so those two see every such error. A bare ``bokeh`` still shows the help."""

    def make_context(self, info_name, args, parent=None, **extra):
        with _usage_error_line(info_name):
            return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx):
        # Click names the command in most errors; not in those its option parser raises (an
        # option given a value it does not take): then the command resolved by now.
        with _usage_error_line(lambda: " ".join(filter(None, [ctx.command_path, ctx.invoked_subcommand]))):
            return super().invoke(ctx)


@contextlib.contextmanager
def _usage_error_line(command_path) -> Iterator[None]:
    """Turn a Click usage error into its line and exit code 2; ``command_path`` (a string or a
    function giving one) names the help to read when the error does not."""
    try:
        yield
    except _click_errors.NoArgsIsHelpError:
        raise
    except _click_errors.UsageError as exc:
        path = exc.ctx.command_path if exc.ctx is not None else command_path
        path = path() if callable(path) else path
        fail_line(f"{exc.format_message().rstrip('.')} (see {path} --help)")
        raise typer.Exit(EXIT_USAGE) from None


def other_failure(exc: BaseException, path=None) -> str:
    """One line for a failure no :class:`BokehError` describes, naming ``path`` when it concerns
    one file: the system's reason for an OSError (a name too long for the file system, ...),
    "out of memory", else an internal error (a bug to report)."""
    where = f"{path}: " if path is not None else ""
    if isinstance(exc, MemoryError):
        return f"{where}out of memory"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{where}{exc.strerror}" + (f" ({exc.filename})" if exc.filename else "")
    detail = " ".join(str(exc).split())[:300]
    return f"{where}internal error ({type(exc).__name__}: {detail}); please report it"


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


def tile_option(default: str):
    """The ``--tile`` option of render, eval and bench: one meaning everywhere (the network's tile
    side at the size it runs at); ``default`` says what None picks for that command."""
    return typer.Option(None, "--tile", min=0, show_default=default, rich_help_panel="Depth & model",
                        help="Network tile side in px at the size the network runs at, the recurrent state "
                             "carried from tile to tile; 0 = the whole image in one.")


def apply_threads(threads: int | None) -> int:
    """Set the thread count for this command (and :func:`flush_denormals`); returns the number in use."""
    from ..threads import set_threads

    flush_denormals()
    return set_threads(threads)


def flush_denormals() -> None:
    """Decays in the recurrence underflow into subnormal floats, which cost ~10x on CPUs; values
    that small (< 1e-38) carry nothing, so flush them to zero for the whole process. Called by
    the commands that compute, not at start-up: `bokeh --help` answers without loading torch."""
    import torch

    torch.set_flush_denormal(True)
