"""Webhook endpoints, the event outbox and its deliveries (one per event and endpoint).

WebhookEvent rows are written by the video repository in the transaction of the change they
describe; WebhookDelivery rows are made in that same transaction, one for each enabled
endpoint of the tenant subscribed to the event's type. The dispatcher only ever reads and
updates deliveries, so a lost dispatcher loses nothing: the rows wait for the next one.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from apps.support.video.models import Tenant
from src.application.domain.webhooks import DeliveryStatus, VideoEventType

URL_MAX_LENGTH = 2000


class WebhookEndpoint(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=URL_MAX_LENGTH)
    description = models.CharField(max_length=200, blank=True, default="")
    # The event types it receives (VideoEventType values); never empty.
    event_types = models.JSONField(default=list)
    enabled = models.BooleanField(default=True)
    # `whsec_` + base64 of 32 random bytes: the HMAC key the receiver verifies with. Shown
    # once, when created; kept here because signing needs the key itself.
    secret = models.CharField(max_length=100)
    # Set when a delivery used up every retry; cleared by the next successful delivery.
    failing_since = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    # Why it was disabled by the system (410 Gone), if it was.
    disabled_reason = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "enabled"], name="webhook_endpoint_tenant_idx")]

    def __str__(self) -> str:
        return f"webhook {self.pk} → {self.url}"


class WebhookEvent(models.Model):
    """The outbox: one row per event, with the video as the change left it."""

    # `webhook-id`: the same for every endpoint and every retry, so receivers can dedupe.
    message_id = models.CharField(max_length=40, unique=True)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="webhook_events")
    # Not a foreign key: the event (and its delivery log) outlives a deleted video.
    video_id = models.BigIntegerField(db_index=True)
    type = models.CharField(max_length=32, choices=[(t.value, t.value) for t in VideoEventType])
    occurred_at = models.DateTimeField()
    video = models.JSONField()  # VideoRecord snapshot (src.application.ports.video_events)
    # A caption event's track as the change left it (CaptionTrackRecord snapshot); null else.
    track = models.JSONField(null=True, blank=True)
    # The exact body sent, rendered once at the first send so every retry is byte-identical.
    body = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.type} video {self.video_id} ({self.message_id})"


class WebhookDelivery(models.Model):
    Status = models.TextChoices("Status", [(s.name, s.value) for s in DeliveryStatus])

    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    # Copied from the event so the per-video and per-endpoint logs are one indexed scan.
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    video_id = models.BigIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # A dispatcher's claim: who, until when, and a token that fences its result.
    locked_by = models.CharField(max_length=128, blank=True, default="")
    locked_until = models.DateTimeField(null=True, blank=True)
    lock_token = models.BigIntegerField(default=0)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")
    delivered_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        indexes = [
            # The dispatcher: "PENDING rows due now, oldest first" is a range scan.
            models.Index(
                fields=["next_attempt_at"],
                name="webhook_delivery_due_idx",
                condition=Q(status=DeliveryStatus.PENDING),
            ),
            # A claim that outlived its lock (the dispatcher died mid-send).
            models.Index(
                fields=["locked_until"],
                name="webhook_delivery_stuck_idx",
                condition=Q(status=DeliveryStatus.SENDING),
            ),
            models.Index(fields=["endpoint", "-id"], name="webhook_delivery_endpoint_idx"),
            models.Index(fields=["tenant", "video_id"], name="webhook_delivery_video_idx"),
            # Retention: finished rows by age.
            models.Index(
                fields=["finished_at"],
                name="webhook_delivery_finished_idx",
                condition=Q(finished_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} (event {self.event_id} → endpoint {self.endpoint_id})"


class WebhookAttempt(models.Model):
    """One HTTP attempt of a delivery: what the endpoint answered, or why nothing did."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="log")
    attempted_at = models.DateTimeField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True, default="")
    duration_ms = models.PositiveIntegerField(default=0)
    # The start of the receiver's answer, for the tenant's debugging (never followed).
    response_excerpt = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["delivery", "id"], name="webhook_attempt_delivery_idx")]
