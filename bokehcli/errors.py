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
