"""Announce status changes to live followers after the write that made them.

`StatusAnnouncingRepository` wraps any VideoRepository: each write that took effect and
changed a video's status (claim, the fenced complete and fail, release, cancel, retry,
reclaim, upload confirmed or expired, delete) is followed by `ProgressPort.publish_status`,
which never raises and never waits long. The write comes first, so an announcement is never
sent for a change that did not happen; a lost one is made up by the streams' own re-reads.
"""

from __future__ import annotations

from typing import Any

from src.application.domain import ErrorCode, Lease, VideoStatus, fail_outcome
from src.application.ports.progress import ProgressPort
from src.application.ports.video_repository import (
    NewUpload,
    ProcessingRow,
    SourceKeyFor,
    VideoFilter,
    VideoRecord,
    VideoRepository,
    VideoResult,
)

# Announced when the row is gone: followers read it, find nothing, and say so.
DELETED = "DELETED"


class StatusAnnouncingRepository(VideoRepository):
    def __init__(self, inner: VideoRepository, progress: ProgressPort) -> None:
        super().__init__(inner.max_attempts, inner.default_lease_seconds)
        self.inner = inner
        self.progress = progress

    def __getattr__(self, name: str) -> Any:
        # Adapter-specific attributes (a Django repository's database alias, say).
        return getattr(self.inner, name)

    def _announce(self, tenant_id: int, video_id: int, status: str) -> None:
        self.progress.publish_status(tenant_id, video_id, status)

    def _announce_row(self, video_id: int, status: str) -> None:
        row = self.inner.get(video_id)
        if row is not None:
            self._announce(row.tenant_id, video_id, status)

    # -- writes that change a status -------------------------------------------------------
    def try_claim_video(
        self, video_id: int, worker_id: str, lease_seconds: int | None = None
    ) -> Lease | None:
        lease = self.inner.try_claim_video(video_id, worker_id, lease_seconds)
        if lease is not None:
            self._announce(lease.tenant_id, video_id, VideoStatus.PROCESSING)
            return lease
        # A claim past max_attempts fails the video instead: that is an end worth announcing.
        row = self.inner.get(video_id)
        if row is not None and row.error_code == ErrorCode.MAX_ATTEMPTS_EXCEEDED:
            self._announce(row.tenant_id, video_id, row.status)
        return None

    def complete(self, lease: Lease, result: VideoResult) -> bool:
        took = self.inner.complete(lease, result)
        if took:
            self._announce(lease.tenant_id, lease.video_id, VideoStatus.READY)
        return took

    def fail(self, lease: Lease, error_code: ErrorCode, message: str, retryable: bool) -> bool:
        took = self.inner.fail(lease, error_code, message, retryable)
        if took:
            after = fail_outcome(lease.attempt, self.max_attempts, error_code, message, retryable)
            self._announce(lease.tenant_id, lease.video_id, after.status)
        return took

    def release(self, lease: Lease) -> bool:
        took = self.inner.release(lease)
        if took:
            self._announce(lease.tenant_id, lease.video_id, VideoStatus.UPLOADED)
        return took

    def cancel(self, video_id: int) -> bool:
        took = self.inner.cancel(video_id)
        if took:
            self._announce_row(video_id, VideoStatus.CANCELED)
        return took

    def retry(self, video_id: int) -> bool:
        took = self.inner.retry(video_id)
        if took:
            self._announce_row(video_id, VideoStatus.UPLOADED)
        return took

    def mark_uploaded(self, video_id: int, size_bytes: int) -> bool:
        took = self.inner.mark_uploaded(video_id, size_bytes)
        if took:
            self._announce_row(video_id, VideoStatus.UPLOADED)
        return took

    def try_reclaim_video(
        self,
        video_id: int,
        force: bool = False,
        *,
        expected_token: int | None = None,
        expected_worker: str | None = None,
    ) -> bool:
        took = self.inner.try_reclaim_video(
            video_id, force, expected_token=expected_token, expected_worker=expected_worker
        )
        if took:
            self._announce_row(video_id, VideoStatus.UPLOADED)
        return took

    def expire_uploads(self, limit: int = 100) -> list[VideoRecord]:
        expired = self.inner.expire_uploads(limit)
        for row in expired:
            self._announce(row.tenant_id, row.id, VideoStatus.CANCELED)
        return expired

    def delete(self, video_id: int) -> bool:
        row = self.inner.get(video_id)
        took = self.inner.delete(video_id)
        if took and row is not None:
            self._announce(row.tenant_id, video_id, DELETED)
        return took

    # -- everything else passes through ---------------------------------------------------
    def create_video(self, tenant_id: int, title: str = "", source_key: str = "") -> int:
        return self.inner.create_video(tenant_id, title, source_key)

    def set_source_key(self, video_id: int, source_key: str) -> bool:
        return self.inner.set_source_key(video_id, source_key)

    def create_awaiting_upload(self, new: NewUpload, key_for: SourceKeyFor) -> VideoRecord:
        return self.inner.create_awaiting_upload(new, key_for)

    def set_upload_id(self, video_id: int, upload_id: str) -> bool:
        return self.inner.set_upload_id(video_id, upload_id)

    def list_videos(self, query: VideoFilter) -> list[VideoRecord]:
        return self.inner.list_videos(query)

    def get(self, video_id: int) -> VideoRecord | None:
        return self.inner.get(video_id)

    def renew_lease(self, lease: Lease, seconds: int | None = None) -> Lease | None:
        return self.inner.renew_lease(lease, seconds)

    def list_processing(self, limit: int = 100) -> list[ProcessingRow]:
        return self.inner.list_processing(limit)

    def list_stale_uploaded(self, older_than_seconds: int, limit: int = 100) -> list[VideoRecord]:
        return self.inner.list_stale_uploaded(older_than_seconds, limit)

    def mark_enqueued(self, video_id: int, older_than_seconds: int | None = None) -> bool:
        return self.inner.mark_enqueued(video_id, older_than_seconds)
