"""Webhook endpoints and deliveries to response bodies (the API's and the video page's)."""

from __future__ import annotations

from apps.support.webhooks.models import WebhookDelivery, WebhookEndpoint


def webhook_body(endpoint: WebhookEndpoint) -> dict:
    return {
        "id": endpoint.pk,
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": list(endpoint.event_types),
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason or None,
        "failing_since": endpoint.failing_since,
        "consecutive_failures": endpoint.consecutive_failures,
        "created_at": endpoint.created_at,
    }


def delivery_body(delivery: WebhookDelivery) -> dict:
    return {
        "id": delivery.pk,
        "webhook_id": delivery.endpoint_id,
        "event_id": delivery.event.message_id,
        "event_type": delivery.event.type,
        "video_id": delivery.video_id,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error or None,
        "next_attempt_at": delivery.next_attempt_at if delivery.status == "PENDING" else None,
        "delivered_at": delivery.delivered_at,
        "created_at": delivery.created_at,
        "log": [
            {
                "attempted_at": a.attempted_at,
                "status_code": a.status_code,
                "error": a.error or None,
                "duration_ms": a.duration_ms,
                "response_excerpt": a.response_excerpt or None,
            }
            for a in delivery.log.all()
        ],
    }
