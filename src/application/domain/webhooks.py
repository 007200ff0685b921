"""Webhook events and the delivery policy: what is sent, when it is retried, what ends it.

The schedule is Standard Webhooks' (1.0, "Retry schedule"): after the first attempt fails,
retry 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h and 24 h later (about 3.4 days in all),
each delay spread by a random jitter so endpoints that failed together do not all come back
at once. A delivery whose last attempt fails is FAILED; a `410 Gone` ends it at once and
disables the endpoint.
"""

from __future__ import annotations

import enum
import random as _random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime


class VideoEventType(enum.StrEnum):
    """The events a tenant can subscribe to; the value is the payload's `type`."""

    PROCESSING = "video.processing"  # a worker claimed the video (once per claim)
    READY = "video.ready"
    FAILED = "video.failed"
    CANCELED = "video.canceled"
    CAPTIONS_READY = "video.captions.ready"  # an automatic caption track is READY
    CAPTIONS_FAILED = "video.captions.failed"  # an automatic caption track FAILED for good

    @classmethod
    def parse(cls, names: list[str]) -> list[VideoEventType]:
        """Known names, each once, in the order given; ValueError naming an unknown one."""
        out: list[VideoEventType] = []
        for name in names:
            try:
                event_type = cls(name)
            except ValueError:
                known = ", ".join(t.value for t in cls)
                raise ValueError(f"unknown event type {name!r} (known: {known})") from None
            if event_type not in out:
                out.append(event_type)
        return out


class DeliveryStatus(enum.StrEnum):
    PENDING = "PENDING"  # due at next_attempt_at (first attempt or a retry)
    SENDING = "SENDING"  # claimed by a dispatcher until locked_until
    DELIVERED = "DELIVERED"  # the endpoint answered 2xx
    FAILED = "FAILED"  # every attempt failed, 410 Gone, or the endpoint was disabled


# Delays after each failed attempt (Standard Webhooks' schedule): attempt n+1 waits
# RETRY_SCHEDULE[n-1]; when the list is used up the delivery has failed.
RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=24),
)
MAX_ATTEMPTS = len(RETRY_SCHEDULE) + 1
# Each delay is multiplied by a factor in [1 - JITTER, 1 + JITTER].
JITTER = 0.2
# A receiver's Retry-After is honoured up to this (a longer one would outlive the schedule).
RETRY_AFTER_MAX = timedelta(hours=24)


class AttemptResult(enum.StrEnum):
    DELIVERED = "delivered"  # 2xx
    GONE = "gone"  # 410: the endpoint is disabled, nothing more is sent to it
    RETRY = "retry"  # anything else, timeouts, refused connections, redirects included
    REFUSED = "refused"  # the address guard refused the destination (retried: DNS may change)


def classify(status_code: int | None) -> AttemptResult:
    """2xx only is success; 410 ends it; redirects (never followed) and the rest are retried."""
    if status_code is not None and 200 <= status_code < 300:
        return AttemptResult.DELIVERED
    if status_code == 410:
        return AttemptResult.GONE
    return AttemptResult.RETRY


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """Retry-After as seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(when - now, timedelta(0))


@dataclass(frozen=True)
class NextStep:
    """What follows a failed attempt: a retry at `retry_at`, or (None) the delivery failed."""

    retry_at: datetime | None

    @property
    def gives_up(self) -> bool:
        return self.retry_at is None


def next_attempt(
    attempts_made: int,
    now: datetime,
    retry_after: timedelta | None = None,
    rand: Callable[[], float] = _random.random,
) -> NextStep:
    """After `attempts_made` failed attempts: when to try again, on the schedule with jitter;
    a receiver's Retry-After pushes it later (never earlier), up to RETRY_AFTER_MAX."""
    if attempts_made >= MAX_ATTEMPTS:
        return NextStep(None)
    delay = RETRY_SCHEDULE[attempts_made - 1] * (1 - JITTER + 2 * JITTER * rand())
    if retry_after is not None:
        delay = max(delay, min(retry_after, RETRY_AFTER_MAX))
    return NextStep(now + delay)


def schedule_span() -> timedelta:
    """How long a delivery keeps being retried, without jitter (about 3.4 days)."""
    return sum(RETRY_SCHEDULE, timedelta(0))


def new_event_id() -> str:
    """A Standard Webhooks message id (`webhook-id`): `msg_` and 128 random bits."""
    return f"msg_{uuid.uuid4().hex}"
