"""Shared fixtures."""

import signal

import pytest
import torch


def pytest_configure(config):  # noqa: ARG001 - pytest hook signature
    """The stop tests send SIGINT to `bokeh` subprocesses. A shell without job control starts
    background jobs ignoring SIGINT, which children inherit and bokeh keeps ignoring (as a
    background job should): give them the default so that a suite run in the background tests
    what a terminal's foreground job does."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module: on a shared 2-core machine a spinning second OpenMP thread
    can make small-op workloads many times slower. Opt in with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
