"""Each job's own temporary folder in VIDEO_WORK_DIR, locked for as long as its worker lives.

The lock is an flock on a file inside the folder: the kernel drops it when the process dies,
however it dies. A starting worker removes the folders whose lock it can take: their owner
is gone (killed with SIGKILL, or the machine rebooted), and nobody else will clean them up.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import time
from pathlib import Path

FOLDER_PREFIX = "video-"
LOCK_NAME = ".owner.lock"
# A folder is created a moment before its lock; one without a lock is left alone this long.
UNLOCKED_GRACE_SECONDS = 60.0


class JobFolder:
    """A job's folder and the lock that says it is in use; `remove()` when the job ends."""

    def __init__(self, path: Path, lock_fd: int) -> None:
        self.path = path
        self._lock_fd = lock_fd

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # the folder is gone already: nothing left to guard
            self._lock_fd = -1


def create_job_folder(root: Path, prefix: str) -> JobFolder:
    """A new folder below `root` named `prefix…`, locked by this process. OSError if not."""
    root.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX + prefix, dir=root))
    try:
        fd = os.open(path / LOCK_NAME, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, f"{os.getpid()}\n".encode())  # for a person looking at the folder
    except OSError:
        shutil.rmtree(path, ignore_errors=True)
        raise
    return JobFolder(path, fd)


def remove_orphan_job_folders(root: Path) -> list[str]:
    """Remove the job folders below `root` that no live process holds; returns their names."""
    root = Path(root)
    if not root.is_dir():
        return []
    removed = []
    for entry in sorted(root.iterdir()):
        if not entry.name.startswith(FOLDER_PREFIX) or entry.is_symlink() or not entry.is_dir():
            continue
        if not _held(entry):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
    return removed


def _held(folder: Path) -> bool:
    try:
        fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        try:
            age = time.time() - folder.stat().st_mtime
        except FileNotFoundError:
            return True  # removed meanwhile: nothing to do
        return age < UNLOCKED_GRACE_SECONDS
    except OSError:
        return True  # not ours to judge (a link, no permission): leave it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # releases the lock we may have taken
    return False
