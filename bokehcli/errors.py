"""Errors a user can act on.

Library code raises :class:`BokehError` (or a subclass) for bad input; the CLI prints its
message as one line naming the file, never a traceback.
"""


class BokehError(Exception):
    """A problem with the user's input or environment, described in one line."""


class InputError(BokehError):
    """An input file is missing, unreadable, corrupt or unsupported."""


class OutputError(BokehError):
    """An output cannot be written (permissions, full disk, ...)."""


class SettingError(BokehError):
    """A setting no input could satisfy, named by its field (``RenderSettings.fmt``, ...): the
    library knows fields, not command-line flags; a command names the flag
    (:meth:`naming`, e.g. ``--format must be one of ...`` from ``fmt must be one of ...``).

    ``problem`` follows the name: after a space, or directly when it starts with ``:``;
    ``subject`` (a photo's path) goes first when the setting fails for one input only."""

    def __init__(self, field: str, problem: str, subject: str | None = None) -> None:
        self.field, self.problem, self.subject = field, problem, subject
        super().__init__(self.naming(field))

    def naming(self, name: str) -> str:
        """The message with the setting called ``name``."""
        text = name + (self.problem if self.problem.startswith(":") else f" {self.problem}")
        return f"{self.subject}: {text}" if self.subject else text
