"""/api/v1/webhooks: a tenant's endpoints (create, list, read, enable/disable, delete), each
endpoint's delivery log with redelivery, and the deliveries of one video."""

from __future__ import annotations

import structlog
from django.http import HttpRequest, HttpResponse
from ninja import Path, Query, Router

from academy.current import use_cases
from apps.api.presenters.webhooks import delivery_body, webhook_body
from apps.api.routers.videos import ERRORS, VideoId
from apps.api.schemas.videos import MAX_ID
from apps.api.schemas.webhooks import (
    CreatedWebhookOut,
    CreateWebhookIn,
    DeliveryListOut,
    DeliveryOut,
    UpdateWebhookIn,
    WebhookListOut,
    WebhookOut,
)
from apps.support.webhooks import endpoints
from src.application.video_queries import decode_cursor, encode_cursor

router = Router(tags=["webhooks"])
log = structlog.get_logger("apps.api")

WebhookId = Path(..., ge=1, le=MAX_ID, description="the webhook endpoint's id")
DeliveryId = Path(..., ge=1, le=MAX_ID, description="the delivery's id")
MAX_DELIVERY_PAGE = 100


@router.post(
    "/webhooks",
    response={201: CreatedWebhookOut, **ERRORS},
    summary="Add a webhook endpoint; its whsec_ secret is in this response only",
)
def create_webhook(request: HttpRequest, response: HttpResponse, payload: CreateWebhookIn):
    created = endpoints.create_endpoint(
        request.auth.tenant_id,
        payload.url,
        [str(t) for t in payload.event_types] if payload.event_types is not None else None,
        enabled=payload.enabled,
        description=payload.description,
    )
    log.info("WEBHOOK_ENDPOINT_CREATED", webhook_endpoint_id=created.endpoint.pk)
    response["Location"] = f"/api/v1/webhooks/{created.endpoint.pk}"
    return 201, {**webhook_body(created.endpoint), "secret": created.secret}


@router.get("/webhooks", response={200: WebhookListOut, **ERRORS}, summary="The endpoints")
def list_webhooks(request: HttpRequest):
    items = [webhook_body(e) for e in endpoints.list_endpoints(request.auth.tenant_id)]
    return 200, {"items": items}


@router.get("/webhooks/{webhook_id}", response={200: WebhookOut, **ERRORS}, summary="One")
def get_webhook(request: HttpRequest, webhook_id: int = WebhookId):
    return 200, webhook_body(endpoints.get_endpoint(request.auth.tenant_id, webhook_id))


@router.patch(
    "/webhooks/{webhook_id}",
    response={200: WebhookOut, **ERRORS},
    summary="Enable or disable (enabling clears a 410's disable and the failing flag)",
)
def update_webhook(request: HttpRequest, payload: UpdateWebhookIn, webhook_id: int = WebhookId):
    endpoint = endpoints.set_enabled(request.auth.tenant_id, webhook_id, payload.enabled)
    log.info("WEBHOOK_ENDPOINT_UPDATED", webhook_endpoint_id=webhook_id, enabled=payload.enabled)
    return 200, webhook_body(endpoint)


@router.delete(
    "/webhooks/{webhook_id}",
    response={204: None, **ERRORS},
    summary="Delete an endpoint and its delivery log (idempotent)",
)
def delete_webhook(request: HttpRequest, webhook_id: int = WebhookId):
    deleted = endpoints.delete_endpoint(request.auth.tenant_id, webhook_id)
    log.info(
        "WEBHOOK_ENDPOINT_DELETED" if deleted else "WEBHOOK_DELETE_NOTHING",
        webhook_endpoint_id=webhook_id,
    )
    return 204, None


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    response={200: DeliveryListOut, **ERRORS},
    summary="The endpoint's deliveries, newest first: attempts, status codes, next retry",
)
def list_deliveries(
    request: HttpRequest,
    webhook_id: int = WebhookId,
    cursor: str | None = Query(None, max_length=64),
    limit: int = Query(50, ge=1, le=MAX_DELIVERY_PAGE),
):
    rows = endpoints.list_deliveries(
        request.auth.tenant_id,
        webhook_id,
        limit=limit + 1,
        before_id=decode_cursor(cursor) if cursor else None,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return 200, {
        "items": [delivery_body(d) for d in rows],
        "next_cursor": encode_cursor(rows[-1].pk) if more and rows else None,
    }


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
    response={202: DeliveryOut, **ERRORS},
    summary="Send a delivery again (same webhook-id and body)",
)
def redeliver(request: HttpRequest, webhook_id: int = WebhookId, delivery_id: int = DeliveryId):
    delivery = endpoints.redeliver(request.auth.tenant_id, webhook_id, delivery_id)
    log.info("WEBHOOK_REDELIVER_REQUESTED", webhook_endpoint_id=webhook_id, delivery_id=delivery_id)
    return 202, delivery_body(delivery)


@router.get(
    "/videos/{video_id}/webhook-deliveries",
    response={200: DeliveryListOut, **ERRORS},
    summary="Every webhook delivery of the video's events, newest first",
)
def video_deliveries(request: HttpRequest, video_id: int = VideoId):
    """404 for a missing video and for another tenant's alike, as every video route."""
    use_cases().queries.owned(request.auth.tenant_id, video_id)
    rows = endpoints.deliveries_for_video(request.auth.tenant_id, video_id)
    return 200, {"items": [delivery_body(d) for d in rows], "next_cursor": None}
