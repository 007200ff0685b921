"""Failed authentications counted in Redis, per client address and per key prefix.

Each name has a counter `api:authfail:{name}` that lives `window_seconds` from its first
failure (a fixed window). Before a key is checked, `blocked()` asks whether any of the
request's names has used up `failures`; a failed check adds one to each. Every API process
and the web sign-in share the counters. Redis down: not enforced (one warning a minute), the
API stays up, as with the per-key request limit.
"""

from __future__ import annotations

import threading
import time

import redis

from src.application.rate_limited_warning import RateLimitedWarning

WARNING_INTERVAL_SECONDS = 60.0
REDIS_RETRY_SECONDS = 5.0
PREFIX = "api:authfail:"


class RedisAuthThrottle:
    def __init__(
        self,
        client: redis.Redis,
        *,
        failures: int,
        window_seconds: int,
        prefix: str = PREFIX,
        retry_seconds: float = REDIS_RETRY_SECONDS,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.failures = failures
        self.window_seconds = window_seconds
        self.retry_seconds = retry_seconds
        self._warning = RateLimitedWarning("RATE_LIMIT_UNAVAILABLE", WARNING_INTERVAL_SECONDS)
        self._lock = threading.Lock()
        self._skip_until = float("-inf")

    def blocked(self, names: list[str]) -> int:
        """Seconds until the first of `names` may try again; 0 when none is blocked."""
        if not names or time.monotonic() < self._skip_until:
            return 0
        try:
            pipe = self.client.pipeline(transaction=False)
            for name in names:
                pipe.get(f"{self.prefix}{name}")
                pipe.pttl(f"{self.prefix}{name}")
            answers = pipe.execute()
        except (redis.RedisError, OSError) as exc:
            self._unavailable(exc)
            return 0
        wait_ms = 0
        for count, ttl_ms in zip(answers[::2], answers[1::2], strict=True):
            if count is not None and int(count) >= self.failures:
                wait_ms = max(wait_ms, int(ttl_ms) if int(ttl_ms) > 0 else 1000)
        return -(-wait_ms // 1000)  # whole seconds, rounded up

    def failed(self, names: list[str]) -> None:
        """One more failure for each of `names`."""
        if not names or time.monotonic() < self._skip_until:
            return
        try:
            pipe = self.client.pipeline(transaction=False)
            for name in names:
                pipe.incr(f"{self.prefix}{name}")
                pipe.expire(f"{self.prefix}{name}", self.window_seconds, nx=True)
            pipe.execute()
        except (redis.RedisError, OSError) as exc:
            self._unavailable(exc)

    def _unavailable(self, exc: Exception) -> None:
        with self._lock:
            self._skip_until = time.monotonic() + self.retry_seconds
        self._warning.warn(
            error=f"{type(exc).__name__}: {exc}"[:200],
            detail="Redis is unreachable: failed authentications are not throttled",
        )
