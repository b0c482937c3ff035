"""Progress of a command, one way for every command (rich, on stderr).

On a terminal, rich's live display: a bar, ``done/total``, what is in progress, time left. Anywhere
else (a log file, a pipe, a batch job) a live display would show nothing until the end, so each
finished item is one plain line instead (no colours or control codes), flushed as it happens: a
log of an eight-photo batch grows by a line per photo, not by nothing for eight minutes.
"""

from __future__ import annotations

import sys

from . import common


class CommandProgress:
    """``with CommandProgress("render", total=8) as progress:`` then, per item,
    ``progress.working(name)`` as it starts and ``progress.finished(line)`` as it ends.

    ``live`` (default: whether stderr is a terminal) picks the display; ``enabled=False`` shows
    nothing at all (a rank other than 0 under torchrun)."""

    def __init__(self, label: str, total: int | None = None, *, enabled: bool = True, live: bool | None = None):
        self.label = label
        self.enabled = enabled
        self.live = enabled and (common.err.is_terminal if live is None else live)
        self._bar = None
        self._task = None
        self._total = total

    def __enter__(self) -> CommandProgress:
        if self.live:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            # transient: the bar goes when the command ends, leaving the results and error lines
            self._bar = Progress(TextColumn(self.label), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[info]}"), TimeRemainingColumn(),
                                 console=common.err, transient=True)
            self._bar.__enter__()
            self._task = self._bar.add_task(self.label, total=self._total, info="")
        return self

    def __exit__(self, *exc_info) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc_info)
            self._bar = None

    def working(self, info: str) -> None:
        """What is in progress now (the live display only)."""
        if self._bar is not None:
            self._bar.update(self._task, info=_markup_free(info))

    def update(self, completed: int, total: int | None, info: str) -> None:
        """Set the count (the live display only): for a command that reports its own steps."""
        if self._bar is not None:
            self._bar.update(self._task, completed=completed, total=total, info=_markup_free(info))

    def finished(self, line: str | None, info: str = "") -> None:
        """One item is done: the live count goes up by one (showing ``info``), or ``line`` is
        written as it is, plain, on a line of its own (None: an item that failed, whose error
        line stands for it)."""
        if self._bar is not None:
            self._bar.update(self._task, advance=1, info=_markup_free(info))
        elif line is not None:
            self.line(line)

    def line(self, text: str) -> None:
        """``text`` on stderr as one plain line, outside a terminal only (where the live display
        is not); nothing when disabled."""
        if self.enabled and not self.live:
            sys.stderr.write(common.one_line(text) + "\n")
            sys.stderr.flush()


def _markup_free(text: str) -> str:
    from rich.markup import escape

    return escape(common.one_line(text))
