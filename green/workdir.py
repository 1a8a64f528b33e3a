"""Guards around a workdir: one writer at a time, writability checked before work, disk errors in one line.

A command that writes (train, compress, evaluate, measure, doctor --clean) holds an
exclusive ``flock`` on ``WORKDIR/.lock`` for its whole run; a second one fails at once
with the pid and command of the first instead of racing it (two ``green train`` once
lost a training to ENOTEMPTY). The kernel drops the lock when its process dies, even
under ``kill -9``, so a stale lock file never blocks anyone. Commands that only read
(report, doctor) do not take it.
"""

from __future__ import annotations

import errno
import fcntl
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from green.errors import GreenError

LOCK_NAME = ".lock"
#: errno values that mean "the workdir cannot take this write": said in one line, never a traceback.
DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


def disk_error(exc: OSError, where: Path | str, name_file: bool = True) -> GreenError:
    """The one-line error for an OSError that writing in ``where`` raised (naming the file, if it says)."""
    target = (exc.filename if name_file else None) or where
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return GreenError(f"no space left on the device while writing {target}",
                          "free some space (`green doctor --clean` removes interrupted runs), or use another --workdir")
    if exc.errno == errno.EROFS:
        return GreenError(f"{target} is on a read-only file system", "pass a writable --workdir")
    return GreenError(f"no permission to write {target} ({exc.strerror})",
                      "fix the folder's permissions, or pass another --workdir")


@contextmanager
def disk_errors(where: Path | str, name_file: bool = True) -> Iterator[None]:
    """Turn a full disk, a read-only file system or a permission error into a GreenError."""
    try:
        yield
    except OSError as exc:
        if exc.errno in DISK_ERRNOS:
            raise disk_error(exc, where, name_file) from None
        raise


def check_writable(folder: Path) -> None:
    """Create and remove a probe file in ``folder``: the only test that also holds for root and read-only mounts."""
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".green-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        if exc.errno in DISK_ERRNOS:
            raise disk_error(exc, folder, name_file=False) from None
        raise GreenError(f"cannot write in {folder} ({exc.strerror or exc})", "pass a writable --workdir") from None


def lock_holder(workdir: Path) -> str | None:
    """``pid N (green CMD)`` when another process holds the workdir's lock, else None."""
    path = Path(workdir) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return _describe(fd)
    finally:
        os.close(fd)  # closing drops a shared lock we may have taken
    return None


def _describe(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        pid, _, command = os.read(fd, 200).decode("utf-8", "replace").strip().partition(" ")
    except OSError:
        return "another process"
    return f"pid {pid} (green {command})" if pid.isdigit() else "another process"


class WorkdirLock:
    """An exclusive lock on a workdir for one command; creates the workdir, removes it again if it stays empty.

    >>> with WorkdirLock(Path("green-runs"), "train"):   # doctest: +SKIP
    ...     ...                                           # a second writer gets "workdir is busy (pid N ...)"
    """

    def __init__(self, workdir: Path, command: str) -> None:
        self.workdir = Path(workdir)
        self.path = self.workdir / LOCK_NAME
        self.command = command
        self._fd: int | None = None
        self._created = False

    def acquire(self) -> None:
        self._created = not self.workdir.exists()
        with disk_errors(self.workdir, name_file=False):
            self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self._fd = self._lock_file()
            with disk_errors(self.workdir, name_file=False):
                os.ftruncate(self._fd, 0)
                os.write(self._fd, f"{os.getpid()} {self.command}\n".encode())
            for sub in ("records", "runs", "report"):  # a read-only subfolder is found now, not after the work
                if (self.workdir / sub).is_dir():
                    check_writable(self.workdir / sub)
        except BaseException:
            self.release()
            raise

    def _lock_file(self) -> int:
        while True:
            with disk_errors(self.workdir, name_file=False):
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _describe(fd)
                os.close(fd)
                raise GreenError(f"workdir {self.workdir} is busy ({holder})",
                                 "wait for that command to finish, or use another --workdir") from None
            # The holder we waited on may have unlinked the file before we locked it: then
            # our lock is on a ghost, and a third process could lock the new file. Retry.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                return fd
            os.close(fd)

    def release(self) -> None:
        if self._fd is not None:
            try:
                self.path.unlink(missing_ok=True)  # unlinked while still locked: see _lock_file
            except OSError:
                pass
            os.close(self._fd)
            self._fd = None
        if self._created:
            try:
                self.workdir.rmdir()  # only succeeds when the command left nothing behind
            except OSError:
                pass

    def __enter__(self) -> "WorkdirLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
