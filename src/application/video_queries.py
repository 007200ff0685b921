"""Reading videos: one video with its live progress, and a tenant's videos page by page."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from src.application.direct_upload import owned_video
from src.application.ports.progress import ProgressPort, TelemetryUnavailable
from src.application.ports.transcript_search import (
    MAX_QUERY_LENGTH,
    CueHit,
    SearchQuery,
    TranscriptSearch,
    query_words,
)
from src.application.ports.video_repository import (
    VideoFilter,
    VideoRecord,
    VideoRepository,
    VideoStatus,
)
from src.application.video_errors import InvalidVideoRequest

# Where a progress figure came from: the worker's live Redis record, or the row alone.
FROM_REDIS = "redis"
FROM_DATABASE = "database"

MAX_PAGE = 100
_CURSOR_PREFIX = "v1:"
# A search page's cursor is the rank it starts at (ranks are not ids: nothing else orders them).
_SEARCH_CURSOR_PREFIX = "s1:"

# What the row alone says about progress, for each status.
_ROW_STEP = {
    VideoStatus.AWAITING_UPLOAD: "awaiting_upload",
    VideoStatus.UPLOADED: "queued",
    VideoStatus.PROCESSING: "processing",
    VideoStatus.READY: "ready",
    VideoStatus.FAILED: "failed",
    VideoStatus.CANCELED: "canceled",
}


@dataclass(frozen=True)
class Progress:
    percent: float
    step: str
    source: str
    updated_at: str | None = None


@dataclass(frozen=True)
class VideoView:
    video: VideoRecord
    progress: Progress


@dataclass(frozen=True)
class VideoPage:
    videos: list[VideoRecord]
    next_cursor: str | None
    # With a search: each video's hits, best first (a title match has no start).
    hits: dict[int, list[CueHit]] | None = None


def encode_cursor(video_id: int, prefix: str = _CURSOR_PREFIX) -> str:
    return base64.urlsafe_b64encode(f"{prefix}{video_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str, prefix: str = _CURSOR_PREFIX, minimum: int = 1) -> int:
    """The id a cursor points below; InvalidVideoRequest for anything we did not hand out."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        if not raw.startswith(prefix):
            raise ValueError(raw)
        value = int(raw[len(prefix) :])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidVideoRequest("cursor is not one this API returned") from None
    if value < minimum:
        raise InvalidVideoRequest("cursor is not one this API returned")
    return value


def row_progress(video: VideoRecord) -> Progress:
    percent = 100.0 if video.status == VideoStatus.READY else 0.0
    return Progress(percent, _ROW_STEP[video.status], FROM_DATABASE)


def progress_from_record(record: dict[str, Any] | None) -> Progress:
    """A worker's progress record (the Redis key, or a live event) as a Progress."""
    if not record:
        return Progress(0.0, "starting", FROM_REDIS)
    try:
        percent = max(0.0, min(100.0, float(record.get("percent", 0.0))))
    except (TypeError, ValueError):
        percent = 0.0
    return Progress(
        percent,
        str(record.get("step") or "processing"),
        FROM_REDIS,
        str(record["updated_at"]) if record.get("updated_at") else None,
    )


class VideoQueries:
    def __init__(
        self,
        repository: VideoRepository,
        progress: ProgressPort,
        search: TranscriptSearch | None = None,
    ) -> None:
        self.repository = repository
        self.progress = progress
        self.search = search

    def get(self, tenant_id: int, video_id: int) -> VideoView:
        video = owned_video(self.repository, tenant_id, video_id)
        return VideoView(video, self.live_progress(video))

    def owned(self, tenant_id: int, video_id: int) -> VideoRecord:
        """The tenant's row; VideoNotFound for a missing one and for another tenant's alike."""
        return owned_video(self.repository, tenant_id, video_id)

    def worker_record(self, tenant_id: int, video_id: int) -> dict[str, Any] | None:
        """The worker's raw progress record (Redis), None when there is none;
        TelemetryUnavailable when Redis does not answer (the operators' admin says so)."""
        return self.progress.get_progress(tenant_id, video_id)

    def live_progress(self, video: VideoRecord) -> Progress:
        """The worker's live record while PROCESSING; the row otherwise or when Redis is down."""
        if video.status != VideoStatus.PROCESSING:
            return row_progress(video)
        try:
            record: dict[str, Any] | None = self.progress.get_progress(video.tenant_id, video.id)
        except TelemetryUnavailable:
            return row_progress(video)
        return progress_from_record(record)

    def list(
        self,
        tenant_id: int,
        *,
        limit: int = 50,
        cursor: str | None = None,
        status: VideoStatus | None = None,
        external_id: str | None = None,
        created_after: datetime | None = None,
        q: str | None = None,
    ) -> VideoPage:
        """Newest first; the cursor is the last id seen, so inserts never shift a page. With
        `q`: the videos whose title or transcript matches, best first."""
        limit = max(1, min(limit, MAX_PAGE))
        if q is not None:
            videos = VideoFilter(
                tenant_id=tenant_id,
                limit=limit + 1,
                status=status,
                external_id=external_id,
                created_after=created_after,
            )
            return self._search(q, videos, cursor)
        rows = self.repository.list_videos(
            VideoFilter(
                tenant_id=tenant_id,
                limit=limit + 1,
                status=status,
                external_id=external_id,
                created_after=created_after,
                before_id=decode_cursor(cursor) if cursor else None,
            )
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return VideoPage(rows, encode_cursor(rows[-1].id) if more and rows else None)

    def _search(self, q: str, videos: VideoFilter, cursor: str | None) -> VideoPage:
        words = query_words(q)
        if len(q) > MAX_QUERY_LENGTH or not words:
            raise InvalidVideoRequest(
                f"q needs at least one word (letters or digits), {MAX_QUERY_LENGTH} characters"
                " at most"
            )
        if self.search is None:
            raise InvalidVideoRequest("search is not available here")
        offset = decode_cursor(cursor, _SEARCH_CURSOR_PREFIX, 0) if cursor else 0
        matches = self.search.search(SearchQuery(words, videos, offset))
        limit = videos.limit - 1
        more = len(matches) > limit
        matches = matches[:limit]
        # One query for the page's rows; a video deleted since the search is left out.
        found = self.repository.list_videos(
            replace(videos, limit=limit, ids=tuple(m.video_id for m in matches))
        )
        by_id = {v.id: v for v in found}
        rows, hits = [], {}
        for match in matches:
            video = by_id.get(match.video_id)
            if video is not None:
                rows.append(video)
                hits[video.id] = [
                    replace(h, text=video.title) if h.start is None else h for h in match.hits
                ]
        next_cursor = encode_cursor(offset + limit, _SEARCH_CURSOR_PREFIX) if more else None
        return VideoPage(rows, next_cursor, hits)
