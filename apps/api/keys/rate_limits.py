"""Per-key rate limits: a token bucket in Redis (src/infrastructure/cache/redis_rate_limiter.py).

Every authenticated request takes one token from its key's bucket (VIDEO_API_RATE_PER_SECOND
refill, VIDEO_API_RATE_BURST size). Responses carry `RateLimit-Limit`, `RateLimit-Remaining`
and `RateLimit-Reset` (seconds until the bucket is full); an empty bucket is a 429 problem with
`Retry-After`. Redis down: not enforced, the API stays up (the limiter logs a warning a minute).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from apps.api.keys.api_keys import Principal
from src.infrastructure.cache.redis_rate_limiter import Decision, RedisTokenBucket


class RateLimited(Exception):
    """The key's bucket is empty: answered with a 429 problem."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(
            f"this API key may send {decision.limit} requests in a burst and is refilled "
            f"over time; retry in {decision.retry_after_seconds} s"
        )
        self.decision = decision


def take_token(request: HttpRequest, principal: Principal, limiter: RedisTokenBucket) -> None:
    """Take this request's token; raises RateLimited when there is none."""
    bucket = principal.key_prefix or f"id-{principal.key_id}"
    decision = limiter.take(f"key:{bucket}")
    if decision is None:
        return
    request.rate_limit = decision
    if not decision.allowed:
        raise RateLimited(decision)


def headers(decision: Decision) -> dict[str, str]:
    out = {
        "RateLimit-Limit": str(decision.limit),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(decision.reset_seconds),
    }
    if not decision.allowed:
        out["Retry-After"] = str(decision.retry_after_seconds)
    return out


def add_headers(request: HttpRequest, response: HttpResponse) -> None:
    decision = getattr(request, "rate_limit", None)
    if decision is not None:
        for name, value in headers(decision).items():
            response[name] = value
