"""GET /metrics: the API process's Prometheus series (all processes' in multiprocess mode)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from src.infrastructure import metrics


@require_GET
def metrics_view(_request: HttpRequest) -> HttpResponse:
    body, content_type = metrics.render()
    return HttpResponse(body, content_type=content_type)
