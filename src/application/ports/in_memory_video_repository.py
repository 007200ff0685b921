"""In-memory fake of the video repository: same contract, a lock instead of conditional UPDATEs."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from src.application.domain import (
    ErrorCode,
    Lease,
    PlaybackPolicy,
    VideoStatus,
    exhausted_message,
    fail_outcome,
    new_playback_id,
)
from src.application.ports.in_memory_video_events import InMemoryVideoEventOutbox
from src.application.ports.video_events import VideoEventOutbox
from src.application.ports.video_repository import (
    CANCELABLE,
    RETRYABLE,
    UPLOAD_EXPIRED_MESSAGE,
    Claim,
    NewUpload,
    ProcessingRow,
    SourceKeyFor,
    VideoFilter,
    VideoRecord,
    VideoRepository,
    VideoResult,
    ready_fields,
    retried_fields,
)
from src.application.storage_keys import new_media_salt


class InMemoryVideoRepository(VideoRepository):
    def __init__(
        self,
        max_attempts: int = 3,
        default_lease_seconds: int = 300,
        clock: Callable[[], datetime] | None = None,
        events: VideoEventOutbox | None = None,
    ) -> None:
        super().__init__(max_attempts, default_lease_seconds)
        self._rows: dict[int, VideoRecord] = {}
        # Each video's secret media salt, beside its record (never in it): set at creation.
        self._salts: dict[int, str] = {}
        self._lock = threading.Lock()
        self._next_id = 1
        self._clock = clock or (lambda: datetime.now(UTC))
        self.events = events or InMemoryVideoEventOutbox(self._clock)

    def snapshot(self) -> tuple[dict[int, VideoRecord], int, dict[int, str]]:
        """Every row as it is now (rows are immutable records), for a unit of work."""
        with self._lock:
            return dict(self._rows), self._next_id, dict(self._salts)

    def restore(self, snapshot: tuple[dict[int, VideoRecord], int, dict[int, str]]) -> None:
        with self._lock:
            rows, next_id, salts = snapshot
            self._rows = dict(rows)
            self._next_id = next_id
            self._salts = dict(salts)

    def _update(self, video_id: int, **changes) -> VideoRecord:
        row = dataclasses.replace(self._rows[video_id], updated_at=self._clock(), **changes)
        self._rows[video_id] = row
        if "status" in changes:
            # Under the lock, like the database's transaction: the change and its event.
            self.events.record(row)
        return row

    def _held(self, lease: Lease) -> VideoRecord | None:
        row = self._rows.get(lease.video_id)
        if (
            row is None
            or row.status != VideoStatus.PROCESSING
            or row.leased_by != lease.worker_id
            or row.lease_token != lease.token
        ):
            return None
        return row

    def create_video(
        self,
        tenant_id: int,
        title: str = "",
        source_key: str = "",
        playback_policy: PlaybackPolicy = PlaybackPolicy.SIGNED,
    ) -> int:
        with self._lock:
            video_id = self._next_id
            self._next_id += 1
            now = self._clock()
            self._salts[video_id] = new_media_salt()
            self._rows[video_id] = VideoRecord(
                id=video_id,
                tenant_id=tenant_id,
                status=VideoStatus.UPLOADED,
                title=title,
                source_key=source_key,
                created_at=now,
                updated_at=now,
                uploaded_at=now,
                playback_id=new_playback_id(),
                playback_policy=PlaybackPolicy(playback_policy),
            )
            return video_id

    def create_awaiting_upload(self, new: NewUpload, key_for: SourceKeyFor) -> VideoRecord:
        with self._lock:
            video_id = self._next_id
            self._next_id += 1
            now = self._clock()
            self._salts[video_id] = new_media_salt()
            row = VideoRecord(
                id=video_id,
                tenant_id=new.tenant_id,
                status=VideoStatus.AWAITING_UPLOAD,
                title=new.title,
                source_key=key_for(new.tenant_id, video_id),
                external_id=new.external_id,
                metadata=dict(new.metadata),
                trace_id=new.trace_id,
                caption_language=new.caption_language,
                declared_size_bytes=new.declared_size_bytes,
                upload_expires_at=now + timedelta(seconds=new.upload_ttl_seconds),
                created_at=now,
                updated_at=now,
                playback_id=new_playback_id(),
                playback_policy=PlaybackPolicy(new.playback_policy),
            )
            self._rows[video_id] = row
            return row

    def set_upload_id(self, video_id: int, upload_id: str) -> bool:
        with self._lock:
            row = self._rows.get(video_id)
            if row is None or row.status != VideoStatus.AWAITING_UPLOAD:
                return False
            self._update(video_id, upload_id=upload_id)
            return True

    def mark_uploaded(self, video_id: int, size_bytes: int) -> bool:
        with self._lock:
            row = self._rows.get(video_id)
            now = self._clock()
            if (
                row is None
                or row.status != VideoStatus.AWAITING_UPLOAD
                or row.upload_expires_at is None
                or row.upload_expires_at <= now
            ):
                return False
            self._update(
                video_id,
                status=VideoStatus.UPLOADED,
                size_bytes=size_bytes,
                upload_id="",
                upload_expires_at=None,
                uploaded_at=now,
            )
            return True

    def retry(self, video_id: int) -> bool:
        with self._lock:
            row = self._rows.get(video_id)
            if row is None or row.status not in RETRYABLE or row.uploaded_at is None:
                return False
            self._update(video_id, **retried_fields())
            return True

    def delete(self, video_id: int) -> bool:
        with self._lock:
            self._salts.pop(video_id, None)
            return self._rows.pop(video_id, None) is not None

    def list_videos(self, query: VideoFilter) -> list[VideoRecord]:
        with self._lock:
            rows = [
                r
                for r in self._rows.values()
                if r.tenant_id == query.tenant_id
                and (query.status is None or r.status == query.status)
                and (query.external_id is None or r.external_id == query.external_id)
                and (
                    query.created_after is None
                    or (r.created_at is not None and r.created_at > query.created_after)
                )
                and (query.before_id is None or r.id < query.before_id)
                and (query.ids is None or r.id in query.ids)
            ]
        return sorted(rows, key=lambda r: r.id, reverse=True)[: query.limit]

    def expire_uploads(self, limit: int = 100) -> list[VideoRecord]:
        now = self._clock()
        with self._lock:
            due = sorted(
                (
                    r
                    for r in self._rows.values()
                    if r.status == VideoStatus.AWAITING_UPLOAD
                    and r.upload_expires_at is not None
                    and r.upload_expires_at < now
                ),
                key=lambda r: r.upload_expires_at,
            )[:limit]
            for row in due:
                self._update(
                    row.id,
                    status=VideoStatus.CANCELED,
                    error_code=str(ErrorCode.UPLOAD_EXPIRED),
                    error_message=UPLOAD_EXPIRED_MESSAGE,
                    processing_completed_at=now,
                )
            return due

    def set_source_key(self, video_id: int, source_key: str) -> bool:
        with self._lock:
            row = self._rows.get(video_id)
            if row is None or row.status != VideoStatus.UPLOADED:
                return False
            self._update(video_id, source_key=source_key)
            return True

    def get(self, video_id: int) -> VideoRecord | None:
        with self._lock:
            return self._rows.get(video_id)

    def media_salt(self, video_id: int) -> str:
        with self._lock:
            return self._salts.get(video_id, "") if video_id in self._rows else ""

    def get_by_playback_id(self, playback_id: str) -> VideoRecord | None:
        with self._lock:
            return next((r for r in self._rows.values() if r.playback_id == playback_id), None)

    def set_playback(
        self,
        video_id: int,
        *,
        policy: PlaybackPolicy | None = None,
        playback_id: str | None = None,
    ) -> bool:
        changes: dict = {}
        if policy is not None:
            changes["playback_policy"] = PlaybackPolicy(policy)
        if playback_id is not None:
            changes["playback_id"] = playback_id
        with self._lock:
            if video_id not in self._rows:
                return False
            self._update(video_id, **changes)
            return True

    def claim_video(self, video_id: int, worker_id: str, lease_seconds: int | None = None) -> Claim:
        seconds = lease_seconds or self.default_lease_seconds
        with self._lock:
            row = self._rows.get(video_id)
            if row is None or row.status != VideoStatus.UPLOADED:
                return Claim(None)
            if row.attempts >= self.max_attempts:
                self._update(
                    video_id,
                    status=VideoStatus.FAILED,
                    error_code=ErrorCode.MAX_ATTEMPTS_EXCEEDED,
                    error_message=exhausted_message(
                        row.attempts, row.error_code, row.error_message
                    ),
                    processing_completed_at=self._clock(),
                )
                return Claim(None, exhausted=True)
            now = self._clock()
            row = self._update(
                video_id,
                status=VideoStatus.PROCESSING,
                leased_by=worker_id,
                leased_until=now + timedelta(seconds=seconds),
                lease_token=row.lease_token + 1,
                attempts=row.attempts + 1,
                processing_started_at=now,
            )
            return Claim(_lease_of(row, self._salts[video_id]))

    def renew_lease(self, lease: Lease, seconds: int | None = None) -> Lease | None:
        with self._lock:
            if self._held(lease) is None:
                return None
            until = self._clock() + timedelta(seconds=seconds or self.default_lease_seconds)
            row = self._update(lease.video_id, leased_until=until)
            return _lease_of(row, self._salts[lease.video_id])

    def complete(self, lease: Lease, result: VideoResult) -> bool:
        with self._lock:
            if self._held(lease) is None:
                return False
            self._update(
                lease.video_id, **ready_fields(result), processing_completed_at=self._clock()
            )
            return True

    def fail(self, lease: Lease, error_code: ErrorCode, message: str, retryable: bool) -> bool:
        with self._lock:
            if self._held(lease) is None:
                return False
            failure = fail_outcome(lease.attempt, self.max_attempts, error_code, message, retryable)
            self._update(
                lease.video_id,
                status=failure.status,
                leased_by="",
                leased_until=None,
                error_code=failure.error_code,
                error_message=failure.error_message,
                processing_completed_at=None if failure.will_retry else self._clock(),
            )
            return True

    def release(self, lease: Lease, error_code: str = "", message: str = "") -> bool:
        with self._lock:
            row = self._held(lease)
            if row is None:
                return False
            errors = {"error_code": error_code, "error_message": message[:2000]}
            self._update(
                lease.video_id,
                status=VideoStatus.UPLOADED,
                leased_by="",
                leased_until=None,
                attempts=max(row.attempts - 1, 0),
                **(errors if error_code else {}),
            )
            return True

    def cancel(self, video_id: int) -> bool:
        with self._lock:
            row = self._rows.get(video_id)
            if row is None or row.status not in CANCELABLE:
                return False
            self._update(
                video_id,
                status=VideoStatus.CANCELED,
                leased_by="",
                leased_until=None,
                processing_completed_at=self._clock(),
            )
            return True

    def try_reclaim_video(
        self,
        video_id: int,
        force: bool = False,
        *,
        expected_token: int | None = None,
        expected_worker: str | None = None,
    ) -> bool:
        with self._lock:
            row = self._rows.get(video_id)
            if row is None or row.status != VideoStatus.PROCESSING:
                return False
            if expected_token is not None and row.lease_token != expected_token:
                return False
            if expected_worker is not None and row.leased_by != expected_worker:
                return False
            if not force and (row.leased_until is None or row.leased_until >= self._clock()):
                return False
            self._update(video_id, status=VideoStatus.UPLOADED, leased_by="", leased_until=None)
            return True

    def list_processing(self, limit: int = 100) -> list[ProcessingRow]:
        now = self._clock()
        with self._lock:
            rows = [r for r in self._rows.values() if r.status == VideoStatus.PROCESSING]
        out = [
            ProcessingRow(
                video_id=r.id,
                tenant_id=r.tenant_id,
                leased_by=r.leased_by,
                lease_token=r.lease_token,
                lease_expired=r.leased_until is None or r.leased_until < now,
                seconds_since_started=(now - (r.processing_started_at or now)).total_seconds(),
            )
            for r in rows
        ]
        out.sort(key=lambda p: (not p.lease_expired, p.video_id))
        return out[:limit]

    def list_stale_uploaded(self, older_than_seconds: int, limit: int = 100) -> list[VideoRecord]:
        cutoff = self._clock() - timedelta(seconds=older_than_seconds)
        with self._lock:
            rows = [
                r
                for r in self._rows.values()
                if r.status == VideoStatus.UPLOADED and r.updated_at and r.updated_at < cutoff
            ]
        return sorted(rows, key=lambda r: r.id)[:limit]

    def mark_enqueued(self, video_id: int, older_than_seconds: int | None = None) -> bool:
        with self._lock:
            row = self._rows.get(video_id)
            if row is None or row.status != VideoStatus.UPLOADED:
                return False
            if older_than_seconds is not None:
                cutoff = self._clock() - timedelta(seconds=older_than_seconds)
                if row.updated_at is None or row.updated_at >= cutoff:
                    return False
            self._update(video_id)
            return True


def _lease_of(row: VideoRecord, media_salt: str) -> Lease:
    assert row.leased_until is not None
    return Lease(
        video_id=row.id,
        tenant_id=row.tenant_id,
        worker_id=row.leased_by,
        token=row.lease_token,
        expires_at=row.leased_until,
        attempt=row.attempts,
        source_key=row.source_key,
        media_salt=media_salt,
    )
