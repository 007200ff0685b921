"""The video repository port: leases with fencing, the only owner of a video's state."""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from src.application.domain import ErrorCode, Lease, PlaybackPolicy, VideoStatus


@dataclass(frozen=True)
class VideoRecord:
    """A read-only snapshot of a video row."""

    id: int
    tenant_id: int
    status: VideoStatus
    title: str = ""
    source_key: str = ""
    leased_by: str = ""
    leased_until: datetime | None = None
    lease_token: int = 0
    attempts: int = 0
    error_code: str = ""
    error_message: str = ""
    hls_key: str = ""
    thumbnail_key: str = ""
    duration_seconds: float | None = None
    width: int | None = None
    height: int | None = None
    size_bytes: int | None = None
    renditions: list[dict[str, Any]] = field(default_factory=list)
    stage_timings_ms: dict[str, int] = field(default_factory=dict)
    processing_started_at: datetime | None = None
    processing_completed_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    external_id: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    trace_id: str = ""
    upload_expires_at: datetime | None = None
    declared_size_bytes: int | None = None
    upload_id: str = ""
    uploaded_at: datetime | None = None
    source_removed_at: datetime | None = None
    caption_language: str = ""  # "": VIDEO_CAPTIONS_LANGUAGE
    # Names the video in every public URL (never its ids); replaced by a rotation.
    playback_id: str = ""
    playback_policy: PlaybackPolicy = PlaybackPolicy.SIGNED


@dataclass(frozen=True)
class NewUpload:
    """A video whose bytes are still to come (direct upload through the API)."""

    tenant_id: int
    title: str
    upload_ttl_seconds: int
    source_name: str = "source"
    external_id: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    trace_id: str = ""
    declared_size_bytes: int | None = None
    caption_language: str = ""
    playback_policy: PlaybackPolicy = PlaybackPolicy.SIGNED


@dataclass(frozen=True)
class VideoFilter:
    """One page of a tenant's videos, newest first; `before_id` is the cursor."""

    tenant_id: int
    limit: int = 50
    status: VideoStatus | None = None
    external_id: str | None = None
    created_after: datetime | None = None
    before_id: int | None = None
    ids: tuple[int, ...] | None = None  # only these (a search's page, fetched in one query)


@dataclass(frozen=True)
class ProcessingRow:
    """A PROCESSING video as seen by reconcile, with ages computed on the database clock."""

    video_id: int
    tenant_id: int
    leased_by: str
    lease_token: int
    lease_expired: bool
    seconds_since_started: float


@dataclass(frozen=True)
class Claim:
    """What a claim did: won the lease, or (`exhausted`) used up the video's last attempt."""

    lease: Lease | None
    exhausted: bool = False  # this call marked the video FAILED with MAX_ATTEMPTS_EXCEEDED


@dataclass(frozen=True)
class VideoResult:
    """What a finished job writes on the row."""

    hls_key: str
    thumbnail_key: str = ""
    duration_seconds: float | None = None
    width: int | None = None
    height: int | None = None
    size_bytes: int | None = None
    renditions: list[dict[str, Any]] = field(default_factory=list)
    stage_timings_ms: dict[str, int] = field(default_factory=dict)


SourceKeyFor = Callable[[int, int], str]
CANCELABLE = (VideoStatus.AWAITING_UPLOAD, VideoStatus.UPLOADED, VideoStatus.PROCESSING)
RETRYABLE = (VideoStatus.FAILED, VideoStatus.CANCELED)
UPLOAD_EXPIRED_MESSAGE = "the upload was not completed before it expired"


class VideoRepository(abc.ABC):
    """Conditional writes only: each method says whether it took effect.

    Every change of status is recorded in `events` (a VideoEventOutbox) in the same
    transaction: a claim (video.processing), complete (video.ready), a final fail or an
    exhausted claim (video.failed), a cancel or an expired upload (video.canceled).
    """

    events: Any  # VideoEventOutbox (typed loosely: that port imports this module)
    # The statuses the handle-job use case reads a job's row by (the caption repository has
    # its own: the same use case runs caption jobs).
    queued_status: str = VideoStatus.UPLOADED
    canceled_status: str = VideoStatus.CANCELED

    def __init__(self, max_attempts: int = 3, default_lease_seconds: int = 300) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.max_attempts = max_attempts
        self.default_lease_seconds = default_lease_seconds

    def ping(self) -> None:  # noqa: B027 - stores that cannot be down need nothing here
        """Raise if the store cannot be reached now (the worker holds receiving until it can)."""

    def recover_from(self, exc: BaseException) -> bool:
        """Whether `exc` is this repository's store failing (down, or a connection broken).

        When it is, the adapter drops the connections it broke so the next call opens new
        ones. Stores that cannot fail that way answer False.
        """
        return False

    @abc.abstractmethod
    def create_video(
        self,
        tenant_id: int,
        title: str = "",
        source_key: str = "",
        playback_policy: PlaybackPolicy = PlaybackPolicy.SIGNED,
    ) -> int:
        """Insert an UPLOADED video (with a new playback id) and return its id."""

    @abc.abstractmethod
    def set_source_key(self, video_id: int, source_key: str) -> bool:
        """Record where the upload was stored (only while UPLOADED)."""

    @abc.abstractmethod
    def create_awaiting_upload(self, new: NewUpload, key_for: SourceKeyFor) -> VideoRecord:
        """Insert an AWAITING_UPLOAD video; its upload expires `upload_ttl_seconds` from now()
        (database clock) and its source key is `key_for(tenant_id, video_id)`."""

    @abc.abstractmethod
    def set_upload_id(self, video_id: int, upload_id: str) -> bool:
        """Remember the storage's multipart upload id (only while AWAITING_UPLOAD)."""

    @abc.abstractmethod
    def mark_uploaded(self, video_id: int, size_bytes: int) -> bool:
        """AWAITING_UPLOAD (not expired) -> UPLOADED with the stored size (conditional UPDATE)."""

    @abc.abstractmethod
    def retry(self, video_id: int) -> bool:
        """FAILED or CANCELED with an uploaded source -> UPLOADED, attempts and error reset."""

    @abc.abstractmethod
    def delete(self, video_id: int) -> bool:
        """Remove the row; False when there was none."""

    @abc.abstractmethod
    def list_videos(self, query: VideoFilter) -> list[VideoRecord]:
        """A tenant's videos, newest (highest id) first, below `before_id` when given."""

    @abc.abstractmethod
    def expire_uploads(self, limit: int = 100) -> list[VideoRecord]:
        """AWAITING_UPLOAD rows past their upload expiry -> CANCELED (UPLOAD_EXPIRED); the
        rows as they were before, so their partial uploads can be removed."""

    @abc.abstractmethod
    def get(self, video_id: int) -> VideoRecord | None:
        """The row, or None when there is no such video."""

    @abc.abstractmethod
    def media_salt(self, video_id: int) -> str:
        """The video's secret media salt ("" when there is no such row): its outputs' folders
        are derived from it (storage_keys). Kept out of VideoRecord, whose snapshots are
        stored with webhook events: only a lease and this call carry it."""

    @abc.abstractmethod
    def get_by_playback_id(self, playback_id: str) -> VideoRecord | None:
        """The row whose current playback id this is, or None."""

    @abc.abstractmethod
    def set_playback(
        self,
        video_id: int,
        *,
        policy: PlaybackPolicy | None = None,
        playback_id: str | None = None,
    ) -> bool:
        """Change the playback policy and/or replace the playback id; False: no such row."""

    @abc.abstractmethod
    def claim_video(self, video_id: int, worker_id: str, lease_seconds: int | None = None) -> Claim:
        """Claim an UPLOADED video; exactly one concurrent caller wins the lease.

        A claim that would pass `max_attempts` marks the video FAILED with
        MAX_ATTEMPTS_EXCEEDED instead; of concurrent callers exactly one is told so.
        """

    def try_claim_video(
        self, video_id: int, worker_id: str, lease_seconds: int | None = None
    ) -> Lease | None:
        """The lease of a successful claim, else None (see `claim_video`)."""
        return self.claim_video(video_id, worker_id, lease_seconds).lease

    @abc.abstractmethod
    def renew_lease(self, lease: Lease, seconds: int | None = None) -> Lease | None:
        """Push the lease expiry to now()+seconds; None when the lease is no longer held."""

    @abc.abstractmethod
    def complete(self, lease: Lease, result: VideoResult) -> bool:
        """PROCESSING -> READY with the result, fenced on the lease."""

    @abc.abstractmethod
    def fail(self, lease: Lease, error_code: ErrorCode, message: str, retryable: bool) -> bool:
        """Record a failure, fenced on the lease, as `domain.fail_outcome` says.

        Retryable with attempts left: back to UPLOADED (the attempt stays counted).
        Otherwise FAILED; a retryable error with no attempts left is
        MAX_ATTEMPTS_EXCEEDED.
        """

    @abc.abstractmethod
    def release(self, lease: Lease, error_code: str = "", message: str = "") -> bool:
        """Back to UPLOADED without counting the attempt, fenced on the lease.

        For failures that are no fault of the upload: a graceful shutdown (no error), or the
        worker's disk being full (`error_code` and `message` are then recorded on the row).
        """

    @abc.abstractmethod
    def cancel(self, video_id: int) -> bool:
        """AWAITING_UPLOAD, UPLOADED or PROCESSING -> CANCELED; a worker notices at its next
        lease renewal."""

    @abc.abstractmethod
    def try_reclaim_video(
        self,
        video_id: int,
        force: bool = False,
        *,
        expected_token: int | None = None,
        expected_worker: str | None = None,
    ) -> bool:
        """PROCESSING with an expired lease (any PROCESSING with force) -> UPLOADED.

        `expected_token` / `expected_worker` fence the reclaim on the claim the caller looked
        at: a row claimed again since (the token grows on every claim) is left alone.
        """

    @abc.abstractmethod
    def list_processing(self, limit: int = 100) -> list[ProcessingRow]:
        """PROCESSING rows, expired leases first: the reclaim candidates."""

    @abc.abstractmethod
    def list_stale_uploaded(self, older_than_seconds: int, limit: int = 100) -> list[VideoRecord]:
        """UPLOADED rows whose last change is older than the given age (lost enqueues)."""

    @abc.abstractmethod
    def mark_enqueued(self, video_id: int, older_than_seconds: int | None = None) -> bool:
        """Record that a job message was (re-)sent: touch an UPLOADED row's updated_at.

        With `older_than_seconds`, only while the row is still that stale, so of two
        reconcilers that both saw it as a lost enqueue exactly one wins the re-send.
        """


def retried_fields() -> dict[str, Any]:
    """The row's fields once a FAILED or CANCELED video is retried (shared by every adapter)."""
    return {
        "status": VideoStatus.UPLOADED,
        "attempts": 0,
        "error_code": "",
        "error_message": "",
        "leased_by": "",
        "leased_until": None,
        "processing_started_at": None,
        "processing_completed_at": None,
    }


def ready_fields(result: VideoResult) -> dict[str, Any]:
    """The row's fields once a job completed with `result` (shared by every adapter)."""
    return {
        "status": VideoStatus.READY,
        "leased_by": "",
        "leased_until": None,
        "error_code": "",
        "error_message": "",
        "hls_key": result.hls_key,
        "thumbnail_key": result.thumbnail_key,
        "duration_seconds": result.duration_seconds,
        "width": result.width,
        "height": result.height,
        "size_bytes": result.size_bytes,
        "renditions": list(result.renditions),
        "stage_timings_ms": dict(result.stage_timings_ms),
    }
