"""Refuse oversized request bodies before they are read: an ASGI wrapper around Django.

Django's ASGI handler reads a whole body (to a temporary file past 1 MiB) before any view
runs, so a view can only refuse too many bytes after they all arrived. This wrapper answers
413 at once when `Content-Length` is above the route's limit, and stops reading a body sent
without one (chunked) as soon as it passes the limit. Source uploads (PUT .../source and
multipart POST /videos) may carry up to VIDEO_MAX_SOURCE_BYTES; every other body 1 MiB. The
size a video declared at creation is checked by the view, which streams to storage.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from apps.api.http.problems import CONTENT_TYPE, problem_body
from apps.api.http.trace import RESPONSE_HEADER, trace_id_from
from src.application.domain import ErrorCode

log = structlog.get_logger("apps.api")

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_LIMIT = 1024 * 1024  # JSON and forms: settings.DATA_UPLOAD_MAX_MEMORY_SIZE
# Multipart framing around the file: boundaries and the few small form fields.
FORM_OVERHEAD = 64 * 1024
_SOURCE_PUT = re.compile(r"^/api/v1/videos/\d+/source/?$")
_CREATE = re.compile(r"^/api/v1/videos/?$")
_CAPTIONS = re.compile(r"^/api/v1/videos/\d+/captions/?$")


class _BodyTooLarge(Exception):
    pass


def limit_for(
    method: str, path: str, max_source_bytes: int, max_caption_bytes: int = DEFAULT_LIMIT
) -> int:
    if method == "POST" and _CAPTIONS.match(path):
        return max_caption_bytes + FORM_OVERHEAD  # an SRT/WebVTT upload
    if method == "PUT" and _SOURCE_PUT.match(path):
        return max_source_bytes
    if method == "POST" and _CREATE.match(path):
        return max_source_bytes + FORM_OVERHEAD  # the one-request multipart upload
    return DEFAULT_LIMIT


class BodyLimitMiddleware:
    def __init__(
        self, app: ASGIApp, max_source_bytes: int, max_caption_bytes: int = DEFAULT_LIMIT
    ) -> None:
        self.app = app
        self.max_source_bytes = max_source_bytes
        self.max_caption_bytes = max_caption_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(
            scope["method"], scope["path"], self.max_source_bytes, self.max_caption_bytes
        )
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, headers, send, limit, f"Content-Length is {declared}")
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
            return message

        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except _BodyTooLarge:
            if not started:
                await self._refuse(scope, headers, send, limit, f"more than {limit} bytes came")

    async def _refuse(
        self, scope: Scope, headers: dict[str, str], send: Send, limit: int, what: str
    ) -> None:
        trace_id = trace_id_from(
            {
                "traceparent": headers.get("traceparent", ""),
                "X-Request-ID": headers.get("x-request-id", ""),
            }
        )
        detail = (
            f"the body is too large for {scope['method']} {scope['path']}: {what}, "
            f"the limit is {limit} bytes"
        )
        body = json.dumps(
            problem_body(413, ErrorCode.PAYLOAD_TOO_LARGE, detail, trace_id=trace_id)
        ).encode()
        log.warning(
            "API_REQUEST",
            method=scope["method"],
            path=scope["path"],
            status=413,
            trace_id=trace_id,
            refused="body_too_large",
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", CONTENT_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (RESPONSE_HEADER.lower().encode(), trace_id.encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
