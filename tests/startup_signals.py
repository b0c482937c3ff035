"""Stop signals sent while a command starts: the outcomes that come before any code of ours runs."""

from __future__ import annotations

import pytest


def skip_if_before_our_code(returncode: int, stderr: str, signum: int) -> None:
    """Skip the test when the signal reached the process before our handlers existed: it died of
    the signal itself (the default action), or CPython's own start-up (its site module, the venv's
    .pth files) took it ("Fatal Python error: init_import_site"; seen once in five runs on the
    2-core CPU). A cold start (a fresh venv's first run) makes both likelier; the signal tests
    that come later in a run cover the handlers themselves."""
    if returncode == -signum:
        pytest.skip("the signal came before Python had started")
    if stderr.startswith("Fatal Python error: init_import_site"):
        pytest.skip("the signal came while Python imported its site module, before any code of ours")
