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

from ..stop import Interrupted, exit_code, install_stop_handlers


def main() -> None:
    install_stop_handlers()
    # A file name that is not valid UTF-8 reaches Python as surrogate escapes, which a strict
    # UTF-8 stdout refuses to encode: show them escaped rather than crash.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        from .commands import run

        run()
    except Interrupted as stop:
        sys.stderr.write("interrupted\n" if stop.signum == signal.SIGINT else "terminated\n")
        sys.exit(exit_code(stop.signum))
    except Exception as exc:  # noqa: BLE001 - a failure no command turned into its line: one line, not a traceback
        from ..errors import BokehError
        from .common import error_exit_code, fail_line, internal_error

        fail_line(str(exc) if isinstance(exc, BokehError) else internal_error(exc))
        sys.exit(error_exit_code(exc))


def __getattr__(name: str):
    if name == "app":
        from .commands import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    main()
