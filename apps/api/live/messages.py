"""Live events as the JSON messages both streams send (the format in docs/ARCHITECTURE.md).

Every message has `type`, `video_id`, `status` and `timestamp` (when the server sent it);
`progress` adds `percent`, `step` and `updated_at` (when the worker measured it); terminal
messages add the whole video object, as GET /api/v1/videos/{id} returns it. `ready` adds
`more` (true: caption messages follow before the stream closes); `captions` adds `captions`
(the tracks as GET …/captions lists them) and `more`; `captions_progress` adds the automatic
track's `percent`, `step` and `updated_at`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Protocol

from django.core.serializers.json import DjangoJSONEncoder

from apps.api.playback.links import caption_body, links_for
from apps.api.presenters.videos import assets, video_body
from src.application.live_progress import (
    CANCELED,
    CAPTIONS,
    CAPTIONS_PROGRESS,
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
    if event.type in (CONNECTED, PROGRESS, CAPTIONS_PROGRESS):
        body.update(percent=progress.percent, step=progress.step)
    if event.type == CONNECTED:
        body["trace_id"] = video.trace_id
    elif event.type in (PROGRESS, CAPTIONS_PROGRESS):
        body["updated_at"] = progress.updated_at
    elif event.type == CAPTIONS:
        links = links_for(urls, video)  # type: ignore[arg-type]  # builds absolute URLs only
        body.update(captions=[caption_body(links, video, t) for t in event.tracks], more=event.more)
    elif event.type == STREAM:
        body.update(mode=event.mode, detail=event.detail)
    elif event.type == READY:
        body.update(percent=100.0, step=progress.step, assets=assets(urls, video), more=event.more)
    elif event.type == FAILED:
        body["error"] = {"code": video.error_code, "message": video.error_message}
    if event.type in (READY, FAILED, CANCELED):
        body["video"] = video_body(urls, video, progress)
    return body


def encode(body: dict[str, Any]) -> str:
    return json.dumps(body, cls=DjangoJSONEncoder, separators=(",", ":"))
