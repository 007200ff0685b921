"""Announce status changes to live followers after the write that made them.

`StatusAnnouncingRepository` wraps any VideoRepository: each write that took effect and
changed a video's status (claim, the fenced complete and fail, release, cancel, retry,
reclaim, upload confirmed or expired, delete) is followed by `ProgressPort.publish_status`,
which never raises and never waits long. The write comes first, so an announcement is never
sent for a change that did not happen; a lost one is made up by the streams' own re-reads.

Every other attribute is the wrapped repository's own, and the announcing methods pass their
arguments through as they are: the port can grow without this class following it.
"""

from __future__ import annotations

from typing import Any

from src.application.domain import ErrorCode, Lease, VideoStatus, fail_outcome
from src.application.ports.progress import ProgressPort
from src.application.ports.video_repository import VideoRecord, VideoRepository

# Announced when the row is gone: followers read it, find nothing, and say so.
DELETED = "DELETED"


class StatusAnnouncingRepository:
    """A VideoRepository (by delegation) whose status changes are announced."""

    def __init__(self, inner: VideoRepository, progress: ProgressPort) -> None:
        self.inner = inner
        self.progress = progress

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _announce(self, tenant_id: int, video_id: int, status: str) -> None:
        self.progress.publish_status(tenant_id, video_id, status)

    def _announce_row(self, video_id: int, status: str) -> None:
        row = self.inner.get(video_id)
        if row is not None:
            self._announce(row.tenant_id, video_id, status)

    # -- by lease: the worker's fenced writes ----------------------------------------------
    def try_claim_video(self, video_id: int, *args: Any, **kwargs: Any) -> Lease | None:
        lease = self.inner.try_claim_video(video_id, *args, **kwargs)
        if lease is not None:
            self._announce(lease.tenant_id, video_id, VideoStatus.PROCESSING)
            return lease
        # A claim past max_attempts fails the video instead: that is an end worth announcing.
        row = self.inner.get(video_id)
        if row is not None and row.error_code == ErrorCode.MAX_ATTEMPTS_EXCEEDED:
            self._announce(row.tenant_id, video_id, row.status)
        return None

    def complete(self, lease: Lease, *args: Any, **kwargs: Any) -> bool:
        took = self.inner.complete(lease, *args, **kwargs)
        if took:
            self._announce(lease.tenant_id, lease.video_id, VideoStatus.READY)
        return took

    def fail(
        self, lease: Lease, error_code: ErrorCode, message: str, retryable: bool, **kwargs: Any
    ) -> bool:
        took = self.inner.fail(lease, error_code, message, retryable, **kwargs)
        if took:
            after = fail_outcome(
                lease.attempt, self.inner.max_attempts, error_code, message, retryable
            )
            self._announce(lease.tenant_id, lease.video_id, after.status)
        return took

    def release(self, lease: Lease, *args: Any, **kwargs: Any) -> bool:
        took = self.inner.release(lease, *args, **kwargs)
        if took:
            self._announce(lease.tenant_id, lease.video_id, VideoStatus.UPLOADED)
        return took

    # -- by id: the API's and reconcile's writes -------------------------------------------
    def cancel(self, video_id: int, *args: Any, **kwargs: Any) -> bool:
        return self._by_id("cancel", VideoStatus.CANCELED, video_id, *args, **kwargs)

    def retry(self, video_id: int, *args: Any, **kwargs: Any) -> bool:
        return self._by_id("retry", VideoStatus.UPLOADED, video_id, *args, **kwargs)

    def mark_uploaded(self, video_id: int, *args: Any, **kwargs: Any) -> bool:
        return self._by_id("mark_uploaded", VideoStatus.UPLOADED, video_id, *args, **kwargs)

    def try_reclaim_video(self, video_id: int, *args: Any, **kwargs: Any) -> bool:
        return self._by_id("try_reclaim_video", VideoStatus.UPLOADED, video_id, *args, **kwargs)

    def _by_id(self, method: str, status: str, video_id: int, *args: Any, **kwargs: Any) -> bool:
        took = getattr(self.inner, method)(video_id, *args, **kwargs)
        if took:
            self._announce_row(video_id, status)
        return took

    def expire_uploads(self, *args: Any, **kwargs: Any) -> list[VideoRecord]:
        expired = self.inner.expire_uploads(*args, **kwargs)
        for row in expired:
            self._announce(row.tenant_id, row.id, VideoStatus.CANCELED)
        return expired

    def delete(self, video_id: int, *args: Any, **kwargs: Any) -> bool:
        row = self.inner.get(video_id)
        took = self.inner.delete(video_id, *args, **kwargs)
        if took and row is not None:
            self._announce(row.tenant_id, video_id, DELETED)
        return took
