"""Atomic file output: a crash or Ctrl-C never leaves a half-written file behind.

A file is written under a temporary name beside its target (``.bokeh-tmp-`` + 8 random
characters + the target's suffix), then renamed onto it. While it is being written, its writer
holds an exclusive ``flock`` on it; the lock dies with the process, however it dies. So a
temporary file of ours that nobody holds locked was left by a killed writer (SIGKILL, a power
cut): the first write of a process into a folder removes those, and so do the commands at their
start (:func:`remove_stale_temp_files`). Concurrent writers into one folder leave each other's
files alone.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import OutputError
from .stop import signals_deferred

TMP_PREFIX = ".bokeh-tmp-"
# mkstemp's names: the prefix, 8 characters of its alphabet, the suffix it was given.
_TMP_NAME = re.compile(re.escape(TMP_PREFIX) + r"[a-z0-9_]{8}(\.[A-Za-z0-9]{1,16})?")
_swept: set[Path] = set()  # folders this process has cleaned already


class OutputExists(OutputError):
    """The target of a write that must not replace anything appeared meanwhile (another run)."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, replace: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is fsynced and renamed onto it.

    The temporary file lives in the same folder (so the rename is atomic on POSIX) and is
    removed on any exception, including an interrupt at any moment. ``replace=False`` claims
    ``path`` exclusively: if it exists by the time the file is complete (another process wrote
    it meanwhile), :class:`OutputExists` is raised and that file is left as it is.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    _sweep_once(folder)
    tmp, lock_fd = None, -1
    try:
        # Creating the file and taking note of its name must not be split by an interrupt, or
        # the file would be left behind unnamed.
        with signals_deferred():
            tmp, lock_fd = _locked_temp(path, folder)
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        # mkstemp creates 0600; give the result the permissions a plain open() would.
        os.chmod(tmp, 0o666 & ~_umask())
        _commit(tmp, path, replace)
    except OSError as exc:
        _unlink_quietly(tmp)
        raise OutputError(f"{path}: cannot write: {_reason(exc)}") from None
    except BaseException:
        with signals_deferred():  # a second Ctrl-C must not keep the file from being removed
            _unlink_quietly(tmp)
        raise
    finally:
        if lock_fd >= 0:
            os.close(lock_fd)


def _locked_temp(path: Path, folder: Path) -> tuple[Path, int]:
    """A new temporary file for ``path`` and an open descriptor holding its lock."""
    while True:
        try:
            fd, name = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=path.suffix, dir=folder)
        except OSError as exc:
            raise OutputError(f"{path}: cannot write to {folder}: {_reason(exc)}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            # Another process's sweep took the file for stale in the instant before the lock and
            # is removing it: take another name.
            os.close(fd)
            continue
        except OSError:
            pass  # a file system without locks: the file goes unlocked (no sweep removes it then)
        if _same_file(fd, name):  # not removed by a sweep that locked it first
            return Path(name), fd
        os.close(fd)


def _commit(tmp: Path, path: Path, replace: bool) -> None:
    if replace:
        os.replace(tmp, path)
        return
    try:
        try:
            os.link(tmp, path)  # fails if path exists, atomically
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                raise
            # No hard links here (FAT, some network shares): claim the name with an exclusive
            # create, then replace the empty claim with the file.
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            os.replace(tmp, path)
            return
    except FileExistsError:
        raise OutputExists(f"{path}: appeared while this one was written (another run writing the same "
                           f"file?); left as it is (--overwrite replaces it)") from None
    _unlink_quietly(tmp)


def remove_stale_temp_files(folder: str | os.PathLike, recursive: bool = False) -> list[Path]:
    """Remove the temporary files of ours in ``folder`` (and below, with ``recursive``) that no
    live writer holds locked; returns them. Other files, ours in progress included, stay."""
    removed = []
    folders = (Path(root) for root, _, _ in os.walk(folder)) if recursive else (Path(folder),)
    for here in folders:
        with contextlib.suppress(OSError):
            for entry in os.scandir(here):
                ours = _TMP_NAME.fullmatch(entry.name) and entry.is_file(follow_symlinks=False)
                if ours and _unlink_if_stale(entry.path):
                    removed.append(Path(entry.path))
    return removed


def _unlink_if_stale(name: str) -> bool:
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # fails while its writer is alive
        if not _same_file(fd, name):
            return False
        os.unlink(name)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def _same_file(fd: int, name: str) -> bool:
    """Whether ``name`` still names the file open as ``fd``."""
    try:
        here, there = os.fstat(fd), os.lstat(name)
    except OSError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def _sweep_once(folder: Path) -> None:
    key = folder.absolute()
    if key not in _swept:
        _swept.add(key)
        remove_stale_temp_files(folder)


def make_folder(folder: str | os.PathLike, for_path: str | os.PathLike) -> None:
    """``mkdir -p folder``; failure is a one-line OutputError naming ``for_path`` (the file
    that was to be written there)."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{for_path}: cannot create the folder {folder}: {_reason(exc)}") from None


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _unlink_quietly(path: Path | None) -> None:
    if path is not None:
        with contextlib.suppress(OSError):
            path.unlink()


def _reason(exc: OSError) -> str:
    return "disk full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
