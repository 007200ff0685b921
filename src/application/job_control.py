"""A job's stop switch: set once, from any thread, with the reason the job must stop."""

from __future__ import annotations

import threading

from src.application.domain import StopReason


class JobControl:
    def __init__(self) -> None:
        self._reason: StopReason | None = None
        self._lock = threading.Lock()

    def stop(self, reason: StopReason) -> bool:
        """Ask the job to stop; the first reason wins. Returns whether this call set it."""
        with self._lock:
            if self._reason is not None:
                return False
            self._reason = StopReason(reason)
        return True

    def stop_reason(self) -> StopReason | None:
        """Why the job must stop, or None while it may go on (the transcoder's StopCheck)."""
        return self._reason

    def should_stop(self) -> bool:
        return self._reason is not None
