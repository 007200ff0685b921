"""A job's stop switch: set once, from any thread, with the reason the job must stop."""

from __future__ import annotations

import threading

CANCEL = "cancel"
LEASE_LOST = "lease_lost"
SHUTDOWN = "shutdown"
VISIBILITY_CAP = "visibility_cap"


class JobControl:
    def __init__(self) -> None:
        self._reason: str | None = None
        self._lock = threading.Lock()
        self.stopped = threading.Event()

    def stop(self, reason: str) -> bool:
        """Ask the job to stop; the first reason wins. Returns whether this call set it."""
        with self._lock:
            if self._reason is not None:
                return False
            self._reason = reason
        self.stopped.set()
        return True

    @property
    def reason(self) -> str | None:
        return self._reason

    def should_stop(self) -> str | None:
        return self._reason
