"""Shared fixtures."""

import pytest
import torch

from hang_guard import watchdog


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module: on a shared 2-core machine a spinning second OpenMP thread
    can make small-op workloads many times slower. Opt in with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def tiny_config():
    """The one tiny BokehFlow configuration of the test suite (two blocks of 16 channels, chunks
    of 8): every test that needs a network builds it from this, so its cost stays small."""
    from bokehcli.models.config import BokehFlowConfig

    return BokehFlowConfig(name="tiny", dim=16, heads=2, head_dim=8, blocks=2, fusion_every=1, skip_dim=8,
                           decoder_dim=8, lens_dim=8, chunk_size=8)


@pytest.fixture()
def tiny_network(tiny_config):
    """A freshly initialised tiny BokehFlow (seed 0), in eval mode."""
    from bokehcli.models.bokehflow import BokehFlow

    torch.manual_seed(0)
    return BokehFlow(tiny_config).eval()


@pytest.fixture
def alarm():
    """Fail (rather than block the suite) when the code under test does not return."""
    with watchdog():
        yield


@pytest.fixture(autouse=True)
def _subnormals_kept_between_tests():
    """The commands flush subnormal floats to zero for their whole process (the CPU's mode,
    which also makes 1e-320 compare equal to 0); run in-process by CliRunner, they must not leave
    that mode to the tests after them. Off is the CPU's default."""
    yield
    torch.set_flush_denormal(False)
