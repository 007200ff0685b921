"""How much room a folder's filesystem has left (for the worker's work folder)."""

from __future__ import annotations

import os
from pathlib import Path

# Below this a filesystem is full for our purposes: ffmpeg and file copies write in blocks of
# tens of KB, so a write that failed for lack of room leaves less than this behind.
FULL_BELOW_BYTES = 1024 * 1024


def free_bytes(path: str | Path) -> int:
    """Bytes an unprivileged writer can still use on the filesystem holding `path` (or the
    nearest folder above it that exists)."""
    probe = Path(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    stats = os.statvfs(probe)
    return stats.f_bavail * stats.f_frsize


def is_full(path: str | Path) -> bool:
    return free_bytes(path) < FULL_BELOW_BYTES
