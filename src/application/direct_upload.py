"""Direct uploads: create a video whose bytes come later, take the bytes, confirm the upload.

The video id exists before the first byte arrives. On a storage with presigned URLs (S3) the
client sends the bytes straight to it (one PUT, or a multipart upload with one URL per part
for large sources); otherwise it PUTs them to the API, which streams them to storage. The
upload is confirmed by `complete`: the object must exist and be within the limits, then one
conditional UPDATE moves the row AWAITING_UPLOAD -> UPLOADED and the job message is sent
after it (a lost send is re-sent by reconcile, as for every UPLOADED row).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO

from src.application.domain import PlaybackPolicy
from src.application.ports.queue import VideoQueue
from src.application.ports.storage import (
    DirectUploads,
    MultipartRejected,
    Storage,
    StreamTooLarge,
)
from src.application.ports.video_repository import (
    NewUpload,
    VideoRecord,
    VideoRepository,
    VideoStatus,
)
from src.application.storage_keys import source_key
from src.application.video_errors import (
    InvalidVideoRequest,
    InvalidVideoState,
    SourceTooLarge,
    UploadIncomplete,
    VideoNotFound,
)

# S3 accepts at most 10 000 parts in one multipart upload.
MAX_PARTS = 10_000
# Presigned URLs signed with SigV4 live at most 7 days.
MAX_PRESIGN_SECONDS = 7 * 24 * 3600

# How the client sends the bytes.
API_PUT = "api_put"  # PUT to this API's /videos/{id}/source (file storage)
PRESIGNED_PUT = "presigned_put"  # one PUT straight to the storage
MULTIPART = "multipart"  # one PUT per part straight to the storage, then complete with ETags


@dataclass(frozen=True)
class UploadPlan:
    kind: str
    expires_at: datetime | None
    url: str = ""  # empty for API_PUT: the HTTP layer knows its own route
    part_size: int | None = None
    part_urls: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CreatedVideo:
    video: VideoRecord
    upload: UploadPlan


@dataclass(frozen=True)
class CompletedUpload:
    video: VideoRecord
    enqueued: bool
    message_id: str = ""
    enqueue_error: str = ""


@dataclass(frozen=True)
class UploadLimits:
    max_source_bytes: int
    upload_ttl_seconds: int
    part_bytes: int


def owned_video(repository: VideoRepository, tenant_id: int, video_id: int) -> VideoRecord:
    """The tenant's video; VideoNotFound for a missing one and for another tenant's alike."""
    row = repository.get(video_id)
    if row is None or row.tenant_id != tenant_id:
        raise VideoNotFound(f"there is no video {video_id}")
    return row


class DirectUpload:
    def __init__(
        self,
        repository: VideoRepository,
        storage: Storage,
        queue: VideoQueue,
        limits: UploadLimits,
    ) -> None:
        self.repository = repository
        self.storage = storage
        self.queue = queue
        self.limits = limits

    # -- create ---------------------------------------------------------------------------------

    def create(
        self,
        tenant_id: int,
        title: str,
        *,
        external_id: str = "",
        metadata: dict[str, Any] | None = None,
        trace_id: str = "",
        size_bytes: int | None = None,
        filename: str = "source",
        presign: bool = True,
        language: str = "",
        playback_policy: PlaybackPolicy = PlaybackPolicy.SIGNED,
    ) -> CreatedVideo:
        """An AWAITING_UPLOAD video and how to send its bytes (`presign=False`: through us)."""
        if size_bytes is not None and size_bytes > self.limits.max_source_bytes:
            raise SourceTooLarge(
                f"size_bytes {size_bytes} is more than the limit of "
                f"{self.limits.max_source_bytes} bytes (VIDEO_MAX_SOURCE_BYTES)"
            )
        direct = self.storage if presign and isinstance(self.storage, DirectUploads) else None
        parts = self._part_count(size_bytes) if direct is not None else 0
        row = self.repository.create_awaiting_upload(
            NewUpload(
                tenant_id=tenant_id,
                title=title,
                upload_ttl_seconds=self.limits.upload_ttl_seconds,
                external_id=external_id,
                metadata=dict(metadata or {}),
                trace_id=trace_id,
                declared_size_bytes=size_bytes,
                caption_language=language,
                playback_policy=PlaybackPolicy(playback_policy),
            ),
            lambda t, v: source_key(t, v, filename),
        )
        if direct is None:
            return CreatedVideo(row, UploadPlan(API_PUT, row.upload_expires_at))
        expires = min(self.limits.upload_ttl_seconds, MAX_PRESIGN_SECONDS)
        try:
            if parts <= 1:
                url = direct.presign_put(row.source_key, expires)
                return CreatedVideo(row, UploadPlan(PRESIGNED_PUT, row.upload_expires_at, url))
            upload_id = direct.start_multipart(row.source_key)
            self.repository.set_upload_id(row.id, upload_id)
            urls = [
                direct.presign_part(row.source_key, upload_id, n, expires)
                for n in range(1, parts + 1)
            ]
        except Exception:
            self.repository.delete(row.id)  # nothing half-created
            raise
        row = self.repository.get(row.id) or row
        plan = UploadPlan(
            MULTIPART, row.upload_expires_at, part_size=self.limits.part_bytes, part_urls=urls
        )
        return CreatedVideo(row, plan)

    def _part_count(self, size_bytes: int | None) -> int:
        if size_bytes is None or size_bytes <= self.limits.part_bytes:
            return 1
        parts = math.ceil(size_bytes / self.limits.part_bytes)
        if parts > MAX_PARTS:
            raise InvalidVideoRequest(
                f"size_bytes {size_bytes} needs {parts} parts of {self.limits.part_bytes} bytes; "
                f"at most {MAX_PARTS} are possible (raise VIDEO_UPLOAD_PART_BYTES)"
            )
        return parts

    # -- bytes through the API ------------------------------------------------------------------

    def receive_source(
        self, tenant_id: int, video_id: int, stream: BinaryIO, length: int | None = None
    ) -> VideoRecord:
        """Stream the source to storage in bounded memory; refuses more than the declared size
        (or VIDEO_MAX_SOURCE_BYTES) and stores nothing then."""
        row = self._awaiting(tenant_id, video_id)
        if row.upload_id:
            raise InvalidVideoState(
                f"video {video_id} is a multipart upload: PUT its parts to the part URLs"
            )
        limit = self.limits.max_source_bytes
        what = "VIDEO_MAX_SOURCE_BYTES"
        if row.declared_size_bytes is not None:
            limit, what = row.declared_size_bytes, "the size_bytes declared at creation"
        if length is not None and length > limit:
            raise SourceTooLarge(f"the body is {length} bytes, more than {what} ({limit})")
        try:
            written = self.storage.put_stream(stream, row.source_key, limit)
        except StreamTooLarge:
            raise SourceTooLarge(f"the body is more than {what} ({limit} bytes)") from None
        if written == 0:
            self.storage.delete_prefix(row.source_key)
            raise UploadIncomplete("the body is empty")
        return row

    # -- complete -------------------------------------------------------------------------------

    def complete(
        self,
        tenant_id: int,
        video_id: int,
        *,
        parts: list[tuple[int, str]] | None = None,
        request_id: str = "",
    ) -> CompletedUpload:
        """Check the stored object, AWAITING_UPLOAD -> UPLOADED, then send the job message."""
        row = self._awaiting(tenant_id, video_id)
        if row.upload_id and isinstance(self.storage, DirectUploads):
            try:
                self.storage.complete_multipart(row.source_key, row.upload_id, parts)
            except MultipartRejected as exc:
                raise UploadIncomplete(f"the multipart upload cannot be completed: {exc}") from exc
        try:
            size = self.storage.size(row.source_key)
        except FileNotFoundError:
            raise UploadIncomplete(f"no source has been uploaded for video {video_id}") from None
        problem = self._size_problem(row, size)
        if problem is not None:
            # The row stays AWAITING_UPLOAD: the client may upload again before it expires.
            self.storage.delete_prefix(row.source_key)
            raise problem
        if not self.repository.mark_uploaded(video_id, size):
            current = owned_video(self.repository, tenant_id, video_id)
            if current.status == VideoStatus.AWAITING_UPLOAD:
                raise UploadIncomplete(f"the upload of video {video_id} has expired")
            raise InvalidVideoState(f"video {video_id} is {current.status}, not AWAITING_UPLOAD")
        row = self.repository.get(video_id) or row
        try:
            message_id = self.queue.send(
                video_id,
                tenant_id,
                request_id=request_id or str(uuid.uuid4()),
                trace_id=row.trace_id or None,
            )
        except Exception as exc:  # noqa: BLE001 - the row is committed; reconcile re-sends it
            return CompletedUpload(row, False, enqueue_error=f"{type(exc).__name__}: {exc}")
        return CompletedUpload(row, True, message_id=message_id)

    def _size_problem(self, row: VideoRecord, size: int) -> Exception | None:
        if size == 0:
            return UploadIncomplete("the uploaded source is empty")
        if size > self.limits.max_source_bytes:
            return SourceTooLarge(
                f"the uploaded source is {size} bytes, more than VIDEO_MAX_SOURCE_BYTES "
                f"({self.limits.max_source_bytes}); it has been deleted"
            )
        if row.declared_size_bytes is not None and size != row.declared_size_bytes:
            return UploadIncomplete(
                f"the uploaded source is {size} bytes but size_bytes was declared as "
                f"{row.declared_size_bytes}; it has been deleted, upload it again"
            )
        return None

    def _awaiting(self, tenant_id: int, video_id: int) -> VideoRecord:
        row = owned_video(self.repository, tenant_id, video_id)
        if row.status != VideoStatus.AWAITING_UPLOAD:
            raise InvalidVideoState(
                f"video {video_id} is {row.status}: its upload is already complete"
                if row.status != VideoStatus.CANCELED
                else f"video {video_id} is CANCELED"
            )
        return row

    # -- one request: create, receive, complete -------------------------------------------------

    def upload_in_one_request(
        self,
        tenant_id: int,
        title: str,
        stream: BinaryIO,
        *,
        filename: str,
        external_id: str = "",
        metadata: dict[str, Any] | None = None,
        trace_id: str = "",
        request_id: str = "",
        language: str = "",
        playback_policy: PlaybackPolicy = PlaybackPolicy.SIGNED,
    ) -> CompletedUpload:
        """A whole upload in one call; on any failure the row and stored bytes are removed."""
        created = self.create(
            tenant_id,
            title,
            external_id=external_id,
            metadata=metadata,
            trace_id=trace_id,
            filename=filename,
            presign=False,
            language=language,
            playback_policy=playback_policy,
        )
        video = created.video
        try:
            self.receive_source(tenant_id, video.id, stream)
            return self.complete(tenant_id, video.id, request_id=request_id)
        except BaseException:
            self.storage.delete_prefix(video.source_key)
            self.repository.delete(video.id)
            raise
