"""`GET /api/v1/videos/{id}/events`: the same live stream as Server-Sent Events.

Each message is `id: <n>`, `event: <type>` and `data: <the JSON message>`; quiet spells get a
comment line so proxies keep the connection. The stream ends after its last event: the
terminal `failed` or `canceled`, `ready` unless it says `more` (an automatic caption track is
to come), else the `captions` event without `more`. An EventSource should close itself then
(one that reconnects gets the terminal event again at once; one that wants only the video may
close on `ready`). Refusals are problem+json, before any event.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import structlog
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from apps.api.http.problems import problem
from apps.api.live.access import StreamRefused, not_found
from apps.api.live.messages import encode, message
from apps.api.live.service import open_stream
from src.application.domain import ErrorCode
from src.application.live_progress import IDLE, LiveEvent
from src.application.video_errors import VideoNotFound

log = structlog.get_logger("apps.api.live")

CONTENT_TYPE = "text/event-stream"
# How long an EventSource waits before reconnecting after a dropped connection.
RECONNECT_MILLISECONDS = 3000


def _refused(request: HttpRequest, refused: StreamRefused) -> HttpResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="api"'} if refused.status == 401 else None
    return problem(request, refused.status, refused.code, refused.message, headers=headers)


async def video_events(request: HttpRequest, video_id: int) -> HttpResponse:
    if request.method != "GET":
        return problem(
            request,
            405,
            ErrorCode.METHOD_NOT_ALLOWED,
            f"{request.method} is not allowed on {request.path}",
            headers={"Allow": "GET"},
        )
    headers = {name.lower(): value for name, value in request.headers.items()}
    try:
        stream = await open_stream(video_id, request.GET.get("token", ""), headers)
    except StreamRefused as refused:
        log.info("LIVE_STREAM_REFUSED", video_id=video_id, status=refused.status)
        return _refused(request, refused)
    log.info("LIVE_STREAM_OPENED", transport="sse", video_id=video_id, tenant_id=stream.tenant_id)
    response = StreamingHttpResponse(
        _stream(request, stream.first, stream.events, video_id), content_type=CONTENT_TYPE
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


def _frame(number: int, body: dict) -> str:
    return f"id: {number}\nevent: {body['type']}\ndata: {encode(body)}\n\n"


async def _stream(
    request: HttpRequest, first: LiveEvent, events: AsyncIterator[LiveEvent], video_id: int
) -> AsyncIterator[str]:
    yield f"retry: {RECONNECT_MILLISECONDS}\n\n"
    number = 0
    event = first
    try:
        while True:
            if event.type == IDLE:
                yield ": idle\n\n"
            else:
                number += 1
                yield _frame(number, message(event, request))
            if event.last:
                log.info("LIVE_STREAM_ENDED", video_id=video_id, last=event.type)
                return
            try:
                event = await anext(events)
            except VideoNotFound:
                refused = not_found(video_id, f"video {video_id} was deleted")
                body = {"type": "error", "video_id": video_id, "code": str(refused.code)}
                yield _frame(number + 1, {**body, "detail": refused.message})
                return
    finally:
        await events.aclose()
