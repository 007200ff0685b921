"""What the video page lists of a video's webhook deliveries: the API's delivery bodies
(`GET /api/v1/videos/{id}/webhook-deliveries`) with each endpoint's URL and the moment that
matters for its status. `static/web/js/deliveries.js` builds the same rows from the API."""

from __future__ import annotations

from typing import Any

from apps.api.presenters.webhooks import delivery_body
from apps.support.webhooks import endpoints
from src.application.domain.webhooks import DeliveryStatus

LABELS = {
    DeliveryStatus.PENDING: "Pending",
    DeliveryStatus.SENDING: "Sending",
    DeliveryStatus.DELIVERED: "Delivered",
    DeliveryStatus.FAILED: "Failed",
}
# A delivery in one of these may still change: the page looks again for a while.
WAITING = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)


def _when(body: dict[str, Any]) -> tuple[str, Any]:
    """The time a row shows and what it means: the next try, the delivery, the last try."""
    status = body["status"]
    if status == DeliveryStatus.PENDING:
        return "Next try", body["next_attempt_at"]
    if status == DeliveryStatus.DELIVERED:
        return "Delivered", body["delivered_at"]
    if status == DeliveryStatus.FAILED and body["log"]:
        return "Last try", body["log"][-1]["attempted_at"]
    return "", None


def video_deliveries(tenant_id: int, video_id: int) -> dict[str, Any]:
    """The rows of the page's table, whether any is still waiting, and whether the tenant has
    an endpoint at all (the empty table says which: no endpoint, or nothing sent yet)."""
    urls = {e.pk: e.url for e in endpoints.list_endpoints(tenant_id)}
    rows = []
    for delivery in endpoints.deliveries_for_video(tenant_id, video_id):
        body = delivery_body(delivery)
        when_label, when = _when(body)
        rows.append(
            {
                **body,
                "url": urls.get(body["webhook_id"], ""),
                "status_label": LABELS.get(body["status"], body["status"]),
                "when_label": when_label,
                "when": when,
            }
        )
    return {
        "rows": rows,
        "waiting": any(r["status"] in WAITING for r in rows),
        "has_endpoints": bool(urls),
    }
