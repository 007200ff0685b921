"""A token bucket per API key in Redis: one Lua script takes a token atomically.

Each bucket is a hash `{prefix}{name}` with the tokens left and when it was last filled, on
Redis's own clock (`TIME`), so every API process shares one bucket per key whatever their
clocks say. It refills at `rate` tokens a second up to `burst`, and expires once it would be
full again (an idle key costs no memory).

Redis down: `take` answers None (not enforced), logs one RATE_LIMIT_UNAVAILABLE warning a
minute, and asks Redis again only after `retry_seconds`, so a dead server does not add a
connection attempt to every request.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

import redis

from src.application.rate_limited_warning import RateLimitedWarning

WARNING_INTERVAL_SECONDS = 60.0
REDIS_RETRY_SECONDS = 5.0

# KEYS[1] bucket; ARGV rate (tokens/s), burst (tokens), cost (tokens).
# Returns {allowed 0/1, tokens left x1000, ms until one token, ms until full}.
BUCKET_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = burst
  at = now
end
local elapsed = math.max(0, now - at)
tokens = math.min(burst, tokens + elapsed * rate / 1000)
local allowed = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
end
local full_ms = math.ceil((burst - tokens) * 1000 / rate)
local next_ms = 0
if tokens < cost then
  next_ms = math.ceil((cost - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], full_ms + 1000)
return {allowed, math.floor(tokens * 1000), next_ms, full_ms}
"""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int  # the bucket's size (burst)
    remaining: int  # whole tokens left after this request
    retry_after_seconds: int  # until one token is back (0 when allowed)
    reset_seconds: int  # until the bucket is full again


class RedisTokenBucket:
    def __init__(
        self,
        client: redis.Redis,
        *,
        rate: float,
        burst: int,
        prefix: str = "api:ratelimit:",
        retry_seconds: float = REDIS_RETRY_SECONDS,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.client = client
        self.rate = rate
        self.burst = burst
        self.prefix = prefix
        self.retry_seconds = retry_seconds
        self._script = client.register_script(BUCKET_SCRIPT)
        self._warning = RateLimitedWarning("RATE_LIMIT_UNAVAILABLE", WARNING_INTERVAL_SECONDS)
        self._lock = threading.Lock()
        self._skip_until = float("-inf")

    def take(self, name: str, cost: int = 1) -> Decision | None:
        """Take `cost` tokens from bucket `name`; None when Redis cannot be asked."""
        if time.monotonic() < self._skip_until:
            return None
        try:
            allowed, milli_tokens, next_ms, full_ms = self._script(
                keys=[f"{self.prefix}{name}"], args=[self.rate, self.burst, cost]
            )
        except (redis.RedisError, OSError) as exc:
            with self._lock:
                self._skip_until = time.monotonic() + self.retry_seconds
            self._warning.warn(
                error=f"{type(exc).__name__}: {exc}"[:200],
                detail="Redis is unreachable: API rate limits are not enforced",
            )
            return None
        return Decision(
            allowed=bool(int(allowed)),
            limit=self.burst,
            remaining=int(milli_tokens) // 1000,
            retry_after_seconds=max(1, math.ceil(int(next_ms) / 1000)) if not int(allowed) else 0,
            reset_seconds=math.ceil(int(full_ms) / 1000),
        )
