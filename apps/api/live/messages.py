"""Live events as the JSON messages both streams send (the format in docs/ARCHITECTURE.md).

Every message has `type`, `video_id`, `status` and `timestamp` (when the server sent it);
`progress` adds `percent`, `step` and `updated_at` (when the worker measured it); terminal
messages add the whole video object, as GET /api/v1/videos/{id} returns it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Protocol

from django.core.serializers.json import DjangoJSONEncoder

from apps.api.presenters.videos import assets, video_body
from src.application.live_progress import (
    CANCELED,
    CONNECTED,
    FAILED,
    PROGRESS,
    READY,
    STREAM,
    LiveEvent,
)


class UrlBuilder(Protocol):
    def build_absolute_uri(self, location: str) -> str: ...


def now() -> str:
    return datetime.now(UTC).isoformat()


def message(event: LiveEvent, urls: UrlBuilder) -> dict[str, Any]:
    video, progress = event.video, event.progress
    body: dict[str, Any] = {
        "type": event.type,
        "video_id": video.id,
        "status": str(video.status),
        "timestamp": now(),
    }
    if event.type in (CONNECTED, PROGRESS):
        body.update(percent=progress.percent, step=progress.step)
    if event.type == CONNECTED:
        body["trace_id"] = video.trace_id
    elif event.type == PROGRESS:
        body["updated_at"] = progress.updated_at
    elif event.type == STREAM:
        body.update(mode=event.mode, detail=event.detail)
    elif event.type == READY:
        body.update(percent=100.0, step=progress.step, assets=assets(urls, video))
    elif event.type == FAILED:
        body["error"] = {"code": video.error_code, "message": video.error_message}
    if event.type in (READY, FAILED, CANCELED):
        body["video"] = video_body(urls, video, progress)
    return body


def encode(body: dict[str, Any]) -> str:
    return json.dumps(body, cls=DjangoJSONEncoder, separators=(",", ":"))
