"""The ASGI body guard: oversized bodies are refused before (or while) they are read."""

from __future__ import annotations

import asyncio
import json

from apps.api.http.body_limits import DEFAULT_LIMIT, BodyLimitMiddleware

SOURCE_LIMIT = 1000


async def reads_everything(scope, receive, send):
    """Like Django's ASGI handler: the whole body first, then the response."""
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


def call(method: str, path: str, chunks: list[bytes], content_length: int | None = None):
    sent: list[dict] = []
    pending = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    reads = []

    async def receive():
        reads.append(1)
        return pending.pop(0)

    async def send(message):
        sent.append(message)

    headers = [(b"x-request-id", b"req-413")]
    if content_length is not None:
        headers.append((b"content-length", str(content_length).encode()))
    scope = {"type": "http", "method": method, "path": path, "headers": headers}
    app = BodyLimitMiddleware(reads_everything, max_source_bytes=SOURCE_LIMIT)
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], sent[-1]["body"], len(reads)


def test_a_declared_length_over_the_limit_is_refused_unread():
    status, body, reads = call("PUT", "/api/v1/videos/5/source", [b"x"], SOURCE_LIMIT + 1)
    assert (status, reads) == (413, 0)
    problem = json.loads(body)
    assert (problem["code"], problem["trace_id"]) == ("PAYLOAD_TOO_LARGE", "req-413")


def test_a_chunked_body_is_cut_off_at_the_limit():
    chunks = [b"x" * 400] * 5  # 2000 bytes, no Content-Length
    status, _body, reads = call("PUT", "/api/v1/videos/5/source", chunks)
    assert status == 413
    assert reads == 3  # stopped at the chunk that passed 1000 bytes, the rest never read


def test_bodies_within_the_limit_pass():
    status, body, _ = call("PUT", "/api/v1/videos/5/source", [b"x" * 600, b"y" * 400], 1000)
    assert (status, body) == (200, b"1000")


def test_json_routes_have_the_small_limit():
    status, _body, reads = call(
        "POST", "/api/v1/videos/5/upload-complete", [b"{}"], DEFAULT_LIMIT + 1
    )
    assert (status, reads) == (413, 0)
    status, _body, _ = call("POST", "/api/v1/videos", [b"x"], SOURCE_LIMIT)  # multipart create
    assert status == 200
