"""A watchdog for tests of untrusted input: a call that never returns fails the test instead of
blocking the suite. It is not a speed target (a loaded machine may be many times slower than an
idle one); the speed bounds of the parsers live in the slow suite (tests/test_parse_speed.py)."""

from __future__ import annotations

import contextlib
import signal

WATCHDOG_S = 30   # the hangs these tests guard against took minutes (600-800 s for XMP bombs)


class Hang(Exception):
    pass


@contextlib.contextmanager
def watchdog(seconds: int = WATCHDOG_S):
    """Raise :class:`Hang` in the main thread when the block runs longer than ``seconds``."""
    def ring(signum, frame):  # noqa: ARG001 - signal handler signature
        raise Hang(f"no answer in {seconds} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
