"""The Idempotency-Key records' queries (apps/api/models.py IdempotencyRecord): the claim is a
row insert under the unique (tenant, key, route) constraint; the stored response replays.

The HTTP side (which requests, fingerprints, replays and refusals) is
apps/api/keys/idempotency.py; this module only reads and writes the rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.api.models import IdempotencyRecord

# How long a finished request's response is kept for replays.
RETENTION = timedelta(hours=24)


def insert(tenant_id: int, key: str, route: str, fingerprint: str) -> int | None:
    """Claim the key: the new record's id, or None when the key is already taken."""
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(
                tenant_id=tenant_id, key=key, route=route, fingerprint=fingerprint
            )
    except IntegrityError:
        return None
    return record.pk


def find(tenant_id: int, key: str, route: str) -> IdempotencyRecord | None:
    return IdempotencyRecord.objects.filter(tenant_id=tenant_id, key=key, route=route).first()


def delete(record_id: int) -> None:
    IdempotencyRecord.objects.filter(pk=record_id).delete()


def store_response(
    record_id: int, status: int, content_type: str, location: str, body: bytes
) -> None:
    IdempotencyRecord.objects.filter(pk=record_id).update(
        completed_at=timezone.now(),
        response_status=status,
        response_content_type=content_type[:100],
        response_location=location[:500],
        response_body=body,
    )


def prune(now: datetime | None = None, batch: int = 1000, *, dry_run: bool = False) -> int:
    """Delete records older than RETENTION (in batches); returns how many (with `dry_run`,
    how many would go, deleting nothing)."""
    cutoff = (now or timezone.now()) - RETENTION
    if dry_run:
        return IdempotencyRecord.objects.filter(created_at__lt=cutoff).count()
    deleted = 0
    while True:
        ids = list(
            IdempotencyRecord.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[
                :batch
            ]
        )
        if not ids:
            return deleted
        deleted += IdempotencyRecord.objects.filter(pk__in=ids).delete()[0]
