"""/media/<key>: the API serves published outputs itself when no VIDEO_PUBLIC_BASE_URL is set
(development, the demo, a deployment without a CDN).

Only files of a READY video's published prefix (the folder of its `hls_key`;
src/application/published_media.py) are served: another tenant's path, an unpublished claim's
prefix, a source, or anything else is a 404 problem. HLS content types, single byte ranges
(players and hls.js seek with them), HEAD.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_http_methods

from academy.current import use_cases
from apps.api.http.problems import problem
from src.application.domain import ErrorCode
from src.infrastructure.storage.content_types import content_type

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
# Segments and media playlists of a READY video never change (a new claim writes a new
# prefix): cache them. The master changes when a caption track arrives or goes (rewritten in
# place): caches ask again each time, so a player loading it after a track is READY gets it.
CACHE_CONTROL = "public, max-age=3600"
MASTER_CACHE_CONTROL = "public, no-cache"
MASTER_PLAYLIST = "master.m3u8"  # what every claim writes at its prefix


def _not_found(request: HttpRequest) -> HttpResponse:
    return problem(request, 404, ErrorCode.NOT_FOUND, f"there is nothing at {request.path}")


def _byte_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) of a single `bytes=` range; None when it cannot be satisfied."""
    match = _RANGE.match(header.strip())
    if not match or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":  # the last N bytes
        length = int(last)
        return (max(size - length, 0), size - 1) if length > 0 and size > 0 else None
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    return (start, end) if start <= end and start < size else None


async def _async(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Each piece read in a worker thread: bounded memory, the event loop never blocked."""
    while True:
        chunk = await sync_to_async(next, thread_sensitive=False)(chunks, None)
        if chunk is None:
            return
        yield chunk


@require_http_methods(["GET", "HEAD"])
def serve_media(request: HttpRequest, key: str) -> HttpResponse:
    media = use_cases().media
    if not media.published(key):
        return _not_found(request)
    try:
        size = media.size(key)
    except FileNotFoundError:
        return _not_found(request)
    status, start, end = 200, 0, size - 1
    header = request.headers.get("Range", "")
    if header:
        wanted = _byte_range(header, size)
        if wanted is None:
            response = problem(
                request,
                416,
                ErrorCode.VALIDATION_FAILED,
                f"the range {header!r} cannot be satisfied (the file is {size} bytes)",
            )
            response["Content-Range"] = f"bytes */{size}"
            return response
        status, (start, end) = 206, wanted
    length = max(end - start + 1, 0)
    if request.method == "HEAD" or length == 0:
        response = HttpResponse(status=status)
    else:
        chunks = media.read_range(key, start, end)
        if isinstance(request, ASGIRequest):
            chunks = _async(chunks)  # under ASGI a sync iterator would be read whole first
        response = StreamingHttpResponse(chunks, status=status)
    response["Content-Type"] = content_type(key)
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    is_master = key.rsplit("/", 1)[-1] == MASTER_PLAYLIST
    response["Cache-Control"] = MASTER_CACHE_CONTROL if is_master else CACHE_CONTROL
    if status == 206:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    return response
