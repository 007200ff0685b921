"""GET/HEAD /media/{playback_id}/{path}: a READY video's published files, by playback id.

`path` is any file below the folder of the video's `hls_key` (playlists, segments, captions,
the thumbnail). A signed video needs `?token=` (apps/api/playback/links.py); a public one
nothing. Every refusal is the same 403 problem, whatever failed: no or a bad, expired,
revoked-key or other video's token, an unknown or rotated playback id, a video not READY, an
odd path. The cause goes to the log (PLAYBACK_REFUSED), never the token. Every file but the
master is cached for 5 minutes; the master, rewritten in place when a caption track arrives
or goes, is `no-cache` (revalidated on every load).

Playlists are rewritten for the caller (src/infrastructure/playback/playlists.py): every URI
in them carries the token, or is a CloudFront signed URL when VIDEO_PUBLIC_BASE_URL is a CDN
(for outputs of the opaque `media/…` layout only: their keys name no id), so a player needs
nothing but the master URL. Other files stream with single byte ranges.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from urllib.parse import quote

import structlog
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_http_methods

from academy.current import use_cases
from apps.api.http.problems import problem
from apps.api.playback import signing_keys
from apps.api.playback.links import api_token_key
from src.application.domain import ErrorCode, PlaybackPolicy
from src.application.domain.playback import is_playback_id
from src.application.ports.video_repository import VideoRecord
from src.application.published_media import PublishedMedia
from src.application.storage_keys import is_media_key
from src.infrastructure.playback import playlists
from src.infrastructure.playback.cloudfront import CloudFrontUrlSigner
from src.infrastructure.playback.tokens import (
    AUDIENCE_THUMBNAIL,
    AUDIENCE_VIDEO,
    Grant,
    TokenRefused,
    verify,
)
from src.infrastructure.storage.content_types import content_type

log = structlog.get_logger("apps.api")

# Output folders hold names like `720p/segment_00001.ts`: a segment never starts with a dot
# and none is empty, so `.`, `..`, `//`, `....//` and decoded `%2e`/`%2f` tricks all fail here.
_NAME = r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}"
_RELATIVE_PATH = re.compile(rf"^(?:{_NAME}/){{0,4}}{_NAME}$")
# 19 digits: any size S3 or a disk can hold; thousands of digits are no range.
_RANGE = re.compile(r"^bytes=(\d{0,19})-(\d{0,19})$")
PLAYLIST_SUFFIX = ".m3u8"
CDN_PAUSE_MARGIN_SECONDS = 30 * 60
REFUSAL_DETAIL = "this playback URL is not valid now: ask the academy for a new one"
# Public files of a READY video never change (a new claim writes a new folder); a rotated
# playback id is another URL, so what a shared cache holds is reachable only by the old URL
# for this long.
PUBLIC_CACHE = "public, max-age=300"
# A signed video's responses are for this viewer's browser only: no shared cache keeps them.
PRIVATE_CACHE = "private, max-age=300"
# The master is the one file rewritten in place: when a caption track turns READY, is
# replaced or deleted (src/application/subtitle_master.py). `no-cache` lets a cache keep it
# but ask again each time, so a player loading the master after a track is READY gets it.
PUBLIC_MASTER_CACHE = "public, no-cache"
PRIVATE_MASTER_CACHE = "private, no-cache"


def refused(request: HttpRequest, reason: str) -> HttpResponse:
    log.info("PLAYBACK_REFUSED", reason=reason, path_chars=len(request.path))
    response = problem(request, 403, ErrorCode.PLAYBACK_DENIED, REFUSAL_DETAIL)
    response["Cache-Control"] = "no-store"
    return response


def _audience(video: VideoRecord, path: str) -> str:
    thumbnail = posixpath.basename(video.thumbnail_key) if video.thumbnail_key else None
    return AUDIENCE_THUMBNAIL if path == thumbnail else AUDIENCE_VIDEO


def check(video: VideoRecord | None, path: str, token: str) -> Grant | str | None:
    """None or the grant when the request may have the file; the refusal's reason otherwise."""
    if video is None:
        return "unknown playback id"
    if not PublishedMedia.published(video):
        return f"video is {video.status}"
    if video.playback_policy == PlaybackPolicy.PUBLIC:
        return None
    try:
        grant = verify(
            token, video.playback_id, _audience(video, path), api_token_key(), signing_keys.lookup
        )
    except TokenRefused as exc:
        return f"token refused: {exc}"
    if grant.key_tenant_id is not None and grant.key_tenant_id != video.tenant_id:
        return "signing key of another tenant"
    return grant


@lru_cache(maxsize=2)
def _cdn_signer(key_pair_id: str, private_key_pem: str) -> CloudFrontUrlSigner:
    return CloudFrontUrlSigner(key_pair_id, private_key_pem)


@require_http_methods(["GET", "HEAD"])
def serve_playback(request: HttpRequest, rest: str) -> HttpResponse:
    playback_id, _, path = rest.partition("/")
    if not is_playback_id(playback_id) or not _RELATIVE_PATH.match(path):
        return refused(request, "malformed playback path")
    token = request.GET.get("token", "")
    media = use_cases().media
    video = media.video(playback_id)
    outcome = check(video, path, token)
    if isinstance(outcome, str):
        return refused(request, outcome)
    assert video is not None
    structlog.contextvars.bind_contextvars(video_id=video.id, tenant_id=video.tenant_id)
    if outcome is not None and outcome.viewer:
        structlog.contextvars.bind_contextvars(viewer=outcome.viewer)
    key = media.key(video, path)
    if path == posixpath.basename(video.hls_key):
        cache = PUBLIC_MASTER_CACHE if outcome is None else PRIVATE_MASTER_CACHE
    else:
        cache = PUBLIC_CACHE if outcome is None else PRIVATE_CACHE
    try:
        if path.endswith(PLAYLIST_SUFFIX):
            return _playlist(request, media, video, key, path, token, outcome, cache)
        return _file(request, media, key, cache)
    except FileNotFoundError:
        return problem(request, 404, ErrorCode.NOT_FOUND, "this video has no such file")


def _playlist(
    request: HttpRequest,
    media: PublishedMedia,
    video: VideoRecord,
    key: str,
    path: str,
    token: str,
    grant: Grant | None,
    cache: str,
) -> HttpResponse:
    text = b"".join(media.read_range(key, 0, media.size(key) - 1)).decode("utf-8")
    folder = posixpath.dirname(video.hls_key)
    config = settings.CONFIG
    # Only outputs of the opaque layout (media/{video}/{claim}/) go to the CDN: a folder of
    # the legacy layout names the tenant, the video and the claim, and stays behind the API.
    cdn = config.public_base_url if is_media_key(folder) else ""
    cdn_query = ""
    if cdn and config.playback.cloudfront_key_pair_id:
        # The distribution requires signed URLs for every segment (one behaviour cannot tell
        # public videos from signed ones), so public videos' are signed too. A player fetches
        # a VOD playlist once and its segments for as long as the video lasts: the signature
        # outlives the token (and a shared cache's copy of a public playlist) by the video's
        # length plus a margin for pauses, or a lecture would stop at the token's end.
        signer = _cdn_signer(
            config.playback.cloudfront_key_pair_id, config.playback.cloudfront_private_key
        )
        watch = timedelta(seconds=(video.duration_seconds or 0) + CDN_PAUSE_MARGIN_SECONDS)
        expires = datetime.now(UTC) + watch
        if grant is not None:
            expires = max(expires, datetime.fromtimestamp(grant.expires_at, UTC))
        cdn_query = signer.prefix_query(f"{cdn}/{folder}/", expires)
    query = f"?token={quote(token, safe='')}" if grant is not None else ""

    def uri_for(written: str, resolved: str) -> str:
        if resolved.endswith(PLAYLIST_SUFFIX) or not cdn:
            return f"{written}{query}"  # relative: resolved by the player against this URL
        if cdn_query:
            return f"{cdn}/{folder}/{resolved}?{cdn_query}"
        # A CDN without a signing key serves public videos only; signed ones stay here.
        return f"{written}{query}" if grant is not None else f"{cdn}/{folder}/{resolved}"

    body = playlists.rewrite(text, path, uri_for).encode("utf-8")
    response = HttpResponse(b"" if request.method == "HEAD" else body, status=200)
    response["Content-Type"] = content_type(key)
    response["Content-Length"] = str(len(body))
    response["Cache-Control"] = cache
    return response


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


def _file(request: HttpRequest, media: PublishedMedia, key: str, cache: str) -> HttpResponse:
    size = media.size(key)
    status, start, end = 200, 0, size - 1
    header = request.headers.get("Range", "")
    if header:
        wanted = _byte_range(header, size)
        if wanted is None:
            response = problem(
                request,
                416,
                ErrorCode.VALIDATION_FAILED,
                f"the Range header cannot be satisfied: one range of bytes=FIRST-LAST "
                f"within the file's {size} bytes is",
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
    response["Cache-Control"] = cache
    if status == 206:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    return response
