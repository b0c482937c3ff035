"""Stop signals (SIGINT from Ctrl-C, SIGTERM from kill): how each kind of process takes them.

The main process turns them into :class:`Interrupted`, which unwinds every ``finally`` (so
temporary files are removed) up to the command line, which exits 130 or 143 with one line.
That exception can come between any two steps of Python code; where one must not be split (an
import, creating a temporary file and taking note of its name, removing it, starting or stopping
workers), :func:`signals_deferred` holds the signals back and raises right after.
Worker processes leave stopping to the parent: a terminal's Ctrl-C and a ``kill`` of the process
group reach every process, and a worker that died of them on its own would print its traceback
and make the parent report a crashed worker instead of the interrupt. Data-loader workers ignore
both signals (the parent tells them to stop); pool workers ignore SIGINT and end quietly on the
SIGTERM their pool stops them with.

Only the standard library is imported here: the handlers are installed before the heavy imports
of the command line, so that a Ctrl-C in its first seconds ends the run (once the imports are
done) like any later one.
"""

from __future__ import annotations

import atexit
import contextlib
import signal
import threading
from typing import Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """Raised in the main thread on SIGINT/SIGTERM. Click turns KeyboardInterrupt into
    "Aborted!" with exit code 1; this exception passes through it, unwinds every ``finally``
    and ends the command line with 130 / 143. A command may set ``detail`` on its way up (what
    it finished), which the command line's one line then carries."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.detail: str | None = None


def exit_code(signum: int) -> int:
    """The shell's convention for a run ended by signal ``signum``: 130 for SIGINT, 143 for SIGTERM."""
    return 128 + signum


def _raise_interrupted(signum, frame):  # noqa: ARG001 - signal handler signature
    _received.append(signum)
    if _held:
        _pending.append(signum)
        return
    raise Interrupted(signum)


def stop_received() -> int | None:
    """The first stop signal this process was sent, or None. An exception raised by a signal
    handler can be swallowed (raised inside a finaliser, caught by a library): the command
    line still ends as interrupted when it finishes, however it finishes."""
    return _received[0] if _received else None


def install_stop_handlers() -> None:
    """In the main process: SIGINT and SIGTERM raise :class:`Interrupted`, except one this process
    was started ignoring (a shell starts background jobs ignoring SIGINT), which stays ignored."""
    for signum in STOP_SIGNALS:
        if signal.getsignal(signum) != signal.SIG_IGN:
            signal.signal(signum, _raise_interrupted)


_received: list[int] = []  # every stop signal the handler saw
_held = 0                  # signals_deferred() blocks open in the main thread
_pending: list[int] = []   # a signal that arrived meanwhile, raised when the last one closes


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM back for the duration: one that arrives meanwhile raises
    :class:`Interrupted` as the block ends (in the main process, where the handlers of
    :func:`install_stop_handlers` run). Other threads (torch's among them) may receive the
    signal itself, so it is held back where Python runs the handler, in the main thread; the
    calling thread's signal mask blocks it too, which processes forked meanwhile inherit: they
    start with the signals held back (see :func:`ignore_stop_signals`; spawned ones do not, see
    :func:`spawning_workers`)."""
    global _held
    main = threading.current_thread() is threading.main_thread()
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    _held += main
    try:
        yield
    finally:
        _held -= main
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        if main and not _held and _pending:
            raise Interrupted(_pending.pop())


@contextlib.contextmanager
def spawning_workers() -> Iterator[None]:
    """Around starting worker processes as fresh interpreters (multiprocessing's "spawn"): they
    start with SIGINT ignored, so that a Ctrl-C while one still imports (a second or two) does
    not print its KeyboardInterrupt traceback. The signal mask of :func:`signals_deferred` does
    not reach them (measured with Python 3.11: such a worker starts with SIGINT let through and
    Python's own handler installed); an ignored signal does, across the exec, and a fresh Python
    leaves it ignored. The pool worker's initialiser (:func:`pool_worker_signals`) keeps it so.
    SIGTERM is held back meanwhile as by :func:`signals_deferred`, not ignored: a pool stops its
    workers with it. A SIGINT that reaches this process while the workers are started (their
    fork and exec, milliseconds) is lost: an ignored signal is not kept pending. Outside the main
    thread, where Python cannot change a handler, only the signals are held back."""
    with signals_deferred():
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            yield
        finally:
            # None: a handler set outside Python, which Python cannot set again
            signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)


def ignore_stop_signals(*_) -> None:
    """In a worker process (a DataLoader ``worker_init_fn``): ignore SIGINT and SIGTERM, then let
    signals through again; one held back since the worker started is discarded (it was ignored)."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def pool_worker_signals() -> None:
    """In a ``multiprocessing.Pool`` worker: ignore SIGINT, and end quietly on SIGTERM, with which
    the pool shuts its workers down before waiting for them (so they cannot ignore it). Quietly:
    SystemExit, on which a worker process exits without a traceback, after its ``finally``
    blocks removed its temporary files and released the lock on the pool's task queue that an
    idle worker holds (a worker killed outright would leave it locked, and the pool's shutdown
    waiting on it forever). Once the worker is exiting anyway, the default action: an exception
    raised in its exit handlers would only be printed."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_quietly)
    atexit.register(signal.signal, signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def _exit_quietly(signum, frame):  # noqa: ARG001 - signal handler signature
    signal.signal(signum, signal.SIG_DFL)
    raise SystemExit(exit_code(signum))
