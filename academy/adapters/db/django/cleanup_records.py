"""DjangoCleanupRecords: what cleanup reads and changes in the database, timed by its clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from django.db.models import DateTimeField, ExpressionWrapper
from django.db.models.functions import Now

from academy.adapters.db.django import idempotency_store
from academy.adapters.db.django.webhook_store import prune_webhook_deliveries
from apps.support.video.models import Video
from src.application.ports.cleanup_records import CleanupRecords, OutputRow, SourceRow
from src.application.storage_keys import video_prefix

S = Video.Status
ROWS_PER_QUERY = 500


class DjangoCleanupRecords(CleanupRecords):
    def output_rows(self) -> Iterator[OutputRow]:
        fields = ("id", "tenant_id", "lease_token", "hls_key", "media_salt")
        rows = Video.objects.order_by("id").values_list(*fields)
        for vid, tenant_id, token, hls_key, salt in rows.iterator(chunk_size=ROWS_PER_QUERY):
            yield OutputRow(vid, tenant_id, token, hls_key, media_salt=salt)

    def live_upload_prefixes(self) -> set[str]:
        rows = Video.objects.filter(status=S.AWAITING_UPLOAD, upload_expires_at__gt=Now())
        return {
            f"{video_prefix(tenant_id, vid)}/"
            for vid, tenant_id in rows.values_list("id", "tenant_id").iterator()
        }

    def sources_past_retention(self, days: int, after_id: int, limit: int) -> list[SourceRow]:
        cutoff = ExpressionWrapper(Now() - timedelta(days=days), output_field=DateTimeField())
        rows = (
            Video.objects.filter(
                pk__gt=after_id,
                status=S.READY,
                source_removed_at__isnull=True,
                processing_completed_at__lt=cutoff,
            )
            .exclude(source_key="")
            .order_by("id")
            .values_list("id", "tenant_id", "source_key")[:limit]
        )
        return [SourceRow(vid, tenant_id, key) for vid, tenant_id, key in rows]

    def mark_source_removed(self, row: SourceRow) -> bool:
        return bool(
            Video.objects.filter(
                pk=row.video_id,
                status=S.READY,
                source_key=row.source_key,
                source_removed_at__isnull=True,
            ).update(source_removed_at=Now(), updated_at=Now())
        )

    def unmark_source_removed(self, row: SourceRow) -> None:
        Video.objects.filter(pk=row.video_id, source_removed_at__isnull=False).update(
            source_removed_at=None, updated_at=Now()
        )

    def prune_idempotency_records(self, dry_run: bool) -> int:
        return idempotency_store.prune(dry_run=dry_run)

    def prune_webhook_deliveries(self, dry_run: bool) -> tuple[int, int]:
        pruned = prune_webhook_deliveries(dry_run=dry_run)
        return pruned.deliveries, pruned.events
