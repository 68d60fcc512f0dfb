"""The tap's own temporary area: where downloads go, and who may clean it up.

Each run keeps its files in a directory of its own, `run-*` under
`<tempdir>/tap-sei-time-in-status-<uid>/` (`tempdir` is `TMPDIR`, else the system's), locked
for as long as the process lives and removed when it ends. A run killed with SIGKILL cannot
remove its files; the next run does, removing only run directories that are older than itself
and that no live process holds locked. A disk that refuses to write is a local problem, said
as such with the directory, never taken for a corrupt download; and a `TMPDIR` that is not a
directory is an error, where Python's `tempfile` would silently write elsewhere (perhaps to a
small or shared disk the user meant to avoid).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import shutil
import stat
import tempfile
import threading
import time
from pathlib import Path

from tap_sei_time_in_status.errors import SeiTapError

AREA_PREFIX = "tap-sei-time-in-status-"
RUN_PREFIX = "run-"
LOCK_NAME = ".lock"
#: The disk is full, the file too large, the quota spent, read-only, or not ours to write.
LOCAL_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}
)
PROCESS_STARTED = time.time()


class LocalDiskError(SeiTapError):
    """The local disk refused a write: not the server's fault, not worth downloading again."""


def local_disk_error(error: OSError, directory: Path) -> LocalDiskError:
    """The error to report for a failed write in `directory`."""
    code = errno.errorcode.get(error.errno or 0, str(error.errno))
    hint = (
        " Free space there (or raise the quota / file size limit), or set TMPDIR to a "
        "directory with room."
        if error.errno in LOCAL_ERRNOS
        else ""
    )
    return LocalDiskError(
        f"Local disk error in the tap's temporary directory {directory}: "
        f"{error.strerror or error} ({code}).{hint}"
    )


class TempArea:
    """The run's private directory of temporary files, created on first use."""

    def __init__(self, logger: logging.Logger, base: Path | None = None) -> None:
        uid = os.getuid() if hasattr(os, "getuid") else 0
        #: The user's TMPDIR (when set and `base` is not given), which must be a directory.
        self._tmpdir = None if base is not None else os.environ.get("TMPDIR") or None
        if self._tmpdir is not None:
            base = Path(os.path.abspath(self._tmpdir))
        self.root = Path(base or tempfile.gettempdir()) / f"{AREA_PREFIX}{uid}"
        self._logger = logger
        self._run_dir: Path | None = None
        self._lock_fd: int | None = None
        self._removing = threading.Lock()

    def run_dir(self) -> Path:
        """The run's own directory; the first call also removes what killed runs left."""
        if self._run_dir is None:
            self._check_tmpdir()
            try:
                self._make_root()
                self._remove_stale()
                run_dir = Path(tempfile.mkdtemp(prefix=RUN_PREFIX, dir=self.root))
                fd = os.open(run_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as e:
                raise local_disk_error(e, self.root) from None
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._run_dir, self._lock_fd = run_dir, fd
        return self._run_dir

    def remove(self) -> None:
        """Remove this run's directory and everything in it.

        Locked: the end of the sync and a stop's last resort (another thread) may both call it,
        and the lock's descriptor must be closed only once.
        """
        with self._removing:
            if self._run_dir is not None:
                shutil.rmtree(self._run_dir, ignore_errors=True)
                self._run_dir = None
            if self._lock_fd is not None:
                with contextlib.suppress(OSError):
                    os.close(self._lock_fd)
                self._lock_fd = None

    def _check_tmpdir(self) -> None:
        """A TMPDIR that is missing or not a directory is said so, naming it."""
        if self._tmpdir is None or self.root.parent.is_dir():
            return
        what = "is not a directory" if self.root.parent.exists() else "does not exist"
        msg = (
            f"TMPDIR ({self.root.parent}) {what}: the tap keeps its downloads there. Create "
            "it, set TMPDIR to an existing directory, or unset it for the system's default."
        )
        raise LocalDiskError(msg)

    def _make_root(self) -> None:
        """The area, private to this user; refused if someone else planted it."""
        with contextlib.suppress(FileExistsError):
            self.root.mkdir(mode=0o700, parents=True)
        info = self.root.lstat()
        uid = os.getuid() if hasattr(os, "getuid") else info.st_uid
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != uid:
            msg = (
                f"The tap's temporary directory {self.root} is not a directory of this user; "
                "remove it or set TMPDIR elsewhere."
            )
            raise LocalDiskError(msg)
        if stat.S_IMODE(info.st_mode) != 0o700:
            self.root.chmod(0o700)

    def _remove_stale(self) -> None:
        removed = 0
        for entry in self.root.iterdir():
            if not entry.name.startswith(RUN_PREFIX) or entry.is_symlink() or not entry.is_dir():
                continue
            if entry.stat().st_mtime >= PROCESS_STARTED or _in_use(entry):
                continue
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
        if removed:
            self._logger.info(
                "Removed the temporary files of %d earlier run(s) that ended without "
                "cleaning up, in %s",
                removed,
                self.root,
            )


def _in_use(run_dir: Path) -> bool:
    """Whether a live process holds the run directory's lock."""
    try:
        fd = os.open(run_dir / LOCK_NAME, os.O_RDWR)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False
