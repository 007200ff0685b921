"""A tenant's webhook endpoints and their delivery log: what the API, the admin and
`add_webhook` call. Every query is scoped to the tenant: another tenant's id is not found."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone

from academy.adapters.db.django.webhook_store import disable_endpoint
from apps.support.webhooks.models import (
    URL_MAX_LENGTH,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from src.application.domain.webhooks import DeliveryStatus, VideoEventType
from src.application.video_errors import InvalidVideoRequest, InvalidVideoState, VideoNotFound
from src.infrastructure.webhooks.address_guard import UnsafeWebhookUrl, check_url

SECRET_PREFIX = "whsec_"  # noqa: S105 - the scheme, not a secret
SECRET_BYTES = 32  # Standard Webhooks: 24 to 64 random bytes
MAX_ENDPOINTS_PER_TENANT = 20  # each event makes one delivery per endpoint
DISABLED_BY_TENANT = "disabled by the tenant"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def validate_url(url: str) -> str:
    url = url.strip()
    if len(url) > URL_MAX_LENGTH:
        raise InvalidVideoRequest(f"url must be at most {URL_MAX_LENGTH} characters")
    hooks = settings.CONFIG.webhooks
    try:
        check_url(url, allow_insecure=hooks.allow_insecure, allow_private=hooks.allow_private)
    except UnsafeWebhookUrl as exc:
        raise InvalidVideoRequest(f"url is refused: {exc}") from None
    return url


def validate_event_types(names: list[str] | None) -> list[str]:
    """Every type when none are given; InvalidVideoRequest naming an unknown one."""
    if names is None:
        return [t.value for t in VideoEventType]
    if not names:
        raise InvalidVideoRequest("event_types must name at least one event type")
    try:
        return [t.value for t in VideoEventType.parse(names)]
    except ValueError as exc:
        raise InvalidVideoRequest(str(exc)) from None


@dataclass(frozen=True)
class CreatedEndpoint:
    endpoint: WebhookEndpoint
    secret: str  # shown once


def create_endpoint(
    tenant_id: int,
    url: str,
    event_types: list[str] | None = None,
    *,
    enabled: bool = True,
    description: str = "",
) -> CreatedEndpoint:
    url = validate_url(url)
    types = validate_event_types(event_types)
    with transaction.atomic():
        # Counted under a lock on the tenant's endpoints, so two requests cannot both pass.
        count = len(
            WebhookEndpoint.objects.select_for_update().filter(tenant_id=tenant_id).values("pk")
        )
        if count >= MAX_ENDPOINTS_PER_TENANT:
            raise InvalidVideoState(
                f"a tenant has at most {MAX_ENDPOINTS_PER_TENANT} webhook endpoints; "
                "delete one first"
            )
        secret = new_secret()
        endpoint = WebhookEndpoint.objects.create(
            tenant_id=tenant_id,
            url=url,
            event_types=types,
            enabled=enabled,
            description=description.strip(),
            secret=secret,
        )
    return CreatedEndpoint(endpoint, secret)


def list_endpoints(tenant_id: int) -> list[WebhookEndpoint]:
    return list(WebhookEndpoint.objects.filter(tenant_id=tenant_id).order_by("pk"))


def get_endpoint(tenant_id: int, endpoint_id: int) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.filter(tenant_id=tenant_id, pk=endpoint_id).first()
    if endpoint is None:
        raise VideoNotFound(f"webhook endpoint {endpoint_id} not found")
    return endpoint


def delete_endpoint(tenant_id: int, endpoint_id: int) -> bool:
    """Delete it with its delivery log; False when there was none (idempotent)."""
    deleted, _ = WebhookEndpoint.objects.filter(tenant_id=tenant_id, pk=endpoint_id).delete()
    return bool(deleted)


def set_enabled(tenant_id: int, endpoint_id: int, enabled: bool) -> WebhookEndpoint:
    """Enable (clearing a 410's reason and the failing flag) or disable an endpoint; disabling
    fails the deliveries still waiting for it."""
    with transaction.atomic():
        endpoint = get_endpoint(tenant_id, endpoint_id)
        if enabled:
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
                enabled=True,
                disabled_reason="",
                failing_since=None,
                consecutive_failures=0,
                updated_at=timezone.now(),
            )
        elif endpoint.enabled:
            disable_endpoint(endpoint.pk, DISABLED_BY_TENANT, timezone.now())
    return get_endpoint(tenant_id, endpoint_id)


def list_deliveries(
    tenant_id: int, endpoint_id: int, *, limit: int = 50, before_id: int | None = None
) -> list[WebhookDelivery]:
    """An endpoint's deliveries, newest first, each with its attempts (`log`)."""
    get_endpoint(tenant_id, endpoint_id)
    qs = WebhookDelivery.objects.filter(tenant_id=tenant_id, endpoint_id=endpoint_id)
    if before_id is not None:
        qs = qs.filter(pk__lt=before_id)
    return _with_log(qs.order_by("-pk")[:limit])


def deliveries_for_video(tenant_id: int, video_id: int, limit: int = 100) -> list[WebhookDelivery]:
    """Every delivery of a video's events (the academy page shows them), newest first."""
    qs = WebhookDelivery.objects.filter(tenant_id=tenant_id, video_id=video_id)
    return _with_log(qs.order_by("-pk")[:limit])


def _with_log(qs) -> list[WebhookDelivery]:
    return list(
        qs.select_related("event").prefetch_related(
            Prefetch("log", queryset=WebhookAttempt.objects.order_by("pk"))
        )
    )


def redeliver(tenant_id: int, endpoint_id: int, delivery_id: int) -> WebhookDelivery:
    """Send a delivery again (same webhook-id and body) as soon as a dispatcher is free; it
    gets one more attempt, and the rest of the schedule if that fails early on."""
    with transaction.atomic():
        endpoint = get_endpoint(tenant_id, endpoint_id)
        delivery = (
            WebhookDelivery.objects.select_for_update()
            .filter(tenant_id=tenant_id, endpoint_id=endpoint_id, pk=delivery_id)
            .first()
        )
        if delivery is None:
            raise VideoNotFound(f"delivery {delivery_id} of webhook {endpoint_id} not found")
        if not endpoint.enabled:
            raise InvalidVideoState(
                f"webhook endpoint {endpoint_id} is disabled: enable it before redelivering"
            )
        if delivery.status == DeliveryStatus.SENDING:
            raise InvalidVideoState(f"delivery {delivery_id} is being sent right now")
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.PENDING,
            next_attempt_at=timezone.now(),
            finished_at=None,
            updated_at=timezone.now(),
        )
    return _with_log(WebhookDelivery.objects.filter(pk=delivery_id))[0]
