"""Reading videos: one video with its live progress, and a tenant's videos page by page."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from src.application.direct_upload import owned_video
from src.application.ports.progress import ProgressPort, TelemetryUnavailable
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


def encode_cursor(video_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{video_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The id a cursor points below; InvalidVideoRequest for anything we did not hand out."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        if not raw.startswith(_CURSOR_PREFIX):
            raise ValueError(raw)
        value = int(raw[len(_CURSOR_PREFIX) :])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidVideoRequest("cursor is not one this API returned") from None
    if value < 1:
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
    def __init__(self, repository: VideoRepository, progress: ProgressPort) -> None:
        self.repository = repository
        self.progress = progress

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
    ) -> VideoPage:
        """Newest first; the cursor is the last id seen, so inserts never shift a page."""
        limit = max(1, min(limit, MAX_PAGE))
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
