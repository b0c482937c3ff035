"""The rules of a batch of renders that no single photo can check: outputs never replace an input
of the batch (not even with ``--overwrite``), and two inputs never write the same output (the
second would replace the first's render, or be skipped as already done)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from .errors import BokehError


class OutputClaims:
    """Which input of the batch writes which output (absolute paths)."""

    def __init__(self, inputs: Iterable[Path]) -> None:
        self.inputs = {Path(p).resolve() for p in inputs}
        self.claimed: dict[Path, Path] = {}  # output -> the input that writes it

    def check(self, photo: Path, output: Path) -> None:
        """Raise :class:`BokehError` naming ``photo`` when ``output`` is an input of the batch or
        another input's output."""
        output = output.absolute()
        if output.resolve() in self.inputs:
            raise BokehError(f"{photo}: its output {output} is an input of this batch; choose another --out")
        if self.claimed.get(output, photo.absolute()) != photo.absolute():
            raise BokehError(f"{photo}: same output {output.name} as {self.claimed[output]}; "
                             f"render one of them separately")

    def claim(self, photo: Path, output: Path) -> None:
        """Record that ``photo`` wrote (or skipped as done) ``output``."""
        self.claimed[output.absolute()] = photo.absolute()
