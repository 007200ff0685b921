"""Request and response shapes of /api/v1/webhooks (the delivery log included)."""

from __future__ import annotations

from datetime import datetime

from ninja import Schema
from pydantic import Field

from apps.api.schemas.videos import CaptionTrackOut, StrictSchema, VideoOut
from apps.support.webhooks.models import URL_MAX_LENGTH
from src.application.domain.webhooks import DeliveryStatus, VideoEventType


class CreateWebhookIn(StrictSchema):
    url: str = Field(min_length=1, max_length=URL_MAX_LENGTH)
    event_types: list[VideoEventType] | None = Field(
        default=None, min_length=1, description="omitted: every event type"
    )
    enabled: bool = True
    description: str = Field(default="", max_length=200)


class UpdateWebhookIn(StrictSchema):
    enabled: bool


class WebhookOut(Schema):
    id: int
    url: str
    description: str
    event_types: list[VideoEventType]
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None = Field(
        description="set when a delivery used up every retry; cleared by the next success"
    )
    consecutive_failures: int
    created_at: datetime


class CreatedWebhookOut(WebhookOut):
    secret: str = Field(description="whsec_…: shown once; verify signatures with it")


class WebhookListOut(Schema):
    items: list[WebhookOut]


class AttemptOut(Schema):
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int
    response_excerpt: str | None


class DeliveryOut(Schema):
    id: int
    webhook_id: int
    event_id: str = Field(description="the webhook-id header: the same on every retry")
    event_type: VideoEventType
    video_id: int
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime
    log: list[AttemptOut]


class DeliveryListOut(Schema):
    items: list[DeliveryOut]
    next_cursor: str | None


# -- payloads (`data`; a plain video event's is VideoOut) -------------------------------------
class CaptionEventVideoOut(VideoOut):
    """`data` of `video.captions.ready` and `video.captions.failed`: the video, and the track
    the event is about, as the change left them."""

    track: CaptionTrackOut = Field(
        description="the automatic track: as GET /videos/{id}/captions lists it; `error` "
        "when it failed, `vtt_url` only for a READY track of a public video"
    )
