"""DjangoVideoEventOutbox: the event row and its deliveries, in the caller's transaction."""

from __future__ import annotations

from django.db import connections

from apps.support.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from src.application.domain.webhooks import DeliveryStatus, VideoEventType, new_event_id
from src.application.ports.captions import CaptionTrackRecord
from src.application.ports.video_events import (
    EVENT_FOR_STATUS,
    VideoEvent,
    VideoEventOutbox,
    from_snapshot,
    snapshot,
    track_from_snapshot,
)
from src.application.ports.video_repository import VideoRecord


class DjangoVideoEventOutbox(VideoEventOutbox):
    def __init__(self, using: str = "default") -> None:
        self.using = using

    def record(
        self,
        video: VideoRecord,
        event_type: VideoEventType | None = None,
        track: CaptionTrackRecord | None = None,
    ) -> VideoEvent | None:
        event_type = event_type or EVENT_FOR_STATUS.get(video.status)
        if event_type is None:
            return None
        if not connections[self.using].in_atomic_block:
            raise RuntimeError("an event is recorded inside the transaction of its change")
        row = WebhookEvent.objects.using(self.using).create(
            message_id=new_event_id(),
            tenant_id=video.tenant_id,
            video_id=video.id,
            type=event_type,
            occurred_at=video.updated_at,
            video=snapshot(video),
            track=snapshot(track) if track is not None else None,
        )
        # A tenant has a handful of endpoints: filtering them here works on every database.
        endpoints = [
            e.pk
            for e in WebhookEndpoint.objects.using(self.using).filter(
                tenant_id=video.tenant_id, enabled=True
            )
            if event_type in e.event_types
        ]
        WebhookDelivery.objects.using(self.using).bulk_create(
            WebhookDelivery(
                event=row,
                endpoint_id=endpoint_id,
                tenant_id=video.tenant_id,
                video_id=video.id,
                status=DeliveryStatus.PENDING,
                next_attempt_at=video.updated_at,
            )
            for endpoint_id in endpoints
        )
        return to_event(row)

    def for_video(self, video_id: int) -> list[VideoEvent]:
        rows = WebhookEvent.objects.using(self.using).filter(video_id=video_id).order_by("pk")
        return [to_event(r) for r in rows]


def to_event(row: WebhookEvent) -> VideoEvent:
    return VideoEvent(
        id=row.message_id,
        type=VideoEventType(row.type),
        video_id=row.video_id,
        tenant_id=row.tenant_id,
        occurred_at=row.occurred_at,
        video=from_snapshot(row.video),
        track=track_from_snapshot(row.track) if row.track else None,
    )
