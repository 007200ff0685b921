"""Real small filesystems for tests: a tmpfs of a few KB fills up for real (ENOSPC), a
read-only one refuses writes (EROFS). Mounting needs root (CI runs as root) or sudo."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path


def _mount_command() -> list[str]:
    return ["mount"] if os.geteuid() == 0 else ["sudo", "-n", "mount"]


def _run(args: list[str]) -> None:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} failed ({proc.stderr.strip()}): tests that fill a disk need "
            "root or passwordless sudo to mount a small tmpfs"
        )


@contextlib.contextmanager
def tmpfs(path: Path, size: str, *, read_only: bool = False) -> Iterator[Path]:
    """Mount a tmpfs of `size` (mount's syntax: 64k, 2m) at `path` for the block."""
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size},mode=0777" + (",ro" if read_only else "")
    _run([*_mount_command(), "-t", "tmpfs", "-o", options, "tmpfs", str(path)])
    try:
        yield path
    finally:
        umount = ["umount"] if os.geteuid() == 0 else ["sudo", "-n", "umount"]
        _run([*umount, "--lazy", str(path)])


def fill(path: Path, leave_bytes: int = 0) -> None:
    """Fill the filesystem holding `path` until at most `leave_bytes` are free."""
    filler = path / ".filler"
    with open(filler, "wb") as out:
        try:
            while True:
                free = os.statvfs(path).f_bavail * os.statvfs(path).f_frsize
                if free <= leave_bytes:
                    break
                out.write(b"\0" * min(65536, max(free - leave_bytes, 1)))
                out.flush()
        except OSError:
            pass  # full
