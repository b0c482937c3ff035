"""Shared fixtures."""

import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module: on a shared 2-core machine a spinning second OpenMP thread
    can make small-op workloads many times slower. Opt in with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(autouse=True)
def _subnormals_kept_between_tests():
    """The commands flush subnormal floats to zero for their whole process (the CPU's mode,
    which also makes 1e-320 compare equal to 0); run in-process by CliRunner, they must not leave
    that mode to the tests after them. Off is the CPU's default."""
    yield
    torch.set_flush_denormal(False)
