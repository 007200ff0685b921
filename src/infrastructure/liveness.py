"""The liveness file: a looping process (the worker, reconcile, the webhook dispatcher) writes
it as it goes round, and the image's HEALTHCHECK (academy/healthcheck.py) calls the process
stuck once the file is older than the age written in it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import structlog


class LivenessFile:
    """`beat()` after each turn of the loop; without a path (LIVENESS_FILE unset) it does
    nothing. A failed write is logged once and never stops the loop."""

    def __init__(self, path: str, max_age_seconds: float) -> None:
        self.path = path
        self.max_age_seconds = max_age_seconds
        self._warned = False

    def beat(self) -> None:
        if not self.path:
            return
        tmp = f"{self.path}.tmp"
        try:
            # Written whole and renamed: the healthcheck never reads half a file.
            Path(tmp).write_text(f"{self.max_age_seconds:g}\n")
            os.replace(tmp, self.path)
        except OSError as exc:
            if not self._warned:
                self._warned = True
                structlog.get_logger().warning(
                    "LIVENESS_FILE_FAILED", path=self.path, error=f"{type(exc).__name__}: {exc}"
                )


def liveness_problem(path: str, now: float | None = None) -> str | None:
    """Why the file says the process is stuck, or None when it is fresh. Raises
    FileNotFoundError when there is no file (the process is not a looping one, or has not
    gone round yet)."""
    stat = os.stat(path)
    try:
        max_age = float(Path(path).read_text().strip())
    except ValueError:
        return f"{path} does not hold a maximum age"
    age = (time.time() if now is None else now) - stat.st_mtime
    if age > max_age:
        return f"{path} is {age:.0f} s old (at most {max_age:g} s): the loop is stuck"
    return None
