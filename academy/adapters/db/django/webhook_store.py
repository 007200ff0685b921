"""DjangoWebhookStore: due deliveries claimed with SELECT … FOR UPDATE SKIP LOCKED.

The claim is a short transaction (rows locked, skipped by everyone else, then marked SENDING
with a lock expiry and a new lock token); the HTTP attempt runs outside any transaction; the
result is written fenced on that token. A dispatcher that died mid-send leaves a SENDING row
whose lock expires, and the next claim takes it again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.support.webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from src.application.domain.webhooks import DeliveryStatus
from src.application.ports.video_events import from_snapshot, track_from_snapshot
from src.application.ports.webhooks import (
    AttemptOutcome,
    DueDelivery,
    Settlement,
    WebhookStore,
)

# The video object of a payload (`data`), as GET /api/v1/videos/{id} shows it; called with
# the track too for a caption event (`render(video, track)`).
RenderVideo = Callable[..., dict[str, Any]]
ENDPOINT_DISABLED = "the endpoint was disabled"


def payload_json(event: WebhookEvent, render: RenderVideo) -> str:
    """`{type, timestamp, data}`: the body every delivery of the event sends."""
    video = from_snapshot(event.video)
    data = render(video, track_from_snapshot(event.track)) if event.track else render(video)
    body = {
        "type": event.type,
        "timestamp": event.occurred_at.isoformat().replace("+00:00", "Z"),
        "data": data,
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


class DjangoWebhookStore(WebhookStore):
    def __init__(self, render: RenderVideo, using: str = "default") -> None:
        self.render = render
        self.using = using

    def _deliveries(self):
        conn = connections[self.using]
        if not conn.in_atomic_block:
            conn.close_if_unusable_or_obsolete()  # a long-lived loop survives a DB restart
        return WebhookDelivery.objects.using(self.using)

    def _due(self, now: datetime) -> Q:
        return Q(status=DeliveryStatus.PENDING, next_attempt_at__lte=now) | Q(
            status=DeliveryStatus.SENDING, locked_until__lt=now
        )

    def claim_due(
        self, now: datetime, limit: int, lock_seconds: float, dispatcher_id: str
    ) -> list[DueDelivery]:
        until = now + timedelta(seconds=lock_seconds)
        claimed: list[int] = []
        with transaction.atomic(using=self.using):
            rows = list(
                self._deliveries()
                .select_for_update(skip_locked=True, of=("self",))
                .filter(self._due(now), endpoint__enabled=True)
                .order_by("next_attempt_at", "pk")
                .values_list("pk", "lock_token")[:limit]
            )
            for pk, token in rows:
                # Conditional on the token we read: on databases without row locks (SQLite)
                # two claimers may read one row, and exactly one of them wins it here.
                if (
                    WebhookDelivery.objects.using(self.using)
                    .filter(pk=pk, lock_token=token)
                    .update(
                        status=DeliveryStatus.SENDING,
                        locked_by=dispatcher_id,
                        locked_until=until,
                        lock_token=F("lock_token") + 1,
                    )
                ):
                    claimed.append(pk)
        rows = (
            WebhookDelivery.objects.using(self.using)
            .filter(pk__in=claimed)
            .select_related("endpoint", "event")
            .order_by("next_attempt_at", "pk")
        )
        return [self._due_delivery(d) for d in rows]

    def _due_delivery(self, d: WebhookDelivery) -> DueDelivery:
        event = d.event
        if not event.body:
            # Rendered once; whoever writes first wins and everyone sends those bytes.
            WebhookEvent.objects.using(self.using).filter(pk=event.pk, body="").update(
                body=payload_json(event, self.render)
            )
            event.refresh_from_db(using=self.using, fields=["body"])
        return DueDelivery(
            delivery_id=d.pk,
            lock_token=d.lock_token,
            attempt=d.attempts + 1,
            endpoint_id=d.endpoint_id,
            url=d.endpoint.url,
            secret=d.endpoint.secret,
            message_id=event.message_id,
            event_type=event.type,
            video_id=d.video_id,
            tenant_id=d.tenant_id,
            body=event.body,
        )

    def settle(
        self, delivery: DueDelivery, outcome: AttemptOutcome, settlement: Settlement
    ) -> bool:
        now = settlement.attempted_at
        done = settlement.status != DeliveryStatus.PENDING
        with transaction.atomic(using=self.using):
            took = (
                self._deliveries()
                .filter(
                    pk=delivery.delivery_id,
                    status=DeliveryStatus.SENDING,
                    lock_token=delivery.lock_token,
                )
                .update(
                    status=settlement.status,
                    attempts=F("attempts") + 1,
                    next_attempt_at=settlement.next_attempt_at,
                    locked_by="",
                    locked_until=None,
                    last_status_code=outcome.status_code,
                    last_error=outcome.error[:500],
                    delivered_at=now if settlement.status == DeliveryStatus.DELIVERED else None,
                    finished_at=now if done else None,
                )
            )
            if not took:
                return False
            WebhookAttempt.objects.using(self.using).create(
                delivery_id=delivery.delivery_id,
                attempted_at=now,
                status_code=outcome.status_code,
                error=outcome.error[:500],
                duration_ms=outcome.duration_ms,
                response_excerpt=outcome.response_excerpt[:500],
            )
            endpoint = WebhookEndpoint.objects.using(self.using).filter(pk=delivery.endpoint_id)
            if settlement.status == DeliveryStatus.DELIVERED:
                endpoint.update(consecutive_failures=0, failing_since=None)
            else:
                endpoint.update(consecutive_failures=F("consecutive_failures") + 1)
            if settlement.flag_endpoint:
                endpoint.filter(failing_since__isnull=True).update(failing_since=now)
            if settlement.disable_endpoint:
                disable_endpoint(
                    delivery.endpoint_id, settlement.disable_endpoint, now, using=self.using
                )
        return True

    def count_due(self, now: datetime) -> int:
        return self._deliveries().filter(self._due(now), endpoint__enabled=True).count()


def disable_endpoint(endpoint_id: int, reason: str, now: datetime, using: str = "default") -> None:
    """Disable the endpoint and fail what still waited for it (the log says why); call inside
    a transaction. A tenant re-enables it and redelivers what it wants."""
    WebhookEndpoint.objects.using(using).filter(pk=endpoint_id).update(
        enabled=False, disabled_reason=reason[:200]
    )
    WebhookDelivery.objects.using(using).filter(
        endpoint_id=endpoint_id, status=DeliveryStatus.PENDING
    ).update(
        status=DeliveryStatus.FAILED,
        next_attempt_at=None,
        last_error=ENDPOINT_DISABLED,
        finished_at=now,
    )


@dataclass(frozen=True)
class Pruned:
    deliveries: int
    events: int


def prune_webhook_deliveries(
    now: datetime | None = None, retention_days: int | None = None, *, dry_run: bool = False
) -> Pruned:
    """Delete deliveries finished more than VIDEO_WEBHOOK_RETENTION_DAYS ago (with their
    attempts), then events left with no delivery that are as old. Pending and sending
    deliveries are never touched, whatever their age."""
    now = now or timezone.now()
    days = retention_days or settings.CONFIG.webhooks.retention_days
    cutoff = now - timedelta(days=days)
    deliveries = WebhookDelivery.objects.filter(
        finished_at__lt=cutoff, status__in=(DeliveryStatus.DELIVERED, DeliveryStatus.FAILED)
    )
    events = WebhookEvent.objects.filter(created_at__lt=cutoff)
    if dry_run:
        kept = WebhookDelivery.objects.exclude(pk__in=deliveries.values("pk"))
        n_events = events.exclude(pk__in=kept.values("event_id")).count()
        return Pruned(deliveries.count(), n_events)
    with transaction.atomic():
        n_deliveries = deliveries.count()
        deliveries.delete()
        n_events, _ = events.filter(deliveries__isnull=True).delete()
    return Pruned(n_deliveries, n_events)
