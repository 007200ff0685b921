"""A warning that is logged at most once per interval (Redis down must not flood the logs)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import structlog


class RateLimitedWarning:
    def __init__(
        self, event: str, interval: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.event = event
        self.interval = interval
        self.clock = clock
        self._last = float("-inf")
        self._suppressed = 0
        self._lock = threading.Lock()

    def warn(self, **fields: Any) -> bool:
        now = self.clock()
        with self._lock:
            if now - self._last < self.interval:
                self._suppressed += 1
                return False
            suppressed, self._suppressed, self._last = self._suppressed, 0, now
        structlog.get_logger().warning(self.event, suppressed=suppressed, **fields)
        return True
