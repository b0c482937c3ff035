"""Entry point of the `bokeh` console script.

Stop signals are handled from the first moment: the handlers go in before the commands are
imported (torch and the rest take seconds), so a Ctrl-C or SIGTERM then ends the run like one
during the work, with one line and exit code 130 or 143. Whatever else escapes a command is one
line too (see :mod:`bokehcli.cli.common`), never a traceback. ``app`` (the Typer application, for
tests and embedding) is imported on first use.
"""

from __future__ import annotations

import signal
import sys
from typing import NoReturn

from ..errors import BokehError
from ..stop import Interrupted, exit_code, ignore_stop_signals, install_stop_handlers, signals_deferred, stop_received


def main() -> None:
    install_stop_handlers()
    sys.unraisablehook = _unraisable
    # A file name that is not valid UTF-8 reaches Python as surrogate escapes, which a strict
    # UTF-8 stdout refuses to encode: show them escaped rather than crash.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        # An exception raised in the middle of an import can break the module for good (a
        # half-initialised extension): a signal during the imports ends the run after them.
        with signals_deferred():
            from .commands import run
        run()
    except Interrupted as stop:
        _stopped(stop.signum, stop.detail)
    except Exception as exc:  # noqa: BLE001 - a failure no command turned into its line: one line, not a traceback
        _ended()
        from .common import error_exit_code, error_text, fail_line, other_failure

        fail_line(error_text(exc) if isinstance(exc, BokehError) else other_failure(exc))
        sys.exit(error_exit_code(exc))
    except SystemExit:
        _ended()
        raise


def _unraisable(unraisable) -> None:
    """A stop signal that lands inside a finaliser (``__del__``, a weakref callback, a generator
    being closed) raises :class:`Interrupted` there, where it cannot propagate: Python would print
    it as "Exception ignored in ..." with a traceback. The run still ends as interrupted once the
    command returns (see :func:`_ended`), so say nothing here; report anything else as Python does."""
    if not isinstance(unraisable.exc_value, Interrupted):
        sys.__unraisablehook__(unraisable)


def _ended() -> None:
    """The command has ended. From now on stop signals are ignored: one arriving while the
    interpreter shuts down would kill it by the signal's default action, its work done. One that
    came earlier but was swallowed (raised inside a finaliser) or turned into another error by
    a library still ends the run as interrupted."""
    ignore_stop_signals()
    if stop_received() is not None:
        _stopped(stop_received())


def _stopped(signum: int, detail: str | None = None) -> NoReturn:
    """One line, e.g. "interrupted: 3 of 8 rendered (...); rerun to finish the rest"."""
    ignore_stop_signals()  # a second Ctrl-C must not break the one line
    stopped = "interrupted" if signum == signal.SIGINT else "terminated"
    sys.stderr.write(f"{stopped}: {detail}\n" if detail else f"{stopped}\n")
    sys.exit(exit_code(signum))


def __getattr__(name: str):
    if name == "app":
        from .commands import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    main()
