"""Failed API-key checks are throttled per client address and per key prefix (the key's
public part): after VIDEO_AUTH_FAILURES_PER_WINDOW failures within
VIDEO_AUTH_FAILURE_WINDOW_SECONDS, every further try from that address, or for that prefix,
is refused with 429 and `Retry-After` until the window ends — before the key is checked, so a
guesser learns nothing more. The API (Bearer and X-API-Key) and the web sign-in share the
counters (src/infrastructure/cache/redis_auth_throttle.py). A prefix's lock-out can be caused
by someone else's failures: the window is short, and the address limit stops the guesser.
"""

from __future__ import annotations

import structlog
from django.http import HttpRequest

from academy.current import use_cases
from apps.api.keys.api_keys import KeyRejected, split_prefix

log = structlog.get_logger("apps.api")


class AuthThrottled(Exception):
    """Too many failed authentications: answered with 429 and Retry-After."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"too many failed authentications from this address or for this key; retry in "
            f"{retry_after} s"
        )
        self.retry_after = retry_after


def _names(request: HttpRequest, key: str) -> list[str]:
    names = [f"addr:{request.META.get('REMOTE_ADDR') or 'unknown'}"]
    try:
        names.append(f"key:{split_prefix(key.strip())}")
    except KeyRejected:
        pass  # no prefix to speak of: the address counts alone
    return names


def check_allowed(request: HttpRequest, key: str) -> None:
    """AuthThrottled when the address or the key's prefix used up its failures."""
    throttle = use_cases().auth_throttle
    if throttle is None:
        return
    retry_after = throttle.blocked(_names(request, key))
    if retry_after:
        log.warning(
            "AUTH_THROTTLED",
            client=request.META.get("REMOTE_ADDR", ""),
            path=request.path,
            retry_after=retry_after,
        )
        raise AuthThrottled(retry_after)


def record_failure(request: HttpRequest, key: str) -> None:
    throttle = use_cases().auth_throttle
    if throttle is not None:
        throttle.failed(_names(request, key))
