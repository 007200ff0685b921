"""Ports of webhook delivery: the store of due deliveries, and the transport that sends one."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime

from src.application.domain.webhooks import DeliveryStatus


@dataclass(frozen=True)
class DueDelivery:
    """A delivery a dispatcher claimed: what to send where, and the token fencing its result."""

    delivery_id: int
    lock_token: int
    attempt: int  # the number of the attempt about to be made (1 for the first)
    endpoint_id: int
    url: str
    secret: str
    message_id: str  # webhook-id: the event's, the same on every retry
    event_type: str
    video_id: int
    tenant_id: int
    body: str  # the exact JSON sent, the same on every retry


@dataclass(frozen=True)
class AttemptOutcome:
    """What one HTTP attempt got: a status code, or an error saying why there was none."""

    status_code: int | None = None
    error: str = ""
    duration_ms: int = 0
    retry_after: str | None = None  # the receiver's Retry-After header, as sent
    response_excerpt: str = ""
    refused: bool = False  # the address guard refused the destination; nothing was sent


@dataclass(frozen=True)
class Settlement:
    """How a delivery stands after an attempt, and what it does to its endpoint."""

    status: DeliveryStatus  # DELIVERED, PENDING (retry at next_attempt_at) or FAILED
    attempted_at: datetime
    next_attempt_at: datetime | None = None
    disable_endpoint: str = ""  # non-empty: disable the endpoint for this reason (410 Gone)
    flag_endpoint: bool = False  # the delivery used up its retries: mark the endpoint failing


class WebhookStore(abc.ABC):
    @abc.abstractmethod
    def claim_due(
        self, now: datetime, limit: int, lock_seconds: float, dispatcher_id: str
    ) -> list[DueDelivery]:
        """Up to `limit` deliveries due at `now` (or whose claim expired), each claimed by one
        caller only until now + lock_seconds; concurrent dispatchers never share one."""

    @abc.abstractmethod
    def settle(
        self, delivery: DueDelivery, outcome: AttemptOutcome, settlement: Settlement
    ) -> bool:
        """Log the attempt and apply the settlement, fenced on the claim; False when the claim
        was lost (it expired and another dispatcher took the delivery)."""

    @abc.abstractmethod
    def count_due(self, now: datetime) -> int:
        """Deliveries due now: the dispatcher's backlog."""


class WebhookTransport(abc.ABC):
    @abc.abstractmethod
    def send(self, url: str, message_id: str, secret: str, body: str) -> AttemptOutcome:
        """Sign and POST `body` once; never raises for the receiver's failures (they are in
        the outcome), never follows a redirect."""
