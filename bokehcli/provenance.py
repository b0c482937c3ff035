"""What produced a result: the code's commit and the versions of the packages that compute it.

Recorded in ``metrics.json`` (``bokeh eval``) and ``RUN/config.json`` (``bokeh train``) so a number
can be traced back to the code and libraries behind it.
"""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

# Distributions whose version can change a metric or a trained weight (None when not installed).
PACKAGES = ("bokehcli", "torch", "numpy", "pillow", "scipy", "safetensors", "lpips", "tensorboard")
GIT_TIMEOUT_S = 5.0


def _git(checkout: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(checkout), *args], capture_output=True, text=True,
                              timeout=GIT_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def code_commit() -> dict[str, object] | None:
    """``{"commit": sha, "dirty": bool}`` of the git checkout this package runs from, or None
    when it is not run from one (an installed wheel: its version is in :func:`package_versions`).
    A checkout that merely contains the installed package (a venv inside some repository) does
    not count: its top level must hold this very package folder."""
    package = Path(__file__).resolve().parent
    top = _git(package.parent, "rev-parse", "--show-toplevel")
    if top is None or (Path(top) / package.name).resolve() != package:
        return None
    commit = _git(package.parent, "rev-parse", "HEAD")
    if commit is None:
        return None
    changes = _git(package.parent, "status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(changes)}


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def provenance() -> dict[str, object]:
    """The code's commit and the package versions, for a report."""
    return {"code": code_commit(), "packages": package_versions()}
