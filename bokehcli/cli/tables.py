"""Tables for people, readable in an 80-column terminal.

A table too wide for the terminal is narrowed by wrapping its cells at spaces; a word is cut
(with an ellipsis, never split over two lines) only when a column is narrower than the word. So
every cell here is made of short words: numbers rounded, file names shortened in the middle (the
start and the extension tell files apart), paths shown relative to the current folder; wide
content (a whole output path) goes on a line of its own below the table, where the terminal
wraps it and a copy gives it back whole. Rich's own narrowing takes the same width off the widest
columns whatever their words, so :func:`print_table` sets the widths itself.
"""

from __future__ import annotations

import os
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from .common import one_line

# The longest word a cell holds: with ~7 columns, their padding and borders, the words of a row
# fit in 80 columns side by side.
MAX_WORD = 20
ELLIPSIS = "…"


def new_table(title: str | None = None, *columns: str, right: tuple[str, ...] = ()) -> Table:
    """A table whose columns wrap at spaces and cut a word too long for them with an ellipsis,
    never in the middle (rich's default "fold" would split a file name over two lines). The
    ``right`` columns hold numbers with their units: right-aligned and never wrapped."""
    table = Table(title=title)
    for column in columns:
        numbers = column in right
        table.add_column(column, overflow="ellipsis", justify="right" if numbers else "left", no_wrap=numbers)
    return table


def short_name(name: str, max_chars: int = MAX_WORD) -> str:
    """``name`` as one printable word of at most ``max_chars``: its start and end (extension
    included) kept, the middle replaced by an ellipsis; escaped for rich markup."""
    name = one_line(name)
    if len(name) > max_chars:
        tail = min(len(Path(name).suffix) + 4, max_chars // 2)
        name = name[:max_chars - tail - 1] + ELLIPSIS + name[-tail:]
    return escape(name)


def short_path(path: str | os.PathLike) -> str:
    """``path`` relative to the current folder when it lies inside it, else as given, on one line
    (not escaped for rich markup)."""
    path = Path(path)
    if path.is_absolute():
        try:
            path = path.relative_to(Path.cwd())
        except ValueError:
            pass
    return one_line(str(path))


def print_table(console: Console, table: Table) -> None:
    """Print ``table`` within the console's width, each column at least as wide as its longest
    word when they all fit: column ``i`` gets ``min_i + spare * (max_i - min_i) / sum(max - min)``,
    where min/max are the longest word (line, in a column that does not wrap) and the longest
    line of its cells and spare is the width left over once every column has its minimum."""
    words, lines = [], []
    for column in table.columns:
        texts = [_plain(column.header)] + [_plain(cell) for cell in column.cells]
        lines.append(max((len(line) for text in texts for line in text.splitlines()), default=0))
        words.append(lines[-1] if column.no_wrap else max((len(w) for text in texts for w in text.split()), default=0))
    borders = 3 * len(table.columns) + 1  # a rule and a space either side of each cell
    spare = console.width - borders - sum(words)
    stretch = sum(lines) - sum(words)
    if sum(lines) + borders > console.width and spare >= 0 and stretch > 0:
        for column, low, high in zip(table.columns, words, lines):
            column.width = low + spare * (high - low) // stretch
    console.print(table)


def _plain(cell) -> str:
    return Text.from_markup(cell).plain if isinstance(cell, str) else str(cell)
